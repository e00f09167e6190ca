package tigerbeetle

import (
	"testing"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/ledger/ledgertest"
)

// TestConformance runs the shared ledger conformance suite against the
// TigerBeetle cluster in TB_ADDRESSES, skipping without it.
func TestConformance(t *testing.T) {
	envOptions(t) // skips without TB_ADDRESSES
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return openEnv(t) })
}
