package batcher

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/ledger/ledgertest"
)

// gatedLedger wraps the real embedded ledger, counting create calls and
// optionally holding them until the gate opens.
type gatedLedger struct {
	ledger.Ledger
	calls atomic.Int64
	gate  chan struct{} // nil: never wait
}

func (g *gatedLedger) CreateTransfers(ctx context.Context, t []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	g.calls.Add(1)
	if g.gate != nil {
		<-g.gate
	}
	return g.Ledger.CreateTransfers(ctx, t)
}

func randomID(t testing.TB) ledger.Uint128 {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return ledger.Uint128{Lo: binary.LittleEndian.Uint64(b[:8]) | 1, Hi: binary.LittleEndian.Uint64(b[8:]) >> 1}
}

func setup(t *testing.T, opts Options, gate chan struct{}) (*Batcher, *gatedLedger, ledger.Uint128, ledger.Uint128) {
	t.Helper()
	l, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedLedger{Ledger: l, gate: gate}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	b := New(system, g, opts)
	t.Cleanup(func() {
		if gate != nil {
			select {
			case <-gate:
			default:
				close(gate)
			}
		}
		_ = b.Close()
		_ = l.Close()
		system.Shutdown()
	})
	debit, credit := randomID(t), randomID(t)
	res, err := l.CreateAccounts(context.Background(), []ledger.Account{
		{ID: debit, Ledger: 1, Code: 1},
		{ID: credit, Ledger: 1, Code: 1},
	})
	if err != nil || len(res) != 0 {
		t.Fatalf("create accounts: %v %v", res, err)
	}
	return b, g, debit, credit
}

func TestConcurrentCallersGetTheirOwnResults(t *testing.T) {
	b, g, debit, credit := setup(t, Options{Width: 2, QueueMax: 1 << 16, CallTimeout: 5 * time.Second}, nil)
	const callers = 200
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			// Event 0 is valid; event 1 has a zero id; event 2 (odd callers) is
			// on a different ledger: each caller must see exactly its own failures.
			events := []ledger.Transfer{
				{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 1, Code: 1},
				{DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 1, Code: 1},
			}
			if c%2 == 1 {
				events = append(events, ledger.Transfer{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 2, Code: 1})
			}
			res, err := b.CreateTransfers(context.Background(), events)
			if err != nil {
				errs <- err
				return
			}
			want := []ledger.TransferEventResult{{Index: 1, Result: ledger.TransferIDMustNotBeZero}}
			if c%2 == 1 {
				want = append(want, ledger.TransferEventResult{Index: 2, Result: ledger.TransferTransferMustHaveTheSameLedgerAsAccounts})
			}
			if len(res) != len(want) {
				errs <- errors.New("wrong number of results")
				return
			}
			for i := range want {
				if res[i] != want[i] {
					errs <- errors.New("result mismatch: " + res[i].Result.String())
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	accts, err := b.LookupAccounts(context.Background(), []ledger.Uint128{debit})
	if err != nil || len(accts) != 1 {
		t.Fatalf("lookup: %v", err)
	}
	if got := accts[0].DebitsPosted; got != ledger.U128(callers) {
		t.Fatalf("debits posted %v, want %d: every caller's valid event applied once", got, callers)
	}
	if n := g.calls.Load(); n >= callers {
		t.Fatalf("%d ledger calls for %d callers: nothing was batched", n, callers)
	}
	t.Logf("%d callers in %d ledger calls", callers, g.calls.Load())
}

func TestLinkedChainStaysAtomicWhenMerged(t *testing.T) {
	gate := make(chan struct{})
	b, g, debit, credit := setup(t, Options{Width: 1, QueueMax: 1 << 16, CallTimeout: 5 * time.Second}, gate)
	calls0 := g.calls.Load()
	// Occupy the actor so the next submissions are merged into one batch.
	first := make(chan error, 1)
	go func() {
		_, err := b.CreateTransfers(context.Background(), []ledger.Transfer{{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 1, Code: 1}})
		first <- err
	}()
	waitQueued(t, b, 1)
	good := make(chan []ledger.TransferEventResult, 1)
	go func() {
		res, _ := b.CreateTransfers(context.Background(), []ledger.Transfer{{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(5), Ledger: 1, Code: 1}})
		good <- res
	}()
	chain := make(chan []ledger.TransferEventResult, 1)
	go func() {
		res, _ := b.CreateTransfers(context.Background(), []ledger.Transfer{
			{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(7), Ledger: 1, Code: 1, Flags: ledger.TransferLinked},
			{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(7), Ledger: 9, Code: 1},
		})
		chain <- res
	}()
	waitQueued(t, b, 4) // the held call's event, then 1 + 2 waiting
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if res := <-good; len(res) != 0 {
		t.Fatalf("independent caller failed: %v", res)
	}
	res := <-chain
	if len(res) != 2 || res[0].Result != ledger.TransferLinkedEventFailed || res[0].Index != 0 || res[1].Index != 1 {
		t.Fatalf("chain results %v, want linked_event_failed at 0 and the failure at 1", res)
	}
	accts, _ := b.LookupAccounts(context.Background(), []ledger.Uint128{debit})
	if accts[0].DebitsPosted != ledger.U128(6) {
		t.Fatalf("debits posted %v, want 6 (1 + 5, none of the failed chain)", accts[0].DebitsPosted)
	}
	if n := g.calls.Load() - calls0; n != 2 {
		t.Fatalf("%d ledger calls, want 2: the held one, then the chain merged with the other caller", n)
	}
}

// waitQueued waits until b holds n events (queued or in its ledger call).
func waitQueued(t *testing.T, b *Batcher, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.QueueDepth() < n {
		if time.Now().After(deadline) {
			t.Fatalf("batcher holds %d events after 10 s, want %d", b.QueueDepth(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A submission ending in an open chain is refused before it can be merged:
// its chain would otherwise link into the next caller's events.
func TestOpenChainIsRefused(t *testing.T) {
	b, _, debit, credit := setup(t, Options{Width: 1, QueueMax: 1 << 16, CallTimeout: 5 * time.Second}, nil)
	open := []ledger.Transfer{{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 1, Code: 1, Flags: ledger.TransferLinked}}
	if _, err := b.CreateTransfers(context.Background(), open); !errors.Is(err, ErrOpenChain) {
		t.Fatalf("transfers ending linked: err %v, want ErrOpenChain", err)
	}
	if got, _ := b.LookupTransfers(context.Background(), []ledger.Uint128{open[0].ID}); len(got) != 0 {
		t.Fatalf("refused transfer was created: %v", got)
	}
	accounts := []ledger.Account{{ID: randomID(t), Ledger: 1, Code: 1, Flags: ledger.AccountLinked}}
	if _, err := b.CreateAccounts(context.Background(), accounts); !errors.Is(err, ErrOpenChain) {
		t.Fatalf("accounts ending linked: err %v, want ErrOpenChain", err)
	}
}

func TestOverloadAndDeadline(t *testing.T) {
	gate := make(chan struct{})
	b, _, debit, credit := setup(t, Options{Width: 1, QueueMax: ledger.BatchEventsMax, CallTimeout: 5 * time.Second}, gate)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	big := make([]ledger.Transfer, ledger.BatchEventsMax)
	for i := range big {
		big[i] = ledger.Transfer{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 1, Code: 1}
	}
	start := time.Now()
	_, err := b.CreateTransfers(ctx, big)
	if !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("held call: got %v, want ErrOutcomeUnknown", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("deadline not honoured: %v", time.Since(start))
	}
	// The queue is full (the held batch still counts): the next caller is refused at once.
	_, err = b.CreateTransfers(context.Background(), big[:1])
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full queue: got %v, want ErrOverloaded", err)
	}
	if _, err := b.CreateTransfers(context.Background(), make([]ledger.Transfer, ledger.BatchEventsMax+1)); !errors.Is(err, ledger.ErrBatchTooLarge) {
		t.Fatalf("oversized: got %v", err)
	}
	close(gate)
	// Once the held call returns, its events are applied (the outcome was
	// unknown, not failed) and the queue has room again.
	deadline := time.Now().Add(5 * time.Second)
	for b.QueueDepth() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := b.CreateTransfers(context.Background(), big[:1]); err != nil {
		t.Fatalf("after release: %v", err)
	}
	accts, _ := b.LookupAccounts(context.Background(), []ledger.Uint128{debit})
	if accts[0].DebitsPosted != ledger.U128(ledger.BatchEventsMax) {
		t.Fatalf("debits posted %v, want %d (held batch applied; replayed first event exists)", accts[0].DebitsPosted, ledger.BatchEventsMax)
	}
}

// misbehavingLedger breaks the ledger's contract on demand: it panics, or
// answers results out of order or for events that were not in the batch.
type misbehavingLedger struct {
	ledger.Ledger
	mode atomic.Value // string: "", "panic", "reversed", "beyond"
}

func (m *misbehavingLedger) CreateTransfers(ctx context.Context, t []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	mode, _ := m.mode.Load().(string)
	switch mode {
	case "panic":
		panic("ledger client bug")
	case "reversed":
		out := make([]ledger.TransferEventResult, len(t))
		for i := range t {
			out[i] = ledger.TransferEventResult{Index: uint32(len(t) - 1 - i), Result: ledger.TransferExists}
		}
		return out, nil
	case "beyond":
		return []ledger.TransferEventResult{{Index: uint32(len(t)), Result: ledger.TransferExists}}, nil
	}
	return m.Ledger.CreateTransfers(ctx, t)
}

// batcherOver starts a one-wide batcher over wrap(an embedded ledger) with
// two accounts, and returns it with a maker of transfers between them.
func batcherOver(t *testing.T, wrap func(ledger.Ledger) ledger.Ledger) (*Batcher, func() ledger.Transfer) {
	t.Helper()
	l, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	b := New(system, wrap(l), Options{Width: 1, QueueMax: 1 << 16, CallTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = b.Close(); _ = l.Close(); system.Shutdown() })
	debit, credit := randomID(t), randomID(t)
	if res, err := l.CreateAccounts(context.Background(), []ledger.Account{{ID: debit, Ledger: 1, Code: 1}, {ID: credit, Ledger: 1, Code: 1}}); err != nil || len(res) != 0 {
		t.Fatalf("create accounts: %v %v", res, err)
	}
	return b, func() ledger.Transfer {
		return ledger.Transfer{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 1, Code: 1}
	}
}

// A ledger that breaks its contract costs its callers an outcome-unknown
// answer, not the process: the actor's ledger call runs in a goroutine no
// supervisor watches, and the batcher keeps serving afterwards.
func TestBrokenLedgerContractIsOutcomeUnknown(t *testing.T) {
	var m *misbehavingLedger
	b, transfer := batcherOver(t, func(l ledger.Ledger) ledger.Ledger { m = &misbehavingLedger{Ledger: l}; return m })
	for _, mode := range []string{"panic", "reversed", "beyond"} {
		m.mode.Store(mode)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := b.CreateTransfers(ctx, []ledger.Transfer{transfer(), transfer()})
		cancel()
		if !errors.Is(err, ledger.ErrOutcomeUnknown) || res != nil {
			t.Fatalf("%s: got %v, %v; want ErrOutcomeUnknown and no results", mode, res, err)
		}
	}
	m.mode.Store("")
	good := transfer()
	if res, err := b.CreateTransfers(context.Background(), []ledger.Transfer{good}); err != nil || len(res) != 0 {
		t.Fatalf("after the broken calls: %v %v", res, err)
	}
	if got, err := b.LookupTransfers(context.Background(), []ledger.Uint128{good.ID}); err != nil || len(got) != 1 {
		t.Fatalf("lookup after the broken calls: %v %v", got, err)
	}
	if b.QueueDepth() != 0 {
		t.Fatalf("queue depth %d after every call returned", b.QueueDepth())
	}
}

// The batcher merges each call's events into memory it reuses, but only
// after a call that succeeded: the events of a call that failed or timed
// out may still be read by the ledger client, so later calls never write
// over them.
func TestFailedCallKeepsItsEvents(t *testing.T) {
	var k *ledgertest.KeepingLedger
	b, transfer := batcherOver(t, func(l ledger.Ledger) ledger.Ledger { k = &ledgertest.KeepingLedger{Ledger: l}; return k })
	transfers := func(n int) []ledger.Transfer {
		ts := make([]ledger.Transfer, n)
		for i := range ts {
			ts[i] = transfer()
		}
		return ts
	}
	ctx := context.Background()
	if _, err := b.CreateTransfers(ctx, transfers(3)); !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("first call: %v, want ErrOutcomeUnknown", err)
	}
	for i := 0; i < 3; i++ { // the second succeeds, the next may reuse its memory
		if res, err := b.CreateTransfers(ctx, transfers(3)); err != nil || len(res) != 0 {
			t.Fatalf("call %d: %v %v", i+2, res, err)
		}
	}
	if i, now, was := k.Changed(); i >= 0 {
		t.Fatalf("event %d of the failed call changed after it returned: %+v, was %+v", i, now, was)
	}
}

// slowLedger answers every create after a pause, touching nothing.
type slowLedger struct {
	ledger.Ledger
	pause time.Duration
}

func (l slowLedger) CreateAccounts(context.Context, []ledger.Account) ([]ledger.AccountEventResult, error) {
	time.Sleep(l.pause)
	return nil, nil
}

func (l slowLedger) CreateTransfers(context.Context, []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	time.Sleep(l.pause)
	return nil, nil
}

// A steady stream of account creations (new users' first requests) does not
// hold back transfers: with one batcher actor kept busy by four callers
// creating accounts in a loop, a transfer is still applied at the next
// turn. (Taking accounts first every time, it waited until its deadline.)
func TestAccountCreationsDoNotStarveTransfers(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer system.Shutdown()
	b := New(system, slowLedger{pause: 5 * time.Millisecond}, Options{Width: 1, QueueMax: ledger.BatchEventsMax, CallTimeout: time.Second})
	defer b.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = b.CreateAccounts(context.Background(), []ledger.Account{{ID: ledger.Uint128{Lo: 1}, Ledger: 1, Code: 1}})
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // the account stream is on
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := b.CreateTransfers(ctx, []ledger.Transfer{{ID: ledger.Uint128{Lo: 9}, Ledger: 1, Code: 1, Amount: ledger.U128(1)}}); err != nil {
		t.Fatalf("a transfer behind a stream of account creations: %v after %v", err, time.Since(start))
	}
}

// A submission whose caller already gave up is not sent: the ledger would
// apply what no one waits for.
func TestExpiredSubmissionIsNotSent(t *testing.T) {
	b, g, debit, credit := setup(t, Options{Width: 1, QueueMax: ledger.BatchEventsMax, CallTimeout: time.Second}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.CreateTransfers(ctx, []ledger.Transfer{{ID: randomID(t), DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1), Ledger: 1, Code: 1}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateTransfers after its caller gave up: %v, want context.Canceled", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := g.calls.Load(); n != 0 {
		t.Fatalf("the ledger was called %d times for a submission no one waited for", n)
	}
}
