package scylla

import (
	"context"
	"fmt"
	"time"

	"github.com/exchange/internal-transfer/schema"
	"github.com/scylladb/gocqlx/v2"
)

// SchemaTimeout is the per-request timeout (Options.Timeout) a session that
// applies or drops a schema should have: ScyllaDB agrees on schema changes
// through Raft across the cluster, which can take longer than a query.
const SchemaTimeout = time.Minute

// ApplySchema creates keyspace and the service's tables on the cluster
// session is connected to (see Connect), executing the embedded
// schema/*.cql statements one by one with the keyspace renamed from
// "trading" to keyspace. replication, when not "", replaces the keyspace's
// replication map, e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}
// for a one-node test cluster; "" keeps NetworkTopologyStrategy RF 3.
// Every statement is CREATE ... IF NOT EXISTS, so applying twice is
// harmless (and each is marked idempotent, so the session's retry policy
// retries one that timed out); it does not alter tables that already exist.
// Connect the session with an Options.Timeout of SchemaTimeout.
func ApplySchema(ctx context.Context, session gocqlx.Session, keyspace, replication string) error {
	stmts, err := schema.Statements(keyspace, replication)
	if err != nil {
		return fmt.Errorf("cannot apply schema: %w", err)
	}
	for _, st := range stmts {
		q := session.ContextQuery(ctx, st, nil)
		q.Idempotent(true)
		if err := q.ExecRelease(); err != nil {
			return fmt.Errorf("cannot apply schema statement %q: %w", st, err)
		}
	}
	// gocql waits for agreement after each schema change it sees; wait once
	// more so the caller can use every table on every node at once.
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("cannot apply schema: %w", err)
	}
	return nil
}
