package scylla

import (
	"testing"

	"github.com/exchange/internal-transfer/store"
	"github.com/exchange/internal-transfer/store/storetest"
)

// TestConformance runs the store conformance suite against a real ScyllaDB
// cluster (SCYLLA_HOSTS) in a fresh keyspace with the shipped schema.
func TestConformance(t *testing.T) {
	hosts := clusterHosts(t)
	keyspace := freshKeyspace(t, hosts)
	storetest.Run(t, func(t *testing.T, opts storetest.Options) store.Store {
		// The suite closes what it opens; openTest's cleanup Close then
		// returns ErrClosed, which it ignores.
		return openTest(t, hosts, keyspace, Options{IdempotencyTTL: opts.IdempotencyTTL})
	})
}
