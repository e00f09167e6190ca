package embedded_test

import (
	"testing"

	"github.com/exchange/internal-transfer/store"
	"github.com/exchange/internal-transfer/store/embedded"
	"github.com/exchange/internal-transfer/store/storetest"
)

// TestConformance runs the shared store suite on a fresh Pebble directory per
// store the suite opens.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts storetest.Options) store.Store {
		s, err := embedded.Open(embedded.Options{Dir: t.TempDir(), IdempotencyTTL: opts.IdempotencyTTL})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
