package tigerbeetle

import (
	"testing"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/ledger/ledgertest"
)

// TestConformance runs the shared ledger conformance suite against the
// TigerBeetle cluster in TB_ADDRESSES, skipping without it. One client
// serves every case: each client is a session the cluster keeps (64 by
// default, beyond a client's Close), and a run opening one per case could
// evict a live service's session on a shared cluster.
func TestConformance(t *testing.T) {
	envOptions(t) // skips without TB_ADDRESSES
	l := openEnv(t)
	ledgertest.Run(t, func(*testing.T) ledger.Ledger { return l })
}
