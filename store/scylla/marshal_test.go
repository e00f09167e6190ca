package scylla

import (
	"testing"
	"time"

	"github.com/exchange/internal-transfer/schema"
	"github.com/exchange/internal-transfer/store"
	"github.com/gocql/gocql"
)

// cqlTypes maps the schema's column types to the driver's.
var cqlTypes = map[string]gocql.Type{
	"bigint": gocql.TypeBigInt, "int": gocql.TypeInt, "text": gocql.TypeText,
	"blob": gocql.TypeBlob, "timestamp": gocql.TypeTimestamp,
}

// TestBatchValuesMarshal marshals every value the write batches bind with
// the driver, as the type the schema gives its column, so a Go value of the
// wrong type (an int for a bigint, a string for a blob) fails here rather
// than on the cluster.
func TestBatchValuesMarshal(t *testing.T) {
	cat := schema.NewCatalog()
	for _, name := range schema.Files {
		script, err := schema.Script(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := cat.Apply(script); err != nil {
			t.Fatal(err)
		}
	}
	tables := map[string]string{
		"request.insert": tableRequests, "history.insert": tableHistory,
		"open.insert": tableOpen, "open.delete": tableOpen,
	}
	r := store.Request{ID: 1, UserID: 2, ToUserID: 3, Status: store.StatusRequesting, CreatedAt: toMillis(time.Now()), UpdatedAt: toMillis(time.Now())}
	for _, status := range []store.Status{store.StatusRequesting, store.StatusSuccess} {
		r.Status = status
		b := batch{&gocql.Batch{}}
		addRequestRows(b, &r)
		for _, e := range b.b.Entries {
			name, vals := statementOf(t, e)
			tbl := cat.Tables[schema.DefaultKeyspace+"."+tables[name]]
			for bind, v := range vals {
				typ := "bigint" // USING TIMESTAMP
				if bind != "ts" {
					typ = tbl.Columns[bind]
				}
				info := gocql.NewNativeType(4, cqlTypes[typ])
				if _, err := gocql.Marshal(info, v); err != nil {
					t.Errorf("%s: %s (%s) = %T: %v", name, bind, typ, v, err)
				}
				if _, isInt := v.(int); isInt && typ == "bigint" {
					t.Errorf("%s: %s bound as int, want int64 for bigint", name, bind)
				}
			}
		}
	}
}
