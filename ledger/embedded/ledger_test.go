package embedded

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// fakeClock is a settable cluster clock in nanoseconds.
type fakeClock struct{ ns atomic.Uint64 }

func (c *fakeClock) now() uint64 { return c.ns.Load() }

func openAt(t *testing.T, dir string, clock *fakeClock) *Ledger {
	t.Helper()
	l, err := Open(Options{Dir: dir, Clock: clock.now, CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var (
	acctA = ledger.Uint128{Hi: 0xa, Lo: 1}
	acctB = ledger.Uint128{Hi: 0xa, Lo: 2}
)

func createAB(t *testing.T, l *Ledger) {
	t.Helper()
	res, err := l.CreateAccounts(testCtx(t), []ledger.Account{{ID: acctA, Ledger: 1, Code: 1}, {ID: acctB, Ledger: 1, Code: 1}})
	if err != nil || len(res) != 0 {
		t.Fatalf("create accounts: %v %v", res, err)
	}
}

// TestRestartKeepsTimestampsIncreasing: the last timestamp is durable, so a
// clock that went back across a restart cannot reuse or reorder timestamps.
func TestRestartKeepsTimestampsIncreasing(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	clock.ns.Store(1_000_000_000_000)
	l := openAt(t, dir, clock)
	createAB(t, l)
	first := ledger.Transfer{ID: ledger.U128(1), DebitAccountID: acctA, CreditAccountID: acctB, Amount: ledger.U128(5), Ledger: 1, Code: 1}
	if res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{first}); err != nil || len(res) != 0 {
		t.Fatalf("create: %v %v", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clock.ns.Store(5) // the wall clock jumped back
	l = openAt(t, dir, clock)
	defer l.Close()
	second := first
	second.ID = ledger.U128(2)
	if res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{second, first}); err != nil ||
		len(res) != 1 || res[0] != (ledger.TransferEventResult{Index: 1, Result: ledger.TransferExists}) {
		t.Fatalf("create after restart: %v %v", res, err)
	}
	got, err := l.LookupTransfers(testCtx(t), []ledger.Uint128{first.ID, second.ID})
	if err != nil || len(got) != 2 {
		t.Fatalf("lookup: %v %v", got, err)
	}
	if got[1].Timestamp <= got[0].Timestamp {
		t.Errorf("timestamp after restart %d not after %d", got[1].Timestamp, got[0].Timestamp)
	}
	if a, _ := l.LookupAccounts(testCtx(t), []ledger.Uint128{acctA}); len(a) != 1 || a[0].DebitsPosted != ledger.U128(10) {
		t.Errorf("account after restart: %+v", a)
	}
}

// TestExpiryAcrossRestart: a pending transfer whose timeout passed while the
// ledger was closed is released after reopening, with no request needed.
func TestExpiryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	clock.ns.Store(1_000_000_000_000)
	l := openAt(t, dir, clock)
	createAB(t, l)
	p := ledger.Transfer{ID: ledger.U128(7), DebitAccountID: acctA, CreditAccountID: acctB, Amount: ledger.U128(9),
		Ledger: 1, Code: 1, Flags: ledger.TransferPending, Timeout: 60}
	if res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{p}); err != nil || len(res) != 0 {
		t.Fatalf("create: %v %v", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clock.ns.Add(uint64(61 * time.Second))
	l = openAt(t, dir, clock)
	defer l.Close()
	waitHoldsReleased(t, l)
	post := ledger.Transfer{ID: ledger.U128(8), PendingID: p.ID, Amount: ledger.AmountMax, Flags: ledger.TransferPostPendingTransfer}
	res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{post})
	if err != nil || len(res) != 1 || res[0].Result != ledger.TransferPendingTransferExpired {
		t.Fatalf("post after expiry: %v %v", res, err)
	}
}

// TestClosedAndContext: calls after Close fail with ErrClosed, and a call
// whose context is already done applies nothing.
func TestClosedAndContext(t *testing.T) {
	clock := &fakeClock{}
	clock.ns.Store(1_000_000_000_000)
	l := openAt(t, t.TempDir(), clock)
	createAB(t, l)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tr := ledger.Transfer{ID: ledger.U128(3), DebitAccountID: acctA, CreditAccountID: acctB, Amount: ledger.U128(1), Ledger: 1, Code: 1}
	// Refused before it was queued (the context's error), or queued before
	// the context was seen (then the outcome-unknown error): never success.
	if _, err := l.CreateTransfers(done, []ledger.Transfer{tr}); !errors.Is(err, context.Canceled) && !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("CreateTransfers with a done context: %v; want context.Canceled or ErrOutcomeUnknown", err)
	}
	if got, err := l.LookupTransfers(testCtx(t), []ledger.Uint128{tr.ID}); err != nil || len(got) != 0 {
		t.Errorf("a call with a done context applied: %v %v", got, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{tr}); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("CreateTransfers after Close: %v", err)
	}
	if _, err := l.LookupTransfers(testCtx(t), []ledger.Uint128{tr.ID}); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("LookupTransfers after Close: %v", err)
	}
	if _, err := l.GetAccountTransfers(testCtx(t), ledger.AccountFilter{AccountID: acctA, Limit: 1, Flags: ledger.FilterDebits}); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("GetAccountTransfers after Close: %v", err)
	}
}

// waitHoldsReleased waits (up to 5 s) until account A holds nothing
// pending: its holds expired.
func waitHoldsReleased(t *testing.T, l *Ledger) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		a, err := l.LookupAccounts(testCtx(t), []ledger.Uint128{acctA})
		if err != nil || len(a) != 1 {
			t.Fatalf("lookup: %v %v", a, err)
		}
		if a[0].DebitsPending.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending transfer not expired: %+v", a[0])
		}
	}
}
