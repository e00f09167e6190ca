package tigerbeetle

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	tb "github.com/tigerbeetle/tigerbeetle-go"

	"github.com/exchange/internal-transfer/ledger"
)

// These tests run the real tigerbeetle-go client against a loopback port
// nothing listens on: the client keeps reconnecting and never answers, which
// is what a dead or partitioned cluster looks like to it.

// deadAddress returns a loopback address with nothing listening on it.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot reserve a port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("cannot free port %s: %v", addr, err)
	}
	return addr
}

// within runs fn and fails the test if it takes longer than limit; it
// returns fn's duration.
func within(t *testing.T, limit time.Duration, what string, fn func()) time.Duration {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); fn() }()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
		return 0
	}
}

// openDead opens a Ledger on a dead address and closes it, bounded, at the
// end of the test.
func openDead(t *testing.T, opts Options) *Ledger {
	t.Helper()
	opts.Addresses = []string{deadAddress(t)}
	var l *Ledger
	var err error
	within(t, 2*time.Second, "New", func() { l, err = New(opts) })
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { within(t, 5*time.Second, "Close", func() { _ = l.Close() }) })
	return l
}

// waitStats polls l.Stats until ok holds, for at most 5 s.
func waitStats(t *testing.T, l *Ledger, what string, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(l.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, l.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeadlineWithoutCluster(t *testing.T) {
	l := openDead(t, Options{Concurrency: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var err error
	took := within(t, 1*time.Second, "CreateTransfers", func() {
		_, err = l.CreateTransfers(ctx, []ledger.Transfer{{ID: u128(1), DebitAccountID: u128(2),
			CreditAccountID: u128(3), Amount: ledger.U128(1), Ledger: 1, Code: 1}})
	})
	if !errors.Is(err, ledger.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrOutcomeUnknown wrapping the deadline", err)
	}
	if took < 150*time.Millisecond {
		t.Errorf("returned after %v, before the 200 ms deadline", took)
	}
	if s := l.Stats(); s.Abandoned != 1 || s.InFlight != 1 {
		t.Errorf("after one abandoned call: %+v", s)
	}

	within(t, 5*time.Second, "Close", func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Closing the client completes the abandoned packet: its slot comes back.
	waitStats(t, l, "after Close", func(s Stats) bool { return s.Abandoned == 0 && s.InFlight == 0 })
	if _, err := l.LookupAccounts(context.Background(), []ledger.Uint128{u128(1)}); !errors.Is(err, ledger.ErrClosed) ||
		errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Errorf("call after Close: %v, want plain ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestDefaultTimeout(t *testing.T) {
	l := openDead(t, Options{Timeout: 150 * time.Millisecond})
	var err error
	took := within(t, 1*time.Second, "LookupTransfers", func() {
		_, err = l.LookupTransfers(context.Background(), []ledger.Uint128{u128(1)})
	})
	if !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("got %v, want ErrOutcomeUnknown", err)
	}
	if took < 100*time.Millisecond {
		t.Errorf("returned after %v, before Options.Timeout", took)
	}
}

// TestStuckCallsExhaustSlots: once every slot is held by an unanswered call,
// new calls are refused at once instead of piling up behind them.
func TestStuckCallsExhaustSlots(t *testing.T) {
	l := openDead(t, Options{Concurrency: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if _, err := l.LookupAccounts(ctx, []ledger.Uint128{u128(1)}); !errors.Is(err, ledger.ErrOutcomeUnknown) {
				t.Errorf("stuck call: %v", err)
			}
		}()
	}
	wg.Wait()
	if s := l.Stats(); s.Abandoned != 2 || s.InFlight != 2 {
		t.Fatalf("after two abandoned calls: %+v", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	took := within(t, 1*time.Second, "refused call", func() {
		_, err = l.CreateAccounts(ctx, []ledger.Account{{ID: u128(1), Ledger: 1, Code: 1}})
	})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("got %v, want ErrUnavailable wrapping ErrOutcomeUnknown", err)
	}
	// Immediate, against the 5 s deadline (500 ms: room for a busy CI box).
	if took > 500*time.Millisecond {
		t.Errorf("refusal took %v; it should not wait for the 5 s deadline", took)
	}
	if s := l.Stats(); s.Abandoned != 2 || s.InFlight != 2 {
		t.Errorf("a refused call changed the slots: %+v", s)
	}
}

// TestSlotWaitBounded: a call waiting for a slot held by a live call gives up
// at its own deadline without submitting anything.
func TestSlotWaitBounded(t *testing.T) {
	l := openDead(t, Options{Concurrency: 1})
	holder := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := l.LookupAccounts(ctx, []ledger.Uint128{u128(1)})
		holder <- err
	}()
	waitStats(t, l, "holder in flight", func(s Stats) bool { return s.InFlight == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	within(t, 1*time.Second, "waiting call", func() {
		_, err = l.LookupAccounts(ctx, []ledger.Uint128{u128(2)})
	})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnavailable wrapping the deadline", err)
	}
	if s := l.Stats(); s.Abandoned != 0 || s.InFlight != 1 {
		t.Errorf("the waiting call left a trace: %+v", s)
	}
	// Close answers the holder long before its own deadline.
	within(t, 5*time.Second, "Close", func() { _ = l.Close() })
	select {
	case err := <-holder:
		if !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("holder: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("holder still waiting after Close")
	}
}

// TestCloseCompletesWaitingCall: Close answers a call still waiting, with an
// error that says both "closed" and "maybe applied".
func TestCloseCompletesWaitingCall(t *testing.T) {
	l := openDead(t, Options{})
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := l.CreateTransfers(ctx, []ledger.Transfer{{ID: u128(1)}})
		errc <- err
	}()
	waitStats(t, l, "call in flight", func(s Stats) bool { return s.InFlight == 1 })
	within(t, 5*time.Second, "Close", func() { _ = l.Close() })
	select {
	case err := <-errc:
		if !errors.Is(err, ledger.ErrClosed) || !errors.Is(err, ledger.ErrOutcomeUnknown) {
			t.Errorf("got %v, want ErrClosed and ErrOutcomeUnknown", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting call did not return after Close")
	}
}

// TestRefusedWithoutServer: what TigerBeetle would refuse as a whole is
// refused before it takes a slot or reaches the client.
func TestRefusedWithoutServer(t *testing.T) {
	l := openDead(t, Options{Concurrency: 1})
	ctx := context.Background()
	tooMany := BatchEventsMax + 1 // one more than TigerBeetle 0.16.78 takes
	if err := checkBatch("create transfers", BatchEventsMax); err != nil {
		t.Errorf("a batch of BatchEventsMax refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"create transfers", func() error {
			_, err := l.CreateTransfers(ctx, make([]ledger.Transfer, tooMany))
			return err
		}, ledger.ErrBatchTooLarge},
		{"create accounts", func() error {
			_, err := l.CreateAccounts(ctx, make([]ledger.Account, tooMany))
			return err
		}, ledger.ErrBatchTooLarge},
		{"lookup accounts", func() error {
			_, err := l.LookupAccounts(ctx, make([]ledger.Uint128, tooMany))
			return err
		}, ledger.ErrBatchTooLarge},
		{"lookup transfers", func() error {
			_, err := l.LookupTransfers(ctx, make([]ledger.Uint128, tooMany))
			return err
		}, ledger.ErrBatchTooLarge},
		{"invalid filter", func() error {
			_, err := l.GetAccountTransfers(ctx, ledger.AccountFilter{AccountID: u128(1), Limit: 10})
			return err
		}, ledger.ErrInvalidFilter},
		{"expired context", func() error {
			expired, cancel := context.WithCancel(ctx)
			cancel()
			_, err := l.LookupAccounts(expired, []ledger.Uint128{u128(1)})
			if errors.Is(err, ledger.ErrOutcomeUnknown) {
				return errors.New("a call never submitted claims an unknown outcome")
			}
			return err
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			within(t, 500*time.Millisecond, tc.name, func() { err = tc.call() })
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if s := l.Stats(); s.InFlight != 0 {
				t.Errorf("refused call took a slot: %+v", s)
			}
		})
	}
}

// TestConcurrentCallsAndClose runs many short calls while Close happens, for
// the race detector, and checks every slot comes back.
func TestConcurrentCallsAndClose(t *testing.T) {
	l := openDead(t, Options{Concurrency: 8})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+i*5)*time.Millisecond)
			defer cancel()
			_, err := l.LookupTransfers(ctx, []ledger.Uint128{u128(uint64(i))})
			if err == nil || !(errors.Is(err, ledger.ErrOutcomeUnknown) || errors.Is(err, ledger.ErrClosed)) {
				t.Errorf("call %d: %v", i, err)
			}
		}()
	}
	time.Sleep(60 * time.Millisecond)
	within(t, 5*time.Second, "Close", func() { _ = l.Close() })
	wg.Wait()
	waitStats(t, l, "after Close", func(s Stats) bool { return s.Abandoned == 0 && s.InFlight == 0 })
}

// TestClientPanicIsAnUnknownOutcome: tigerbeetle-go panics on a reply it
// cannot read. The call's goroutine turns that into "outcome unknown" (the
// packet may have been applied), gives its slot back and answers, instead
// of taking the process down with a panic nothing could catch.
func TestClientPanicIsAnUnknownOutcome(t *testing.T) {
	l := &Ledger{slots: make(chan struct{}, 1)}
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := &pending[int]{done: make(chan struct{})}
	p.state.Store(callRunning)
	go runCall(l, &session{}, p, func(tb.Client) (int, error) { panic("unreachable") })
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the call never answered")
	}
	if !errors.Is(p.err, ledger.ErrOutcomeUnknown) || p.val != 0 {
		t.Fatalf("a panicking call gave %d, %v; want ErrOutcomeUnknown", p.val, p.err)
	}
	if n := len(l.slots); n != 0 {
		t.Fatalf("%d slots still held after the call", n)
	}
}
