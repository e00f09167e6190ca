package embedded

import (
	"testing"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/ledger/ledgertest"
)

// TestConformance runs the ledger conformance suite against the engine, one
// fresh directory per case.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		l, err := Open(Options{Dir: t.TempDir(), CacheBytes: 32 << 20, MemTableBytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return l
	})
}
