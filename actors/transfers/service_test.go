package transfers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/exchange/internal-transfer/actors/batcher"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

// pipeline is the transfer service on the real embedded ledger and store.
type pipeline struct {
	svc     *transfers.Service
	admin   *transfers.Admin
	store   store.Store
	ledger  ledger.Ledger
	catalog *transfers.Catalog
	pub     *countingPublisher
}

// countingPublisher stands in for Kafka: it records what would be published,
// and answers every record with fail when fail is set.
type countingPublisher struct {
	n    atomic.Int64
	fail atomic.Pointer[error]
}

func (p *countingPublisher) PublishAsync(_ store.Request, done func(error)) {
	p.n.Add(1)
	if err := p.fail.Load(); err != nil {
		done(*err)
	}
}

func newPipeline(tb testing.TB, opts transfers.Options) *pipeline {
	return newPipelineWith(tb, opts, nil)
}

// newPipelineWith is newPipeline whose service reaches the ledger through
// wrap(ledger, store) when wrap is not nil.
func newPipelineWith(tb testing.TB, opts transfers.Options, wrap func(ledger.Ledger, store.Store) ledger.Ledger) *pipeline {
	tb.Helper()
	el, err := ledgerembedded.Open(ledgerembedded.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := storeembedded.Open(storeembedded.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	var l ledger.Ledger = el
	if wrap != nil {
		l = wrap(el, st)
	}
	catalog := testCatalog(tb)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	b := batcher.New(system, l, batcher.Options{Width: 4, QueueMax: 8 * ledger.BatchEventsMax, CallTimeout: 5 * time.Second})
	pub := &countingPublisher{}
	svc, err := transfers.NewService(system, b, st, pub, catalog, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := transfers.EnsureOperatorAccounts(context.Background(), b, catalog); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		svc.Close()
		_ = b.Close()
		system.Shutdown()
		_ = st.Close()
		_ = el.Close()
	})
	return &pipeline{svc: svc, admin: transfers.NewAdmin(b, catalog, svc), store: st, ledger: b, catalog: catalog, pub: pub}
}

func testCatalog(tb testing.TB) *transfers.Catalog {
	c, err := transfers.NewCatalog(
		[]transfers.Asset{{Name: "USDT", Ledger: 1, Decimals: 8}, {Name: "BTC", Ledger: 2, Decimals: 8}},
		[]transfers.AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}},
		[]transfers.Route{{From: "funding", To: "spot"}, {From: "spot", To: "funding"}, {From: "funding", To: "funding", CrossUser: true}},
	)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func defaultOptions() transfers.Options {
	return transfers.Options{NodeID: 1, MailboxMax: 1024, InFlightMax: 100_000, IdleTimeout: time.Minute, RequestTimeout: 10 * time.Second}
}

func cmd(user uint64, amount uint64, key string) transfers.Command {
	return transfers.Command{UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: amount, IdempotencyKey: key, Fingerprint: key + "/fp", Received: time.Now()}
}

func TestSubmitHoldsFundsAndSerialisesPerUser(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	const user = 7
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, "d1"); err != nil {
		t.Fatal(err)
	}
	// 20 concurrent requests of 10 each against a balance of 100: exactly 10 hold.
	var wg sync.WaitGroup
	var held, short atomic.Int64
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := p.svc.Submit(ctx, cmd(user, 10, ""))
			switch {
			case err == nil && req.Status == store.StatusPending:
				held.Add(1)
			case errors.Is(err, transfers.ErrInsufficientBalance) && req.Status == store.StatusFailed && req.ErrorCode == "INSUFFICIENT_BALANCE":
				short.Add(1)
			default:
				t.Errorf("unexpected outcome %+v %v", req, err)
			}
		}()
	}
	wg.Wait()
	if held.Load() != 10 || short.Load() != 10 {
		t.Fatalf("held %d, refused %d; want 10 and 10", held.Load(), short.Load())
	}
	bal, err := p.svc.Balances(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bal {
		if b.AccountType == "funding" && b.Asset == "USDT" && (b.Available != ledger.U128(0) || b.Held != ledger.U128(100)) {
			t.Fatalf("funding USDT %+v, want available 0 held 100", b)
		}
		if b.AccountType == "spot" && b.Asset == "USDT" && b.Incoming != ledger.U128(100) {
			t.Fatalf("spot USDT %+v, want incoming 100", b)
		}
	}
	if p.pub.n.Load() != 10 {
		t.Fatalf("published %d confirmations, want one per held request (10)", p.pub.n.Load())
	}
}

func TestIdempotencyKeyReplayAndConflict(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	if err := p.admin.Deposit(ctx, 9, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	first, err := p.svc.Submit(ctx, cmd(9, 30, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.svc.Submit(ctx, cmd(9, 30, "k1"))
	if err != nil || again.ID != first.ID {
		t.Fatalf("replay: %+v %v, want request %d", again, err, first.ID)
	}
	conflict := cmd(9, 31, "k1")
	conflict.Fingerprint = "other"
	if _, err := p.svc.Submit(ctx, conflict); !errors.Is(err, transfers.ErrIdempotencyConflict) {
		t.Fatalf("conflict: %v, want ErrIdempotencyConflict", err)
	}
	bal, _ := p.svc.Balances(ctx, 9)
	for _, b := range bal {
		if b.AccountType == "funding" && b.Asset == "USDT" && b.Held != ledger.U128(30) {
			t.Fatalf("held %s, want 30: the replay must not hold twice", b.Held)
		}
	}
}

// TestConcurrentSendsOfOneKeyHoldOnce sends each idempotency key eight
// times at once, as a client does that retries before its first try was
// answered: every send must get the same request, and the funds must be
// held once per key.
func TestConcurrentSendsOfOneKeyHoldOnce(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	const user, keys, sends = 9, 40, 8
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 1000, ""); err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		key := "dup-" + strconv.Itoa(k)
		var wg sync.WaitGroup
		ids := make([]uint64, sends)
		errs := make([]error, sends)
		for i := range sends {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := p.svc.Submit(ctx, cmd(user, 3, key))
				ids[i], errs[i] = r.ID, err
				if err == nil && r.Status != store.StatusPending {
					errs[i] = fmt.Errorf("status %s, want pending", r.Status)
				}
			}()
		}
		wg.Wait()
		for i := range sends {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("key %s, send %d: request %d, %v; send 0 got request %d", key, i, ids[i], errs[i], ids[0])
			}
		}
	}
	bal, err := p.svc.Balances(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bal {
		if b.AccountType == "funding" && b.Asset == "USDT" && (b.Held != ledger.U128(3*keys) || b.Available != ledger.U128(1000-3*keys)) {
			t.Fatalf("funding USDT %+v, want held %d available %d: one hold per key", b, 3*keys, 1000-3*keys)
		}
	}
}

// An admin operation the ledger refused keeps its key spent: after the
// cause is gone (the account unfrozen), the same key is refused as such,
// not with a reason the operation never had (a deposit is never short).
func TestAdminKeyRefusedBeforeStaysRefused(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	if err := p.admin.Deposit(ctx, 12, "funding", "USDT", 100, "first"); err != nil {
		t.Fatal(err)
	}
	if err := p.admin.Freeze(ctx, 12, "funding", "USDT"); err != nil {
		t.Fatal(err)
	}
	if err := p.admin.Deposit(ctx, 12, "funding", "USDT", 5, "dep"); !errors.Is(err, transfers.ErrAccountFrozen) {
		t.Fatalf("deposit to a frozen account: %v, want ErrAccountFrozen", err)
	}
	if err := p.admin.Unfreeze(ctx, 12, "funding", "USDT"); err != nil {
		t.Fatal(err)
	}
	if err := p.admin.Deposit(ctx, 12, "funding", "USDT", 5, "dep"); !errors.Is(err, transfers.ErrKeyRefused) {
		t.Fatalf("the refused deposit's key again: %v, want ErrKeyRefused", err)
	}
	if err := p.admin.Withdraw(ctx, 12, "funding", "USDT", 500, "wd"); !errors.Is(err, transfers.ErrInsufficientBalance) {
		t.Fatalf("withdrawing more than the balance: %v, want ErrInsufficientBalance", err)
	}
	if err := p.admin.Deposit(ctx, 12, "funding", "USDT", 5, "dep2"); err != nil {
		t.Fatalf("a new key: %v", err)
	}
	bal, err := p.svc.Balances(ctx, 12)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bal {
		if b.AccountType == "funding" && b.Asset == "USDT" && b.Available != ledger.U128(105) {
			t.Fatalf("funding USDT %+v, want 105 available", b)
		}
	}
}

func TestOverloadIsRefusedNotQueued(t *testing.T) {
	opts := defaultOptions()
	opts.InFlightMax = 1
	p := newPipeline(t, opts)
	ctx := context.Background()
	var wg sync.WaitGroup
	var overloaded atomic.Int64
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := p.svc.Submit(ctx, cmd(uint64(100+i), 1, ""))
			var re *transfers.RetryableError
			if errors.Is(err, transfers.ErrOverloaded) && errors.As(err, &re) && re.RetryAfter > 0 {
				overloaded.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if overloaded.Load() == 0 {
		t.Fatal("50 concurrent requests with in-flight max 1: none refused as overloaded")
	}
}

func TestIdleActorsStopAndComeBack(t *testing.T) {
	opts := defaultOptions()
	opts.IdleTimeout = 50 * time.Millisecond
	p := newPipeline(t, opts)
	ctx := context.Background()
	if err := p.admin.Deposit(ctx, 11, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := p.svc.Submit(ctx, cmd(11, 1, "")); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		// The actor stops in between: the live-actor count drops back.
		deadline := time.Now().Add(5 * time.Second)
		for p.svc.UserActors() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after submit %d: %d user actors still live 5 s later (idle timeout 50 ms)", i, p.svc.UserActors())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestIDGeneratorIsUniqueAndOrdered(t *testing.T) {
	g, err := transfers.NewIDGenerator(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[uint64]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := uint64(0)
			for i := 0; i < 20_000; i++ {
				id := g.Next()
				if id <= last {
					t.Errorf("id %d not above %d", id, last)
					return
				}
				last = id
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %d", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if _, err := transfers.NewIDGenerator(transfers.NodeIDMax+1, nil); err == nil {
		t.Fatal("node id out of range accepted")
	}
	if d := time.Since(transfers.IDTime(g.Next())); d < -time.Second || d > time.Second { // a burst may borrow ahead
		t.Fatalf("id time off by %v", d)
	}
}

// Ids a node issued before a restart, found again after its clock stepped
// back, cost the new requests a retry with a later id: they are held, and
// the stored requests stay as they were.
func TestStoredIDsAreSkipped(t *testing.T) {
	stepped := time.Now().Add(-time.Hour)
	clock := func() time.Time { return stepped }
	opts := defaultOptions()
	opts.Clock = clock
	p := newPipeline(t, opts)
	ctx := context.Background()
	const user = 9
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, "d1"); err != nil {
		t.Fatal(err)
	}
	// What the node issued at that time before its restart.
	before, err := transfers.NewIDGenerator(opts.NodeID, clock)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]store.Request{}
	for range 3 {
		req := store.Request{ID: before.Next(), UserID: 8, ToUserID: 8, FromAccountType: "funding", ToAccountType: "spot",
			Asset: "USDT", Amount: 1, Status: store.StatusRequesting, CreatedAt: stepped, UpdatedAt: stepped}
		req.PendingID = transfers.PendingID(req).Bytes()
		if _, created, err := p.store.Create(ctx, req); err != nil || !created {
			t.Fatalf("create %d: created %v, err %v", req.ID, created, err)
		}
		stored[req.ID] = req
	}
	for i := range 3 {
		req, err := p.svc.Submit(ctx, cmd(user, 10, ""))
		if err != nil || req.Status != store.StatusPending {
			t.Fatalf("submit %d: %+v, %v; want pending", i, req, err)
		}
		if _, ok := stored[req.ID]; ok {
			t.Fatalf("submit %d answered with the stored id %d", i, req.ID)
		}
	}
	for id, want := range stored {
		got, err := p.store.Get(ctx, id)
		if err != nil || got.UserID != want.UserID || got.Status != store.StatusRequesting || got.Amount != want.Amount {
			t.Fatalf("stored request %d is now %+v, %v", id, got, err)
		}
	}
}

// While the node may not issue ids, requests are refused unavailable before
// anything is written; afterwards they go through.
func TestNoRequestsWithoutIDs(t *testing.T) {
	var valid atomic.Bool
	opts := defaultOptions()
	opts.IDsValid = valid.Load
	p := newPipeline(t, opts)
	ctx := context.Background()
	const user = 11
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, "d1"); err != nil {
		t.Fatal(err)
	}
	req, err := p.svc.Submit(ctx, cmd(user, 10, "k1"))
	if !errors.Is(err, transfers.ErrUnavailable) || req.ID != 0 {
		t.Fatalf("submit without ids: %+v, %v; want ErrUnavailable and no request", req, err)
	}
	page, err := p.store.History(ctx, store.HistoryQuery{UserID: user, Limit: 10})
	if err != nil || len(page.Requests) != 0 {
		t.Fatalf("history after the refusal: %d requests, %v; want none", len(page.Requests), err)
	}
	valid.Store(true)
	if req, err := p.svc.Submit(ctx, cmd(user, 10, "k1")); err != nil || req.Status != store.StatusPending {
		t.Fatalf("submit with ids: %+v, %v; want pending", req, err)
	}
}

// A freeze or unfreeze whose ledger call failed may still land: it is
// answered as an unknown outcome, and the same call again learns it.
func TestFreezeCallFailureIsAnUnknownOutcome(t *testing.T) {
	var failing atomic.Bool
	p := newPipelineWith(t, defaultOptions(), func(l ledger.Ledger, _ store.Store) ledger.Ledger {
		return flakyLedger{Ledger: l, on: &failing}
	})
	ctx := context.Background()
	const user = 12
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, "d1"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		op   func(context.Context, uint64, string, string) error
	}{{"freeze", p.admin.Freeze}, {"unfreeze", p.admin.Unfreeze}} {
		failing.Store(true)
		if err := step.op(ctx, user, "funding", "USDT"); !errors.Is(err, transfers.ErrOutcomeUnknown) {
			t.Fatalf("%s with the ledger call failing: %v, want ErrOutcomeUnknown", step.name, err)
		}
		failing.Store(false)
		if err := step.op(ctx, user, "funding", "USDT"); err != nil {
			t.Fatalf("%s again: %v", step.name, err)
		}
	}
}

// BenchmarkPipeline measures the actor pipeline without HTTP: many users
// submitting through their actors, holds batched into the embedded ledger,
// requests recorded in the embedded store.
func BenchmarkPipeline(b *testing.B) {
	p := newPipeline(b, defaultOptions())
	ctx := context.Background()
	const users = 10_000
	for u := uint64(1); u <= users; u++ {
		if err := p.admin.Deposit(ctx, u, "funding", "USDT", 1<<40, ""); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(256)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := next.Add(1)%users + 1
			if _, err := p.svc.Submit(ctx, cmd(u, 1, "")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "transfers/s")
}

// TestActorStartResumesHalfDoneRequests: a request a crash left in
// requesting (recorded, no hold) is finished by its user's actor when it
// starts, before the user's next request runs.
func TestActorStartResumesHalfDoneRequests(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	const user = 21
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	half := store.Request{ID: 77_000_001, UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 60, Fingerprint: "fp", CreatedAt: time.Now().Add(-time.Minute)}
	half.PendingID = transfers.PendingID(half).Bytes()
	if _, created, err := p.store.Create(ctx, half); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	// The next request starts the actor: the half-done one holds first, so
	// this one (50 of the remaining 40) is refused.
	_, err := p.svc.Submit(ctx, cmd(user, 50, ""))
	if !errors.Is(err, transfers.ErrInsufficientBalance) {
		t.Fatalf("second request: %v, want ErrInsufficientBalance after the resumed hold of 60", err)
	}
	got, err := p.store.Get(ctx, half.ID)
	if err != nil || got.Status != store.StatusPending {
		t.Fatalf("half-done request is %s (%v), want pending", got.Status, err)
	}
}

// scannerFirst is a ledger on which every hold, once placed, is settled by
// "the scanner" before its answer reaches the gateway: the request is
// advanced to pending and then to success, as the scanner and settlement do
// when the gateway's hold call is slow.
type scannerFirst struct {
	ledger.Ledger
	store store.Store
}

func (l scannerFirst) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	res, err := l.Ledger.CreateTransfers(ctx, ts)
	if err != nil {
		return res, err
	}
	for _, t := range ts {
		if t.Flags&ledger.TransferPending == 0 {
			continue
		}
		for _, to := range []store.Status{store.StatusPending, store.StatusSuccess} {
			if _, err := l.store.Advance(ctx, t.UserData64, to, store.Outcome{}); err != nil {
				return nil, fmt.Errorf("scanner stand-in: advance %d to %s: %w", t.UserData64, to, err)
			}
		}
	}
	return res, nil
}

// A request the scanner finished while the gateway's hold call was in
// flight is answered with its final state, not a 503 telling the client to
// retry (which, without a key, would move the money a second time).
func TestHoldAnsweredAfterTheScannerFinishedIt(t *testing.T) {
	p := newPipelineWith(t, defaultOptions(), func(l ledger.Ledger, st store.Store) ledger.Ledger {
		return scannerFirst{Ledger: l, store: st}
	})
	ctx := context.Background()
	const user = 31
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	got, err := p.svc.Submit(ctx, cmd(user, 40, ""))
	if err != nil {
		t.Fatalf("Submit: %v, want the request as the scanner left it", err)
	}
	if got.Status != store.StatusSuccess {
		t.Fatalf("Submit answered %s, want success", got.Status)
	}
	if p.pub.n.Load() != 0 {
		t.Fatalf("published %d confirmations of a request already final", p.pub.n.Load())
	}
}

// slowHolds delays every ledger create by d: the ledger's answer comes after
// the request's deadline.
type slowHolds struct {
	ledger.Ledger
	d time.Duration
}

func (l slowHolds) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	time.Sleep(l.d)
	return l.Ledger.CreateTransfers(ctx, ts)
}

// A request answered plain ErrUnavailable ("nothing happened, retry later")
// must have left nothing behind: a client without a key would send it again.
// With the ledger slower than the deadline, a request the actor started is
// answered ErrOutcomeUnknown, and one it reaches after its deadline (queued
// behind a slow one of the same user) is refused untouched.
func TestTimedOutRequestIsNotAnsweredRetry(t *testing.T) {
	opts := defaultOptions()
	opts.RequestTimeout = 40 * time.Millisecond
	p := newPipelineWith(t, opts, func(l ledger.Ledger, _ store.Store) ledger.Ledger { return slowHolds{l, 80 * time.Millisecond} })
	ctx := context.Background()
	const user = 5
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 1_000_000, "d"); err != nil {
		t.Fatal(err)
	}
	var unavailable, unknown, other atomic.Int64
	var answeredUnavailable sync.Map // amount → true: each submit has its own amount
	submit := func(amount uint64) {
		sctx, cancel := context.WithTimeout(ctx, opts.RequestTimeout)
		defer cancel()
		_, err := p.svc.Submit(sctx, cmd(user, amount, ""))
		switch {
		case errors.Is(err, transfers.ErrOutcomeUnknown):
			unknown.Add(1)
		case errors.Is(err, transfers.ErrUnavailable):
			unavailable.Add(1)
			answeredUnavailable.Store(amount, true)
		default:
			other.Add(1)
		}
	}
	// One at a time, each starts (and its answer races its deadline);
	// then many at once, most reaching the actor late.
	const sequential, concurrent = 20, 20
	for i := range sequential {
		submit(uint64(1 + i))
	}
	var wg sync.WaitGroup
	for i := range concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			submit(uint64(1 + sequential + i))
		}()
	}
	wg.Wait()
	page, err := p.store.History(ctx, store.HistoryQuery{UserID: user, Limit: store.HistoryLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("answers: %d unavailable, %d outcome unknown, %d other; %d stored", unavailable.Load(), unknown.Load(), other.Load(), len(page.Requests))
	// An outcome-unknown answer may have left a request or not (one the
	// actor refused untouched, but after the caller stopped waiting); an
	// unavailable one must have left nothing.
	for _, r := range page.Requests {
		if _, bad := answeredUnavailable.Load(r.Amount); bad {
			t.Fatalf("request %d (amount %d) is stored, but its caller was answered \"unavailable, retry\"", r.ID, r.Amount)
		}
	}
	if unknown.Load() == 0 || unavailable.Load() == 0 {
		t.Fatalf("want both kinds of answer (started: outcome unknown; reached late: unavailable), got %d and %d", unknown.Load(), unavailable.Load())
	}
}

// A half-done request the catalog no longer has a ledger form for (its
// asset was removed from the config since) is left to the scanner, which
// reports it; it must not crash the user's actor at every start and so
// lock the user out.
func TestActorStartSkipsAnUnsettleableRequest(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	const user = 22
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	orphan := store.Request{ID: 77_000_002, UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "DOGE", Amount: 60, Fingerprint: "fp", CreatedAt: time.Now().Add(-time.Minute)}
	if _, created, err := p.store.Create(ctx, orphan); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := p.svc.Submit(sctx, cmd(user, 50, ""))
	if err != nil || req.Status != store.StatusPending {
		t.Fatalf("request after an unsettleable half-done one: %+v %v, want pending", req, err)
	}
	if got, err := p.store.Get(ctx, orphan.ID); err != nil || got.Status != store.StatusRequesting {
		t.Fatalf("the unsettleable request is %s (%v), want it left requesting for the scanner", got.Status, err)
	}
}

// A client's keyed retry of such a half-done request (its asset renamed
// with the same ledger number, so the fingerprint still matches) is
// answered at once with "outcome unknown" and left to the scanner; it must
// not crash the actor, which would leave the retry and every request queued
// behind it to wait out their deadlines, and stop the actor for good after
// its restart limit.
func TestRetryOfAnUnsettleableKeyedRequest(t *testing.T) {
	opts := defaultOptions()
	opts.RequestTimeout = 2 * time.Second
	p := newPipeline(t, opts)
	ctx := context.Background()
	const user = 23
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	c := cmd(user, 60, "k1")
	orphan := store.Request{ID: 77_000_003, UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "DOGE", Amount: 60, IdempotencyKey: "k1", Fingerprint: c.Fingerprint, CreatedAt: time.Now().Add(-time.Minute)}
	orphan.PendingID = transfers.PendingID(orphan).Bytes()
	if _, created, err := p.store.Create(ctx, orphan); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if _, err := p.svc.Submit(ctx, cmd(user, 1, "")); err != nil { // the actor is up (its start skipped the orphan)
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		_, err := p.svc.Submit(ctx, c)
		if !errors.Is(err, transfers.ErrOutcomeUnknown) || time.Since(start) > opts.RequestTimeout/2 {
			t.Fatalf("retry %d: %v after %v, want outcome unknown at once", i, err, time.Since(start))
		}
	}
	if req, err := p.svc.Submit(ctx, cmd(user, 50, "")); err != nil || req.Status != store.StatusPending {
		t.Fatalf("next request of the user: %+v %v, want pending", req, err)
	}
	if got, err := p.store.Get(ctx, orphan.ID); err != nil || got.Status != store.StatusRequesting {
		t.Fatalf("the unsettleable request is %s (%v), want it left requesting for the scanner", got.Status, err)
	}
}

// A replay answers the original result. A request refused at its hold (a
// frozen source) answered ACCOUNT_FROZEN and answers it again; one that
// was pending and failed later in settlement (its frozen destination
// refused the post, so the hold was voided) answered pending, and its
// replay is the request itself, failed, not a refusal it never had.
func TestReplayOfARequestFailedInSettlementIsTheRequest(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	const user = 24
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	c := cmd(user, 10, "settled-later")
	req, err := p.svc.Submit(ctx, c)
	if err != nil || req.Status != store.StatusPending {
		t.Fatalf("submit: %+v %v", req, err)
	}
	// What settlement does when the frozen destination refuses the post.
	asset, _ := p.catalog.Asset("USDT")
	if res, err := p.ledger.CreateTransfers(ctx, []ledger.Transfer{transfers.VoidTransfer(req, asset.Ledger)}); err != nil || len(res) != 0 {
		t.Fatalf("void: %v %v", res, err)
	}
	if _, err := p.store.Advance(ctx, req.ID, store.StatusFailed, store.Outcome{ErrorCode: "ACCOUNT_FROZEN", ErrorMessage: "account frozen"}); err != nil {
		t.Fatal(err)
	}
	got, err := p.svc.Submit(ctx, c)
	if err != nil || got.ID != req.ID || got.Status != store.StatusFailed || got.ErrorCode != "ACCOUNT_FROZEN" {
		t.Fatalf("replay of a request failed in settlement: %+v %v; want the request, failed, and no error", got, err)
	}

	if err := p.admin.Freeze(ctx, user, "funding", "USDT"); err != nil {
		t.Fatal(err)
	}
	c = cmd(user, 10, "refused-at-hold")
	first, err := p.svc.Submit(ctx, c)
	if !errors.Is(err, transfers.ErrAccountFrozen) {
		t.Fatalf("submit from a frozen account: %+v %v, want ErrAccountFrozen", first, err)
	}
	again, err := p.svc.Submit(ctx, c)
	if !errors.Is(err, transfers.ErrAccountFrozen) || again.ID != first.ID {
		t.Fatalf("replay of a request refused at its hold: %+v %v; want request %d with ErrAccountFrozen again", again, err, first.ID)
	}
}

// TestCloseAnswersQueuedRequests: Close lets every user actor finish the
// requests already in its mailbox before it stops, so a graceful shutdown
// answers each of them (here: pending) instead of leaving its caller to
// wait out the deadline for "outcome unknown".
func TestCloseAnswersQueuedRequests(t *testing.T) {
	opts := defaultOptions()
	opts.RequestTimeout = 5 * time.Second
	var held atomic.Bool
	gate := make(chan struct{})
	p := newPipelineWith(t, opts, func(l ledger.Ledger, _ store.Store) ledger.Ledger { return heldWhile{l, &held, gate} })
	ctx := context.Background()
	const user, n = 7, 10
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 1_000_000, "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.svc.Submit(ctx, cmd(user, 1, "warm")); err != nil { // the actor is up
		t.Fatal(err)
	}
	// Every hold waits at the gate, so all n requests are queued at the
	// user's actor (counted into its depth, past Submit's closed check)
	// before Close begins.
	held.Store(true)
	results := make(chan error, n)
	for i := range n {
		go func() {
			_, err := p.svc.Submit(ctx, cmd(user, 1, fmt.Sprintf("q%d", i)))
			results <- err
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); p.svc.UserDepth(user) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests queued at the actor after 5 s", p.svc.UserDepth(user), n)
		}
	}
	begin := time.Now()
	closed := closeBegun(t, p.svc)
	close(gate) // the queued requests go on, after Close began
	select {
	case <-closed:
	case <-time.After(2*opts.RequestTimeout + 5*time.Second):
		t.Fatal("Close did not return")
	}
	closeTook := time.Since(begin)
	pending := 0
	for range n {
		select {
		case err := <-results:
			if err != nil {
				t.Errorf("a request queued at Close: %v, want it finished", err)
				continue
			}
			pending++
		case <-time.After(2 * time.Second):
			t.Fatalf("a request queued at Close was not answered within 2 s of Close's return (Close took %v)", closeTook)
		}
	}
	page, err := p.store.History(ctx, store.HistoryQuery{UserID: user, Limit: store.HistoryLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(page.Requests); got != 1+pending {
		t.Fatalf("%d requests stored, want %d (the warm-up and every one answered pending)", got, 1+pending)
	}
	if pending != n {
		t.Fatalf("%d of %d requests queued at Close were finished", pending, n)
	}
	if _, err := p.svc.Submit(ctx, cmd(user, 1, "late")); !errors.Is(err, transfers.ErrUnavailable) {
		t.Fatalf("a request after Close: %v, want ErrUnavailable", err)
	}
	t.Logf("Close took %v", closeTook)
}

// heldWhile holds every ledger create while on is set, until gate is
// closed (or the call's context ends).
type heldWhile struct {
	ledger.Ledger
	on   *atomic.Bool
	gate chan struct{}
}

func (l heldWhile) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	if l.on.Load() {
		select {
		case <-l.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return l.Ledger.CreateTransfers(ctx, ts)
}

// TestUserActorsStayWithinTheirMax: live user actors never exceed
// UserActorsMax. A new user's actor retires the longest-unused idle one;
// when every live actor has work queued, the new user is refused overloaded
// (retryable, nothing stored) until one is free.
func TestUserActorsStayWithinTheirMax(t *testing.T) {
	opts := defaultOptions()
	opts.UserActorsMax = 4
	slow, gate := &atomic.Bool{}, make(chan struct{})
	p := newPipelineWith(t, opts, func(l ledger.Ledger, _ store.Store) ledger.Ledger { return heldWhile{l, slow, gate} })
	ctx := context.Background()
	for user := uint64(1); user <= 9; user++ {
		if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
			t.Fatal(err)
		}
	}
	evictedBefore := userActorsEvicted(t)
	for user := uint64(1); user <= 8; user++ {
		if _, err := p.svc.Submit(ctx, cmd(user, 1, "")); err != nil {
			t.Fatalf("user %d: %v", user, err)
		}
		if n := p.svc.UserActors(); n > opts.UserActorsMax {
			t.Fatalf("after user %d: %d live user actors, max %d", user, n, opts.UserActorsMax)
		}
	}
	if got, want := p.svc.LiveUsers(), map[uint64]bool{5: true, 6: true, 7: true, 8: true}; !maps.Equal(got, want) {
		t.Fatalf("live users %v, want the four most recent %v", got, want)
	}
	if got := userActorsEvicted(t) - evictedBefore; got != 4 {
		t.Fatalf("internal_transfer_user_actors_evicted_total grew by %d, want 4", got)
	}

	// Every live actor busy: the ninth user is refused, untouched.
	slow.Store(true)
	var wg sync.WaitGroup
	for user := uint64(5); user <= 8; user++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.svc.Submit(ctx, cmd(user, 1, "")); err != nil {
				t.Errorf("busy user %d: %v", user, err)
			}
		}()
	}
	for user := uint64(5); user <= 8; user++ { // all four counted into their actors
		for deadline := time.Now().Add(5 * time.Second); p.svc.UserDepth(user) == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("user %d's request did not reach its actor within 5 s", user)
			}
		}
	}
	_, err := p.svc.Submit(ctx, cmd(9, 1, "refused"))
	var re *transfers.RetryableError
	if !errors.Is(err, transfers.ErrOverloaded) || !errors.As(err, &re) {
		t.Fatalf("new user with every actor busy: %v, want retryable ErrOverloaded", err)
	}
	close(gate)
	wg.Wait()
	slow.Store(false)
	if page, err := p.store.History(ctx, store.HistoryQuery{UserID: 9, Limit: store.HistoryLimitMax}); err != nil || len(page.Requests) != 0 {
		t.Fatalf("refused user's history: %d requests, err %v; want none", len(page.Requests), err)
	}
	if _, err := p.svc.Submit(ctx, cmd(9, 1, "refused")); err != nil {
		t.Fatalf("new user once actors are idle: %v", err)
	}
	if n := p.svc.UserActors(); n > opts.UserActorsMax || int64(n) != p.svc.LiveCount() {
		t.Fatalf("%d live user actors (counted %d), max %d", n, p.svc.LiveCount(), opts.UserActorsMax)
	}
}

// TestEvictionCandidatesAreFoundAhead: at the cap, a new user's actor
// retires one a background walk picked before it came, so no new user
// waits for a walk of every route; the longest unused still go first, and
// a candidate used since the walk is passed over.
func TestEvictionCandidatesAreFoundAhead(t *testing.T) {
	opts := defaultOptions()
	opts.UserActorsMax = 200 // batches of 3: a background walk keeps 6
	p := newPipeline(t, opts)
	ctx := context.Background()
	submit := func(user uint64) {
		t.Helper()
		// Nothing deposited: refused, but the actor starts and is used.
		if _, err := p.svc.Submit(ctx, cmd(user, 1, "")); !errors.Is(err, transfers.ErrInsufficientBalance) {
			t.Fatalf("user %d: %v, want ErrInsufficientBalance", user, err)
		}
		for deadline := time.Now().Add(10 * time.Second); p.svc.EvictionWalking(); time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatal("background eviction walk did not report within 10 s")
			}
		}
	}
	for user := uint64(1); user <= 200; user++ {
		submit(user)
	}
	inlineBefore, evictedBefore := p.svc.InlineWalks(), userActorsEvicted(t)
	for user := uint64(201); user <= 260; user++ {
		submit(user)
	}
	if got := p.svc.InlineWalks() - inlineBefore; got != 0 {
		t.Errorf("%d of 60 new users at the cap waited for an eviction walk, want 0", got)
	}
	if got := userActorsEvicted(t) - evictedBefore; got != 60 {
		t.Errorf("internal_transfer_user_actors_evicted_total grew by %d, want 60", got)
	}
	want := map[uint64]bool{}
	for user := uint64(61); user <= 260; user++ {
		want[user] = true
	}
	if got := p.svc.LiveUsers(); !maps.Equal(got, want) {
		t.Fatalf("live users: %d, want users 61-260 (the most recent 200)", len(got))
	}

	// User 61 is the next candidate; used again, it is passed over for 62.
	submit(61)
	submit(261)
	if live := p.svc.LiveUsers(); !live[61] || live[62] || !live[261] || len(live) != 200 {
		t.Fatalf("after using 61 and adding 261: 61 live %v, 62 live %v, 261 live %v, %d live; want true, false, true, 200",
			live[61], live[62], live[261], len(live))
	}
}

// TestEvictionListDropsStaleCandidates: candidates used (or stopped) since
// their walk are dropped off the list before it counts as full, so a new
// walk starts ahead of the cap instead of a new user at the cap waiting for
// one.
func TestEvictionListDropsStaleCandidates(t *testing.T) {
	opts := defaultOptions()
	opts.UserActorsMax = 200 // batches of 3: a background walk keeps 6
	p := newPipeline(t, opts)
	submit := func(user uint64) {
		t.Helper()
		if _, err := p.svc.Submit(context.Background(), cmd(user, 1, "")); !errors.Is(err, transfers.ErrInsufficientBalance) {
			t.Fatalf("user %d: %v, want ErrInsufficientBalance", user, err)
		}
		for deadline := time.Now().Add(10 * time.Second); p.svc.EvictionWalking(); time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatal("background eviction walk did not report within 10 s")
			}
		}
	}
	for user := uint64(1); user <= 198; user++ { // the walk at 197 lists 1 to 6
		submit(user)
	}
	for user := uint64(1); user <= 6; user++ { // the whole list, used again
		submit(user)
	}
	inlineBefore := p.svc.InlineWalks()
	for user := uint64(199); user <= 201; user++ { // 201 is the first at the cap
		submit(user)
	}
	if got := p.svc.InlineWalks() - inlineBefore; got != 0 {
		t.Errorf("%d new users waited for an eviction walk, want 0", got)
	}
	if live := p.svc.LiveUsers(); !live[1] || live[7] || !live[201] || len(live) != 200 {
		t.Fatalf("1 live %v, 7 live %v, 201 live %v, %d live; want true, false, true, 200", live[1], live[7], live[201], len(live))
	}
}

// userActorsEvicted reads internal_transfer_user_actors_evicted_total.
func userActorsEvicted(t *testing.T) int {
	t.Helper()
	var b bytes.Buffer
	metrics.WritePrometheus(&b, false)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "internal_transfer_user_actors_evicted_total "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// TestReplayedRefusalKeepsItsReason: a crash between a refused hold and its
// record leaves the request requesting with its hold id pinned as failed in
// the ledger; when the user's actor resumes it, the ledger answers only
// id_already_failed, and the reason is re-derived from the accounts instead
// of always reading INSUFFICIENT_BALANCE.
func TestReplayedRefusalKeepsItsReason(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	cases := []struct {
		name    string
		user    uint64
		to      uint64 // another user: funding→funding across users
		amount  uint64 // of a balance of 100
		prepare func(user uint64)
		code    string
	}{
		{"short balance", 41, 41, 1_000, func(uint64) {}, "INSUFFICIENT_BALANCE"},
		{"frozen", 42, 42, 50, func(user uint64) {
			if err := p.admin.Freeze(ctx, user, "funding", "USDT"); err != nil {
				t.Fatal(err)
			}
		}, "ACCOUNT_FROZEN"},
		{"no destination account", 43, 4_300_000, 50, func(uint64) {}, "ACCOUNT_NOT_FOUND"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := p.admin.Deposit(ctx, c.user, "funding", "USDT", 100, ""); err != nil {
				t.Fatal(err)
			}
			c.prepare(c.user)
			half := store.Request{ID: 78_000_001 + uint64(i), UserID: c.user, ToUserID: c.to, FromAccountType: "funding", ToAccountType: "spot",
				Asset: "USDT", Amount: c.amount, Fingerprint: "fp", CreatedAt: time.Now().Add(-time.Minute)}
			if c.to != c.user {
				half.ToAccountType = "funding"
			}
			half.PendingID = transfers.PendingID(half).Bytes()
			if _, created, err := p.store.Create(ctx, half); err != nil || !created {
				t.Fatalf("create: %v %v", created, err)
			}
			hold, err := p.catalog.HoldTransfer(half)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.ledger.CreateTransfers(ctx, []ledger.Transfer{hold})
			if err != nil || len(res) != 1 {
				t.Fatalf("first hold: %v %v, want refused", res, err)
			}
			if again, _ := p.ledger.CreateTransfers(ctx, []ledger.Transfer{hold}); len(again) != 1 || again[0].Result != ledger.TransferIDAlreadyFailed {
				t.Fatalf("replayed hold: %v, want id_already_failed", again)
			}
			// The next request starts the actor, which resumes the half-done one.
			_, _ = p.svc.Submit(ctx, cmd(c.user, 1, ""))
			got, err := p.store.Get(ctx, half.ID)
			if err != nil || got.Status != store.StatusFailed || got.ErrorCode != c.code {
				t.Fatalf("resumed request: %s %q (%v), want failed %s (first refusal: %s)", got.Status, got.ErrorCode, err, c.code, res[0].Result)
			}
		})
	}
}

// countingAccounts counts the ledger's CreateAccounts calls.
type countingAccounts struct {
	ledger.Ledger
	n *atomic.Int64
}

func (l countingAccounts) CreateAccounts(ctx context.Context, as []ledger.Account) ([]ledger.AccountEventResult, error) {
	l.n.Add(1)
	return l.Ledger.CreateAccounts(ctx, as)
}

// TestReturningUserCreatesNoAccounts: a user's actor ensures the user's
// ledger accounts on its first request; once they exist (a frozen one
// included), a fresh actor finds them with a lookup and writes nothing to
// the ledger.
func TestReturningUserCreatesNoAccounts(t *testing.T) {
	opts := defaultOptions()
	opts.IdleTimeout = 50 * time.Millisecond
	creates := &atomic.Int64{}
	p := newPipelineWith(t, opts, func(l ledger.Ledger, _ store.Store) ledger.Ledger { return countingAccounts{l, creates} })
	ctx := context.Background()
	const user = 51
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.admin.Freeze(ctx, user, "spot", "BTC"); err != nil {
		t.Fatal(err)
	}
	submitAfterIdle := func() {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); p.svc.UserActors() != 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the user's actor did not stop for idleness")
			}
		}
		if _, err := p.svc.Submit(ctx, cmd(user, 1, "")); err != nil {
			t.Fatal(err)
		}
	}
	if creates.Load() == 0 { // the deposit made the user's accounts through this ledger
		t.Fatal("no CreateAccounts call counted")
	}
	first := creates.Load()
	for range 3 {
		submitAfterIdle() // a fresh actor each time
	}
	if got := creates.Load() - first; got != 0 {
		t.Fatalf("returning user: %d CreateAccounts calls over 3 actor starts, want 0 (every account exists)", got)
	}
}

// TestActorStartLooksBackOnlyItsWindow: an actor start finishes its user's
// recent half-done requests and leaves older ones to the scanner, so its
// history scan is bounded however many requests the user ever made.
func TestActorStartLooksBackOnlyItsWindow(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	const user = 61
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	half := func(id uint64, age time.Duration) store.Request {
		req := store.Request{ID: id, UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
			Asset: "USDT", Amount: 10, Fingerprint: "fp", CreatedAt: time.Now().Add(-age)}
		req.PendingID = transfers.PendingID(req).Bytes()
		if _, created, err := p.store.Create(ctx, req); err != nil || !created {
			t.Fatalf("create: %v %v", created, err)
		}
		return req
	}
	recent, old := half(79_000_001, time.Minute), half(79_000_002, time.Hour)
	if _, err := p.svc.Submit(ctx, cmd(user, 1, "")); err != nil { // starts the actor
		t.Fatal(err)
	}
	if got, err := p.store.Get(ctx, recent.ID); err != nil || got.Status != store.StatusPending {
		t.Fatalf("recent half-done request: %s (%v), want pending", got.Status, err)
	}
	if got, err := p.store.Get(ctx, old.ID); err != nil || got.Status != store.StatusRequesting {
		t.Fatalf("hour-old half-done request: %s (%v), want requesting (the scanner's)", got.Status, err)
	}
}

// countHandler counts the log records whose message is msg.
type countHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// TestPublishFailuresCountedAndLogLimited: a confirmation that cannot be
// published (Kafka out) leaves its request pending for the scanner, counts
// in internal_transfer_stream_errors, and is logged at most once a second,
// not once per request.
func TestPublishFailuresCountedAndLogLimited(t *testing.T) {
	var logged atomic.Int64
	opts := defaultOptions()
	opts.Logger = slog.New(countHandler{msg: "cannot publish confirmation; the scanner will re-drive it", n: &logged})
	p := newPipeline(t, opts)
	ctx := context.Background()
	const user, n = 7, 20
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 1_000, "d"); err != nil {
		t.Fatal(err)
	}
	down := errors.New("brokers unreachable")
	p.pub.fail.Store(&down)
	streamErrors := metrics.GetOrCreateCounter("internal_transfer_stream_errors")
	before := streamErrors.Get()
	start := time.Now()
	for i := range n {
		req, err := p.svc.Submit(ctx, cmd(user, 1, fmt.Sprintf("k%d", i)))
		if err != nil || req.Status != store.StatusPending {
			t.Fatalf("transfer %d with Kafka out: %s, %v; want pending", i, req.Status, err)
		}
	}
	took := time.Since(start)
	if got := streamErrors.Get() - before; got != n {
		t.Errorf("internal_transfer_stream_errors rose by %d, want %d", got, n)
	}
	if most := 1 + int64(took/time.Second); logged.Load() < 1 || logged.Load() > most {
		t.Errorf("%d log lines for %d failed publishes in %v, want 1..%d", logged.Load(), n, took, most)
	}
}

// TestCloseWaitsForARequestPastItsCheck: a request that passed Submit's
// closed check but has not reached its actor when Close begins is still
// finished (pending), because Close waits for every request counted in
// before it stops the actors. Without that wait the actor would be gone
// when the request is sent.
func TestCloseWaitsForARequestPastItsCheck(t *testing.T) {
	p := newPipeline(t, defaultOptions())
	ctx := context.Background()
	const user = 7
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 1_000, "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.svc.Submit(ctx, cmd(user, 1, "warm")); err != nil { // the actor is up
		t.Fatal(err)
	}
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p.svc.SetAfterClosedCheck(func() {
		once.Do(func() {
			close(arrived)
			<-release
		})
	})
	type answer struct {
		req store.Request
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		req, err := p.svc.Submit(ctx, cmd(user, 1, "between"))
		answered <- answer{req, err}
	}()
	<-arrived
	closed := closeBegun(t, p.svc)
	close(release)
	select {
	case a := <-answered:
		if a.err != nil || a.req.Status != store.StatusPending {
			t.Fatalf("a request past the closed check when Close began: %s, %v; want pending", a.req.Status, a.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the request was not answered")
	}
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return")
	}
}

// closeBegun runs svc.Close in the background and returns once it has
// begun; the channel closes when Close returns.
func closeBegun(t *testing.T, svc *transfers.Service) <-chan struct{} {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		svc.Close()
		close(closed)
	}()
	for deadline := time.Now().Add(5 * time.Second); !svc.Closing(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Close did not begin within 5 s")
		}
	}
	return closed
}
