package settlement

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// The scanner drives each kind of stuck request from the ledger's record;
// a consumer runs beside it to post what it re-publishes.
func TestScanner(t *testing.T) {
	e := newEnv(t, "", 2)
	e.fund(1, 1_000)
	e.fund(2, 0) // no funds
	svc := e.startService(e.options(time.Hour))
	sc := svc.Scanner()
	const old = 5 * time.Second // past the grace period

	tests := []struct {
		name     string
		setup    func() store.Request
		want     store.Status
		wantCode string
	}{
		{"requesting with hold present", func() store.Request {
			req := e.create(e.request(1, 1, 10, old))
			e.hold(req) // the gateway crashed before writing pending
			return req
		}, store.StatusSuccess, ""},
		{"requesting with hold absent and funds present", func() store.Request {
			return e.create(e.request(1, 1, 20, old))
		}, store.StatusSuccess, ""},
		{"requesting with hold absent and funds missing", func() store.Request {
			return e.create(e.request(2, 2, 10, old))
		}, store.StatusFailed, CodeInsufficientBalance},
		{"requesting towards a missing account", func() store.Request {
			return e.create(e.request(1, 999, 10, old))
		}, store.StatusFailed, CodeAccountNotFound},
		{"requesting from a frozen account", func() store.Request {
			e.fund(3, 100)
			e.freeze(e.accountID(3, "funding"))
			return e.create(e.request(3, 3, 10, old))
		}, store.StatusFailed, CodeAccountFrozen},
		{"requesting whose refused hold went unrecorded (id already failed)", func() store.Request {
			e.fund(4, 100)
			e.freeze(e.accountID(4, "funding"))
			req := e.create(e.request(4, 4, 10, old))
			hold, err := e.catalog.HoldTransfer(req)
			if err != nil {
				t.Fatal(err)
			}
			// The gateway's hold was refused, then it crashed before
			// recording why: the ledger pinned the id as failed.
			if res, err := e.ledger.CreateTransfers(context.Background(), []ledger.Transfer{hold}); err != nil || len(res) != 1 {
				t.Fatalf("first hold: %v %v, want refused", res, err)
			}
			return req
		}, store.StatusFailed, CodeAccountFrozen},
		{"pending never published", func() store.Request {
			req := e.create(e.request(1, 1, 30, old))
			e.hold(req)
			return e.markPending(req)
		}, store.StatusSuccess, ""},
		{"pending already posted (crash before the store update)", func() store.Request {
			req := e.create(e.request(1, 1, 40, old))
			e.hold(req)
			req = e.markPending(req)
			e.createOK(ledgerPost(e, req))
			return req
		}, store.StatusSuccess, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.setup()
			stats, err := sc.RunOnce(context.Background())
			if err != nil {
				t.Fatalf("RunOnce: %v", err)
			}
			if stats.Driven == 0 || stats.Open == 0 {
				t.Fatalf("scanner saw nothing: %+v", stats)
			}
			got := e.waitFinal(5*time.Second, req.ID)[req.ID]
			if got.Status != tt.want || got.ErrorCode != tt.wantCode {
				t.Fatalf("ended %s %q, want %s %q", got.Status, got.ErrorCode, tt.want, tt.wantCode)
			}
			e.checkAgrees(svc.Settler(), map[uint64]store.Request{req.ID: got})
		})
	}
}

func ledgerPost(e *env, req store.Request) ledger.Transfer {
	a, _ := e.catalog.Asset(req.Asset)
	return transfers.PostTransfer(req, a.Ledger)
}

// The scanner leaves young requests to the gateway, never voids an open
// hold because of its age, and keeps the pending and stuck gauges exact.
func TestScannerGraceAndGauges(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	settler := NewSettler(e.settlerOptions()) // no consumer: holds stay open
	sc := NewScanner(settler, e.store, ScannerOptions{Grace: 30 * time.Second, StuckThreshold: time.Minute,
		CriticalThreshold: 2 * time.Minute, Logger: e.log})

	young := e.create(e.request(1, 1, 10, 0))
	stuck := e.create(e.request(1, 1, 20, 3*time.Minute))
	e.hold(stuck)
	stuck = e.markPending(stuck)

	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Open != 2 || stats.Stuck != 1 || stats.Driven != 1 || stats.Critical != 1 {
		t.Fatalf("stats %+v, want 2 open, 1 stuck, 1 driven (the old one), 1 critical", stats)
	}
	if pendingGauge.Get() != 2 || stuckGauge.Get() != 1 {
		t.Fatalf("gauges pending %v stuck %v, want 2 and 1", pendingGauge.Get(), stuckGauge.Get())
	}
	if got := e.get(young.ID); got.Status != store.StatusRequesting {
		t.Fatalf("young request touched: %s", got.Status)
	}
	if got := e.get(stuck.ID); got.Status != store.StatusPending {
		t.Fatalf("old open hold became %s; the scanner must not void on age", got.Status)
	}
	if _, dpend, _, _ := e.balances(e.accountID(1, "funding")); dpend != 20 {
		t.Fatalf("debits pending %d, want the hold of 20 kept", dpend)
	}
	report, err := sc.StuckReport(context.Background())
	if err != nil || len(report) != 1 || report[0].ID != stuck.ID {
		t.Fatalf("StuckReport = %v, %v; want the stuck request only", report, err)
	}
}

func TestScannerBoundedRun(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	settler := NewSettler(e.settlerOptions())
	sc := NewScanner(settler, e.store, ScannerOptions{Grace: time.Millisecond, PerRunMax: 3, PageSize: 2, Logger: e.log})
	for i := range 5 {
		e.create(e.request(2, 2, uint64(1+i), time.Second)) // no accounts: each fails
	}
	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Driven != 3 || stats.Final != 3 {
		t.Fatalf("first run %+v, want 3 driven and final (PerRunMax)", stats)
	}
	stats, err = sc.RunOnce(context.Background())
	if err != nil || stats.Driven != 2 || stats.Open != 2 {
		t.Fatalf("second run %+v, %v; want the last 2", stats, err)
	}
}

// Requests that stay open pass after pass (here: an asset no longer
// configured) do not use up every run: the next run goes on where the last
// stopped, so a newer request behind them is driven too.
func TestScannerGoesOnWhereItStopped(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	settler := NewSettler(e.settlerOptions())
	sc := NewScanner(settler, e.store, ScannerOptions{Grace: time.Millisecond, PerRunMax: 2, PageSize: 2, Logger: e.log})
	for i := range 4 {
		stale := e.request(1, 1, uint64(1+i), time.Minute+time.Duration(i)*time.Second)
		stale.Asset = "GONE"
		e.create(stale)
	}
	fresh := e.create(e.request(2, 2, 5, time.Second)) // no accounts: driving fails it
	var final int
	for run := range 3 {
		stats, err := sc.RunOnce(context.Background())
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		final += stats.Final
	}
	if got := e.get(fresh.ID); got.Status != store.StatusFailed || final != 1 {
		t.Fatalf("the newer request is %s after three runs of 2 (%d final); want failed, driven in the third", got.Status, final)
	}
}

// A hold id taken by another ledger transfer (exists_with_different_*)
// decides the request as the gateway decides it: taken by an older
// request's hold (an idempotency key reused after its store record
// expired, so both derive the same id), the request moved no money and
// fails with IDEMPOTENCY_CONFLICT instead of being retried forever; taken
// by its own hold in another form, nothing may fail it and Drive says so.
func TestDriveHoldIDTakenByAnotherTransfer(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	settler := NewSettler(e.settlerOptions())
	ctx := context.Background()
	const old = 5 * time.Second

	older := e.create(e.request(1, 1, 10, old))
	e.hold(older)
	reused := e.request(1, 1, 25, old)
	reused.PendingID = older.PendingID // same user and key: same hold id
	reused = e.create(reused)
	got, err := settler.Drive(ctx, reused)
	if err != nil {
		t.Fatalf("Drive of the request whose key was reused: %v", err)
	}
	if got.Status != store.StatusFailed || got.ErrorCode != "IDEMPOTENCY_CONFLICT" {
		t.Fatalf("request whose key was reused ended %s %q, want failed IDEMPOTENCY_CONFLICT", got.Status, got.ErrorCode)
	}
	if _, held, _, _ := e.balances(e.accountID(1, "funding")); held != 10 {
		t.Fatalf("held %d, want only the older request's 10", held)
	}

	own := e.request(1, 1, 30, old)
	own = e.create(own)
	changed, err := e.catalog.HoldTransfer(own)
	if err != nil {
		t.Fatal(err)
	}
	changed.Amount = ledger.U128(31) // the request's own hold, in another form
	e.createOK(changed)
	if _, err := settler.Drive(ctx, own); err == nil {
		t.Fatal("Drive of a request whose own hold differs: no error, want one for an operator")
	}
	if cur, err := e.store.Get(ctx, own.ID); err != nil || cur.Status != store.StatusRequesting {
		t.Fatalf("request whose own hold differs is %s (%v), want still requesting", cur.Status, err)
	}
}

// countingPublisher counts the confirmations it is asked to publish.
type countingPublisher struct {
	Publisher
	n atomic.Int64
}

func (p *countingPublisher) Publish(ctx context.Context, req store.Request) error {
	p.n.Add(1)
	return p.Publisher.Publish(ctx, req)
}

// The scanner re-publishes an open hold at most once per RepublishEvery,
// not on every run: a settlement backlog is not multiplied by copies.
func TestScannerRepublishIsSpaced(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	opts := e.settlerOptions()
	pub := &countingPublisher{Publisher: opts.Publisher}
	opts.Publisher = pub
	settler := NewSettler(opts) // no consumer: the hold stays open
	const every = 2 * time.Second
	sc := NewScanner(settler, e.store, ScannerOptions{Grace: time.Second, RepublishEvery: every, Logger: e.log})
	open := e.create(e.request(1, 1, 10, time.Minute))
	e.hold(open)
	e.markPending(open)

	runs := func(n int) {
		for range n {
			if _, err := sc.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	runs(3)
	if time.Since(start) >= every {
		t.Skipf("3 runs took %v, longer than RepublishEvery: this box is too slow for the test", time.Since(start))
	}
	if n := pub.n.Load(); n != 1 {
		t.Fatalf("%d publishes in 3 runs, want 1", n)
	}
	time.Sleep(every)
	runs(1)
	if n := pub.n.Load(); n != 2 {
		t.Fatalf("%d publishes after RepublishEvery, want 2", n)
	}
}

// uncountable is a store whose CountOpen always fails (a store that times
// out counting a large open set).
type uncountable struct{ store.Store }

func (uncountable) CountOpen(context.Context, time.Time) (store.OpenCounts, error) {
	return store.OpenCounts{}, errors.New("count timed out")
}

// A count that fails keeps the gauges as they were but not the scanner from
// driving the open requests: the pass finishes them and says it could not
// count.
func TestScannerDrivesWhenItCannotCount(t *testing.T) {
	e := newEnv(t, "", 1)
	settler := NewSettler(e.settlerOptions())
	sc := NewScanner(settler, uncountable{e.store}, ScannerOptions{Grace: time.Millisecond, Logger: e.log})
	req := e.create(e.request(2, 2, 10, time.Second)) // no accounts: the pass fails it
	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce with a failing count: %v", err)
	}
	if !stats.CountFailed || stats.Driven != 1 || stats.Final != 1 {
		t.Fatalf("stats %+v, want the count failed and the request driven to a final state", stats)
	}
	if got := e.get(req.ID); got.Status != store.StatusFailed {
		t.Fatalf("request %s after the pass, want failed", got.Status)
	}
}

// damagedRows is a store whose listed requests in damaged cannot be read:
// ListOpen names them in Unreadable, in their places, as a store does for a
// damaged row.
type damagedRows struct {
	store.Store
	damaged map[uint64]bool
}

func (d damagedRows) ListOpen(ctx context.Context, q store.OpenQuery) (store.OpenPage, error) {
	p, err := d.Store.ListOpen(ctx, q)
	readable := p.Requests[:0]
	for _, r := range p.Requests {
		if d.damaged[r.ID] {
			p.Unreadable = append(p.Unreadable, r.ID)
		} else {
			readable = append(readable, r)
		}
	}
	p.Requests = readable
	return p, err
}

// Unreadable requests are reported (an error log with the id, and
// internal_transfer_db_errors) and passed over: a page made only of them
// does not end the pass, and the requests behind them are driven.
func TestScannerPassesOverUnreadableRequests(t *testing.T) {
	e := newEnv(t, "", 1)
	settler := NewSettler(e.settlerOptions())
	logged := &messageCounter{n: map[string]int{}}
	damaged := map[uint64]bool{}
	for i := range 3 {
		damaged[e.create(e.request(2, 2, 10, time.Minute+time.Duration(3-i)*time.Second)).ID] = true
	}
	req := e.create(e.request(2, 2, 10, time.Second)) // no accounts: the pass fails it
	sc := NewScanner(settler, damagedRows{e.store, damaged}, ScannerOptions{Grace: time.Millisecond, PageSize: 2,
		Logger: slog.New(logged)})
	errorsBefore := dbErrors.Get()
	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Unreadable != 3 || stats.Driven != 1 || stats.Final != 1 {
		t.Fatalf("stats %+v, want 3 unreadable passed over and the newer request driven to a final state", stats)
	}
	if got := e.get(req.ID); got.Status != store.StatusFailed {
		t.Fatalf("request behind the unreadable ones is %s, want failed", got.Status)
	}
	logged.mu.Lock()
	n := logged.n["open transfer request unreadable: its stored row is damaged or missing; the scanner passes over it"]
	logged.mu.Unlock()
	if n != 3 {
		t.Errorf("%d error logs of unreadable requests, want 3", n)
	}
	if d := dbErrors.Get() - errorsBefore; d != 3 {
		t.Errorf("internal_transfer_db_errors rose by %d, want 3", d)
	}
}

// partlyCountable is a store that counts only part of its open requests
// (ScyllaDB past its row or time bound), as lower bounds.
type partlyCountable struct{ store.Store }

func (partlyCountable) CountOpen(context.Context, time.Time) (store.OpenCounts, error) {
	return store.OpenCounts{Requesting: 700_000, Pending: 300_000, Stuck: 250_000, Partial: true}, nil
}

// A partial count is not a store error: it sets the gauges to its lower
// bounds (a long outage's backlog must show, not the figures from before it)
// and adds nothing to internal_transfer_db_errors, which DatabaseDown watches.
func TestScannerPartialCountSetsGaugesWithoutAnError(t *testing.T) {
	e := newEnv(t, "", 1)
	settler := NewSettler(e.settlerOptions())
	sc := NewScanner(settler, partlyCountable{e.store}, ScannerOptions{Grace: time.Millisecond, Logger: e.log})
	errorsBefore := dbErrors.Get()
	for pass := 0; pass < 2; pass++ {
		stats, err := sc.RunOnce(context.Background())
		if err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		if stats.CountFailed || !stats.CountPartial || stats.Open != 1_000_000 || stats.Stuck != 250_000 {
			t.Fatalf("pass %d: stats %+v, want a partial count of 1,000,000 open and 250,000 stuck", pass, stats)
		}
		if pendingGauge.Get() != 1_000_000 || stuckGauge.Get() != 250_000 {
			t.Fatalf("pass %d: gauges pending %v stuck %v, want the lower bounds", pass, pendingGauge.Get(), stuckGauge.Get())
		}
	}
	if got := dbErrors.Get() - errorsBefore; got != 0 {
		t.Fatalf("%d store errors counted for partial counts, want 0", got)
	}
}

// downPublisher refuses every record (Kafka out, or its buffer full).
type downPublisher struct{}

func (downPublisher) Publish(context.Context, store.Request) error {
	return errors.New("stream: producer buffer full")
}

// messageCounter counts log records by message.
type messageCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *messageCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *messageCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return nil
}
func (h *messageCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *messageCounter) WithGroup(string) slog.Handler      { return h }

// A pass whose requests all fail to drive (here: nothing can be published)
// logs the first failure and one line for the rest, not one per request.
func TestScannerSumsUpItsFailures(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	logs := &messageCounter{n: map[string]int{}}
	opts := e.settlerOptions()
	opts.Publisher = downPublisher{}
	sc := NewScanner(NewSettler(opts), e.store, ScannerOptions{Grace: time.Millisecond, Logger: slog.New(logs)})
	const n = 5
	for i := range n {
		req := e.create(e.request(1, 1, uint64(10+i), time.Second))
		e.hold(req)
		e.markPending(req) // pending, never published: the scanner publishes it
	}
	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Errors < 1 || stats.Errors+stats.PublishDeferred != n || stats.Final != 0 {
		t.Fatalf("stats %+v, want all %d requests left open by the publish error or deferred after it", stats, n)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	first, rest := logs.n["scanner could not drive request"], logs.n["scanner could not drive more requests this pass; they are retried next pass"]
	if first != 1 || rest != min(stats.Errors-1, 1) {
		t.Fatalf("logged %d single and %d summary lines for %d failures, want 1 and %d", first, rest, stats.Errors, min(stats.Errors-1, 1))
	}
}

// gatePublisher holds each Publish until want of them are in flight at once
// (or a timeout), then lets them all through; it records the most in flight.
type gatePublisher struct {
	want     int64
	inFlight atomic.Int64
	most     atomic.Int64
	n        atomic.Int64
	open     chan struct{}
	once     sync.Once
}

func (p *gatePublisher) Publish(ctx context.Context, req store.Request) error {
	p.n.Add(1)
	now := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for most := p.most.Load(); now > most && !p.most.CompareAndSwap(most, now); most = p.most.Load() {
	}
	if now >= p.want {
		p.once.Do(func() { close(p.open) })
	}
	select {
	case <-p.open:
		return nil
	case <-time.After(time.Second):
		return nil // never gathered: sequential publishing shows as most == 1
	}
}

// The scanner drives a page's users at once: their re-publishes overlap
// (one at a time, each waited out the producer's linger and the ack, under
// 100 a second).
func TestScannerRepublishesAPageAtOnce(t *testing.T) {
	e := newEnv(t, "", 1)
	const n = 40
	for u := uint64(1); u <= n; u++ {
		e.fund(u, 1_000)
	}
	opts := e.settlerOptions()
	pub := &gatePublisher{want: 8, open: make(chan struct{})}
	opts.Publisher = pub
	sc := NewScanner(NewSettler(opts), e.store, ScannerOptions{Grace: time.Millisecond, Logger: e.log})
	for i := range n {
		u := uint64(i + 1) // one request per user: users are driven at once
		req := e.create(e.request(u, u, uint64(10+i), time.Second))
		e.hold(req)
		e.markPending(req) // pending, never published: the scanner publishes it
	}
	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Driven != n || stats.Errors != 0 || pub.n.Load() != n {
		t.Fatalf("stats %+v, %d published; want all %d driven and published", stats, pub.n.Load(), n)
	}
	if most := pub.most.Load(); most < pub.want {
		t.Fatalf("at most %d publishes in flight at once, want at least %d", most, pub.want)
	}
}

// slowDownPublisher fails each Publish after a delay, as a producer whose
// brokers are unreachable fails at its deadline.
type slowDownPublisher struct {
	n  atomic.Int64
	up atomic.Bool // Kafka back: publishes succeed at once
}

func (p *slowDownPublisher) Publish(ctx context.Context, req store.Request) error {
	p.n.Add(1)
	if p.up.Load() {
		return nil
	}
	time.Sleep(20 * time.Millisecond)
	return errors.New("no ack before the deadline")
}

// Once a re-publish fails, the rest of the pass publishes nothing (each
// would wait out its own timeout: a pass over thousands of holds took hours
// with Kafka down); the deferred holds stay pending for the next pass, and
// the pass still finishes what the ledger decided.
func TestScannerStopsPublishingAfterAFailure(t *testing.T) {
	e := newEnv(t, "", 1)
	const users = 30
	for u := uint64(1); u <= users; u++ {
		e.fund(u, 100_000)
	}
	opts := e.settlerOptions()
	pub := &slowDownPublisher{}
	opts.Publisher = pub
	sc := NewScanner(NewSettler(opts), e.store, ScannerOptions{Grace: time.Millisecond, PageSize: 100, Logger: e.log})
	const n = 300
	for i := range n {
		u := uint64(i%users + 1)
		req := e.create(e.request(u, u, uint64(10+i), time.Second))
		e.hold(req)
		e.markPending(req)
	}
	posted := e.create(e.request(1, 1, 5, 500*time.Millisecond)) // newest: on the last page
	e.hold(posted)
	e.markPending(posted)
	pending := ledger.Uint128FromBytes(posted.PendingID)
	e.createOK(ledger.Transfer{ID: ledger.PostID(pending), PendingID: pending, Amount: ledger.AmountMax,
		Flags: ledger.TransferPostPendingTransfer}) // the ledger decided it; the pass must still record it
	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if calls := pub.n.Load(); calls > 2*scanDriveConcurrency {
		t.Fatalf("%d publishes tried after the first failed, want at most the first wave", calls)
	}
	if stats.Driven != n+1 || stats.Errors+stats.PublishDeferred != n || stats.Final != 1 {
		t.Fatalf("stats %+v, want %d driven, %d failed or deferred, 1 final", stats, n+1, n)
	}
	if got := e.get(posted.ID); got.Status != store.StatusSuccess {
		t.Fatalf("posted request is %s after the pass, want success", got.Status)
	}
	// With Kafka back, the next pass publishes every hold: none that was
	// deferred was marked published (it would wait out RepublishEvery).
	pub.n.Store(0)
	pub.up.Store(true)
	if _, err := sc.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := pub.n.Load(); got != n {
		t.Fatalf("the next pass published %d holds, want all %d", got, n)
	}
}

// One user's requests are driven oldest first, one after another: of two
// requesting requests that the user's balance covers only one of, the older
// gets the hold and the newer fails, for every user of the page.
func TestScannerDrivesAUsersRequestsInOrder(t *testing.T) {
	e := newEnv(t, "", 1)
	const users = 24
	var older, newer []store.Request
	for u := uint64(1); u <= users; u++ {
		e.fund(u, 100)
		older = append(older, e.create(e.request(u, u, 80, 2*time.Second)))
		newer = append(newer, e.create(e.request(u, u, 80, time.Second)))
	}
	// The older holds reach the ledger late, as a slow call would: driven at
	// once, each newer hold would take the funds first.
	slow := &slowHolds{Ledger: e.ledger, ids: map[ledger.Uint128]bool{}}
	for _, r := range older {
		slow.ids[ledger.Uint128FromBytes(r.PendingID)] = true
	}
	opts := e.settlerOptions()
	opts.Ledger = slow
	sc := NewScanner(NewSettler(opts), e.store, ScannerOptions{Grace: time.Millisecond, Logger: e.log})
	if _, err := sc.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range older {
		o, n := e.get(older[i].ID), e.get(newer[i].ID)
		if o.Status == store.StatusFailed || n.Status != store.StatusFailed {
			t.Fatalf("user %d: older request %s, newer %s (%s); want the older held and the newer failed",
				older[i].UserID, o.Status, n.Status, n.ErrorCode)
		}
	}
}

// slowHolds delays the creation of the listed transfers.
type slowHolds struct {
	ledger.Ledger
	ids map[ledger.Uint128]bool // read-only once the scanner runs
}

func (l *slowHolds) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	for _, t := range ts {
		if l.ids[t.ID] {
			time.Sleep(50 * time.Millisecond)
			break
		}
	}
	return l.Ledger.CreateTransfers(ctx, ts)
}
