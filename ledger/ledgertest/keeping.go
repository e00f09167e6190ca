package ledgertest

import (
	"context"
	"sync"

	"github.com/exchange/internal-transfer/ledger"
)

// KeepingLedger wraps a ledger. Its first CreateTransfers call fails with
// ledger.ErrOutcomeUnknown but keeps the events it was given, as a ledger
// still reading them would (the batcher's queue keeps a submission whose
// caller gave up; a TigerBeetle client may still be sending a timed-out
// request), along with a copy; later calls go through. Changed tells whether
// anyone wrote over the kept events since.
type KeepingLedger struct {
	ledger.Ledger
	mu       sync.Mutex
	calls    int
	kept     []ledger.Transfer
	snapshot []ledger.Transfer
}

// CreateTransfers fails the first call, keeping its events, and passes the
// others on.
func (k *KeepingLedger) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	k.mu.Lock()
	k.calls++
	first := k.calls == 1
	if first {
		k.kept, k.snapshot = ts, append([]ledger.Transfer(nil), ts...)
	}
	k.mu.Unlock()
	if first {
		return nil, ledger.ErrOutcomeUnknown
	}
	return k.Ledger.CreateTransfers(ctx, ts)
}

// Changed returns the index of the first kept event that differs from what
// the failed call was given, with both values; i is -1 when none does.
func (k *KeepingLedger) Changed() (i int, now, was ledger.Transfer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.snapshot {
		if k.kept[i] != k.snapshot[i] {
			return i, k.kept[i], k.snapshot[i]
		}
	}
	return -1, ledger.Transfer{}, ledger.Transfer{}
}
