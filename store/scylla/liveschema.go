package scylla

import (
	"context"
	"fmt"
	"strings"

	"github.com/exchange/internal-transfer/schema"
	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
)

// cqlLiveColumns lists the columns of a keyspace. system_schema is local to
// every node (each holds the whole schema), so one replica answers.
const cqlLiveColumns = "SELECT table_name, column_name, kind, position, type, clustering_order " +
	"FROM system_schema.columns WHERE keyspace_name = ?"

// checkSchema refuses keyspace unless its tables are those of the schema this
// release ships (schema.Catalog.CheckLive): a missing table or column, or a
// table keyed differently, would otherwise fail every request that meets it
// or, worse, address rows where no other release looks for them. The
// schema's statements are CREATE ... IF NOT EXISTS, so applying a newer
// schema over an older keyspace does not change an existing table: this is
// where such a keyspace is caught, at start, with every difference named.
func checkSchema(ctx context.Context, sess gocqlx.Session, keyspace string) error {
	shipped, err := schema.Shipped()
	if err != nil {
		return fmt.Errorf("cannot check the schema: %w", err)
	}
	ks := strings.ToLower(keyspace) // unquoted names are stored lower-case
	iter := sess.Session.Query(cqlLiveColumns, ks).WithContext(ctx).Consistency(gocql.One).Idempotent(true).Iter()
	var (
		live []schema.LiveColumn
		col  schema.LiveColumn
	)
	for iter.Scan(&col.Table, &col.Name, &col.Kind, &col.Position, &col.Type, &col.ClusteringOrder) {
		live = append(live, col)
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("cannot read the schema of keyspace %s: %w", ks, err)
	}
	if len(live) == 0 {
		return fmt.Errorf("keyspace %s has no tables: %w (apply it: itctl schema, or make schema)", ks, schema.ErrLiveMismatch)
	}
	if err := shipped.CheckLive(live); err != nil {
		return fmt.Errorf("keyspace %s: %w (itctl schema creates missing tables; a missing column needs ALTER TABLE ... ADD, a table keyed differently a migration: docs/runbook.md, \"Service will not start\")", ks, err)
	}
	return nil
}
