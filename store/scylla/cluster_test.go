package scylla

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/schema"
)

// testReplication is the replication of the throwaway test keyspaces.
const testReplication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

// clusterHosts returns SCYLLA_HOSTS (comma-separated host:port), skipping tb
// when it is not set.
func clusterHosts(tb testing.TB) []string {
	tb.Helper()
	env := os.Getenv("SCYLLA_HOSTS")
	if env == "" {
		tb.Skip("SCYLLA_HOSTS not set: skipping ScyllaDB conformance")
	}
	var hosts []string
	for _, h := range strings.Split(env, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// withClusterAuth adds the test cluster's credentials and TLS from the
// environment: SCYLLA_USERNAME and SCYLLA_PASSWORD, and SCYLLA_TLS=1 with
// SCYLLA_TLS_CA_FILE and SCYLLA_TLS_SERVER_NAME (both optional) for a
// cluster that requires them.
func withClusterAuth(o Options) Options {
	o.Username, o.Password = os.Getenv("SCYLLA_USERNAME"), os.Getenv("SCYLLA_PASSWORD")
	o.TLS, o.TLSCAFile = os.Getenv("SCYLLA_TLS") == "1", os.Getenv("SCYLLA_TLS_CA_FILE")
	o.TLSServerName = os.Getenv("SCYLLA_TLS_SERVER_NAME")
	return o
}

// freshKeyspace creates a keyspace with a random name on the cluster,
// applies the schema to it, and drops it when tb ends.
func freshKeyspace(tb testing.TB, hosts []string) string {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	keyspace := "it_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sess, err := Connect(ctx, withClusterAuth(Options{Hosts: hosts, Timeout: SchemaTimeout}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		defer sess.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		q := sess.ContextQuery(ctx, "DROP KEYSPACE IF EXISTS "+keyspace, nil)
		q.Idempotent(true)
		if err := q.ExecRelease(); err != nil {
			tb.Errorf("cannot drop test keyspace %s: %v", keyspace, err)
		}
	})
	if err := ApplySchema(ctx, sess, keyspace, testReplication); err != nil {
		tb.Fatal(err)
	}
	return keyspace
}

// openTest opens a store on keyspace, closed when tb ends.
func openTest(tb testing.TB, hosts []string, keyspace string, opts Options) *Store {
	tb.Helper()
	opts.Hosts, opts.Keyspace = hosts, keyspace
	opts = withClusterAuth(opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// TestOpenRefusesAnotherSchema: a keyspace whose open table has the layout
// of before the sharding (applying the schema again leaves an existing
// table as it is) is refused at Open, with the difference named, instead of
// failing every create.
func TestOpenRefusesAnotherSchema(t *testing.T) {
	hosts := clusterHosts(t)
	keyspace := freshKeyspace(t, hosts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sess, err := Connect(ctx, withClusterAuth(Options{Hosts: hosts, Timeout: SchemaTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for _, ddl := range []string{
		"DROP TABLE " + keyspace + ".open_transfer_requests",
		"CREATE TABLE " + keyspace + ".open_transfer_requests (minute_bucket bigint, request_id bigint, " +
			"created_at timestamp, status text, PRIMARY KEY ((minute_bucket), created_at, request_id))",
	} {
		if err := sess.ContextQuery(ctx, ddl, nil).ExecRelease(); err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}
	if err := sess.AwaitSchemaAgreement(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, withClusterAuth(Options{Hosts: hosts, Keyspace: keyspace}))
	if err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a keyspace whose open table lacks the shard key")
	}
	if !errors.Is(err, schema.ErrLiveMismatch) || !strings.Contains(err.Error(), "partition key (minute_bucket), the schema has (minute_bucket, shard)") {
		t.Fatalf("Open: %v; want the partition key named", err)
	}
}
