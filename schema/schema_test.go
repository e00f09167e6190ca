package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loadCatalog parses the embedded scripts as written.
func loadCatalog(t *testing.T) *Catalog {
	t.Helper()
	c := NewCatalog()
	for _, name := range Files {
		script, err := Script(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(script); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return c
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name, script string
		want         []string
	}{
		{"two statements", "CREATE A;\nCREATE B;", []string{"CREATE A", "CREATE B"}},
		{"semicolon in string", "INSERT x VALUES ('a;b');", []string{"INSERT x VALUES ('a;b')"}},
		{"semicolon in comments", "-- c; d\nA /* e; f */ B; // g;\nC", []string{"A /* e; f */ B", "C"}},
		{"doubled quote", "A 'it''s;'; B", []string{"A 'it''s;'", "B"}},
		{"quoted identifier", `SELECT "a;b" FROM t;`, []string{`SELECT "a;b" FROM t`}},
		{"only comments", "-- nothing\n/* here */ ;;", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.script)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Split (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Split("A /* open"); err == nil {
		t.Error("Split accepted an unterminated comment")
	}
}

func TestCatalogOfShippedSchema(t *testing.T) {
	c := loadCatalog(t)
	ks := c.Keyspaces[DefaultKeyspace]
	if ks == nil {
		t.Fatalf("keyspace %s not defined; have %v", DefaultKeyspace, c.Keyspaces)
	}
	wantRepl := map[string]string{"class": "NetworkTopologyStrategy", "replication_factor": "3"}
	if diff := cmp.Diff(wantRepl, ks.Replication); diff != "" || !ks.DurableWrites {
		t.Errorf("keyspace replication (-want +got):\n%s durable_writes=%v", diff, ks.DurableWrites)
	}
	// The idempotency-key claim is a lightweight transaction, which
	// ScyllaDB runs only on vnode keyspaces.
	if ks.Tablets["enabled"] != "false" {
		t.Errorf("keyspace tablets %v, want {'enabled': false}", ks.Tablets)
	}
	for _, bad := range []string{
		"CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND tablets = {'enabled': 'maybe'}",
		"CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND tablets = {'initial': 8}",
	} {
		if err := NewCatalog().Apply(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	type key struct {
		Partition  []string
		Clustering []ClusteringColumn
	}
	want := map[string]key{
		"balance_transfer_requests": {Partition: []string{"request_id"}},
		"transfer_history_by_user": {Partition: []string{"owner_id", "day_bucket"},
			Clustering: []ClusteringColumn{{"created_at", true}, {"request_id", true}}},
		"transfer_history_days": {Partition: []string{"owner_id"},
			Clustering: []ClusteringColumn{{"day_bucket", true}}},
		"open_transfer_requests": {Partition: []string{"minute_bucket", "shard"},
			Clustering: []ClusteringColumn{{"created_at", false}, {"request_id", false}}},
		"open_transfer_buckets": {Partition: []string{"shard"},
			Clustering: []ClusteringColumn{{"minute_bucket", false}}},
		"transfer_idempotency_keys": {Partition: []string{"user_id", "idempotency_key"}},
		"node_claims":               {Partition: []string{"node_id"}},
		"transfer_operator_actions": {Partition: []string{"request_id"},
			Clustering: []ClusteringColumn{{"at", false}, {"action_id", false}}},
	}
	got := map[string]key{}
	for name, tbl := range c.Tables {
		if tbl.Keyspace != DefaultKeyspace {
			t.Errorf("table %s outside keyspace %s", name, DefaultKeyspace)
		}
		got[tbl.Name] = key{tbl.PartitionKey, tbl.Clustering}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables and keys (-want +got):\n%s", diff)
	}
	reqs := c.Tables["trading.balance_transfer_requests"]
	for col, typ := range map[string]string{
		"request_id": "bigint", "user_id": "bigint", "to_user_id": "bigint", "amount": "bigint",
		"pending_id": "blob", "status": "text", "created_at": "timestamp", "updated_at": "timestamp",
		"idempotency_key": "text", "fingerprint": "text", "error_code": "text", "error_message": "text",
	} {
		if reqs.Columns[col] != typ {
			t.Errorf("balance_transfer_requests.%s is %q, want %q", col, reqs.Columns[col], typ)
		}
	}
	if ttl := c.Tables["trading.transfer_idempotency_keys"].Options["default_time_to_live"]; ttl != "86400" {
		t.Errorf("idempotency keys default_time_to_live = %q, want 86400", ttl)
	}
}

// wantLine returns the "-- want: ..." expectation on a testdata file's first line.
func wantLine(t *testing.T, text string) string {
	t.Helper()
	first, _, _ := strings.Cut(text, "\n")
	want, ok := strings.CutPrefix(first, "-- want: ")
	if !ok {
		t.Fatalf("testdata file lacks a '-- want: ' first line")
	}
	return want
}

func TestApplyRejectsWhatItDoesNotKnow(t *testing.T) {
	paths, err := filepath.Glob("testdata/syntax/*.cql")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := wantLine(t, string(text))
			err = NewCatalog().Apply(string(text))
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Apply error = %v, want ErrSyntax containing %q", err, want)
			}
		})
	}
}

func TestCheckAcceptsKeyedStatements(t *testing.T) {
	c := loadCatalog(t)
	for _, stmt := range []string{
		"SELECT request_id,status FROM balance_transfer_requests WHERE request_id=? ",
		"SELECT * FROM trading.transfer_history_by_user WHERE owner_id=? AND day_bucket=? AND (created_at,request_id)<(?,?) AND (created_at,request_id)>=(?,?) LIMIT ?",
		"SELECT day_bucket FROM transfer_history_days WHERE owner_id=? AND day_bucket<=? AND day_bucket>=? ORDER BY day_bucket DESC LIMIT 10",
		"INSERT INTO transfer_idempotency_keys (user_id,idempotency_key,request_id) VALUES (?,?,?) IF NOT EXISTS USING TTL ?",
		"DELETE FROM open_transfer_requests USING TIMESTAMP ? WHERE minute_bucket=? AND shard=? AND created_at=? AND request_id=?",
		"SELECT kind FROM transfer_operator_actions WHERE request_id=? AND at=? AND action_id=?",
		"UPDATE node_claims USING TTL ? SET owner=? WHERE node_id=? IF owner=?",
		"DELETE FROM node_claims WHERE node_id=? IF owner=?",
		"UPDATE balance_transfer_requests SET status=?,error_code=? WHERE request_id=? IF EXISTS",
	} {
		if err := c.Check(DefaultKeyspace, stmt); err != nil {
			t.Errorf("Check refused a keyed statement: %v", err)
		}
	}
}

func TestCheckRejectsBrokenStatements(t *testing.T) {
	c := loadCatalog(t)
	paths, err := filepath.Glob("testdata/mismatch/*.cql")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := wantLine(t, string(text))
			err = c.Check(DefaultKeyspace, string(text))
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Check error = %v, want ErrMismatch containing %q", err, want)
			}
		})
	}
	t.Run("unsupported statement", func(t *testing.T) {
		err := c.Check(DefaultKeyspace, "TRUNCATE balance_transfer_requests")
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("Check error = %v, want ErrSyntax", err)
		}
	})
}

// ALTER TABLE ... WITH changes the options of a table defined before, as it
// does on a live cluster whose tables CREATE TABLE IF NOT EXISTS left alone;
// the shipped open tables keep tombstones past the 3 h hint window.
func TestAlterTableChangesOptions(t *testing.T) {
	c := NewCatalog()
	err := c.Apply(`CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
CREATE TABLE k.t (id bigint PRIMARY KEY) WITH gc_grace_seconds = 10800 AND comment = 'c';
ALTER TABLE k.t WITH gc_grace_seconds = 14400;`)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Tables["k.t"].Options; o["gc_grace_seconds"] != "14400" || o["comment"] != "'c'" && o["comment"] != "c" {
		t.Fatalf("options after ALTER: %v", o)
	}
	shipped := loadCatalog(t)
	for _, name := range []string{"open_transfer_requests", "open_transfer_buckets"} {
		if g := shipped.Tables[DefaultKeyspace+"."+name].Options["gc_grace_seconds"]; g != "14400" {
			t.Errorf("%s: gc_grace_seconds %s, want 14400 (above the 3 h hint window)", name, g)
		}
	}
}
