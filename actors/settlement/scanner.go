package settlement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/store"
)

// Scanner defaults, used for zero option fields.
const (
	DefaultScannerInterval   = 5 * time.Second
	DefaultGrace             = 2 * time.Second
	DefaultStuckThreshold    = 30 * time.Minute
	DefaultCriticalThreshold = 2 * time.Hour
	DefaultScanPerRunMax     = 5_000
	DefaultScanPageSize      = 500
	DefaultRepublishEvery    = 30 * time.Second
	// scanDriveConcurrency is how many users of a page the scanner drives
	// at once (each user's requests in order). One request at a time, each
	// re-publish waited out the producer's linger and the brokers' ack
	// (about 11 ms against the in-process broker: under 100 requests a
	// second), and each ledger lookup its own round trip; at once, the
	// lookups share ledger batches and the publishes share produce requests.
	scanDriveConcurrency = 32
)

// ScannerOptions configures NewScanner.
type ScannerOptions struct {
	Interval          time.Duration // between runs (settlement.scanner_interval_ms)
	Grace             time.Duration // a request younger than this is left to the gateway and settlement
	StuckThreshold    time.Duration // older open requests count in internal_transfer_stuck_count
	CriticalThreshold time.Duration // older open requests are logged at error level with their id
	PerRunMax         int           // requests driven per run, at most
	PageSize          int           // requests per store.ListOpen page, 1..store.OpenLimitMax
	// RepublishEvery spaces the scanner's publishes of one request's
	// confirmation: an open hold is published again only this long after
	// the scanner last published it, so a settlement backlog is not
	// multiplied by a copy of each of its records every Interval.
	RepublishEvery time.Duration
	Logger         *slog.Logger
}

func (o ScannerOptions) withDefaults() ScannerOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultScannerInterval
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.StuckThreshold <= 0 {
		o.StuckThreshold = DefaultStuckThreshold
	}
	if o.CriticalThreshold < o.StuckThreshold {
		o.CriticalThreshold = max(DefaultCriticalThreshold, o.StuckThreshold)
	}
	if o.PerRunMax <= 0 {
		o.PerRunMax = DefaultScanPerRunMax
	}
	if o.PageSize <= 0 || o.PageSize > store.OpenLimitMax {
		o.PageSize = DefaultScanPageSize
	}
	if o.RepublishEvery <= 0 {
		o.RepublishEvery = DefaultRepublishEvery
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Scanner periodically drives open requests older than the grace period to
// a final state (Settler.Drive) and keeps the pending and stuck gauges.
type Scanner struct {
	settler *Settler
	store   store.Store
	opts    ScannerOptions

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	lastErr error

	runMu     sync.Mutex           // one RunOnce at a time
	pubMu     sync.Mutex           // guards published: a page's requests are driven at once
	published map[uint64]time.Time // when the scanner last published each request
	// resume is where the last run stopped (it used up PerRunMax, its
	// list failed or it was cancelled): the next run goes on from there, so
	// requests that stay open pass after pass (an asset removed from
	// config, a hold that mismatches) cannot use up every run's budget and
	// starve the newer ones behind them.
	resume string
	// countedPartial says the last count was partial (its warning is
	// logged once per stretch of partial counts).
	countedPartial bool
}

// RunStats is what one scanner run did.
type RunStats struct {
	Open, Stuck, Critical int  // counted by the store (lower bounds when CountPartial)
	Driven                int  // requests looked at
	Final                 int  // of those, now final
	Errors                int  // of those, left open by an error (retried next run)
	CountFailed           bool // the store could not count: Open and Stuck are unknown
	CountPartial          bool // the store counted part of a large open set: Open and Stuck are lower bounds
	// PublishDeferred counts open holds not re-published because a publish
	// failed earlier in the pass (Kafka down or its buffer full): each would
	// wait out its own timeout, so they wait for the next pass instead.
	PublishDeferred int
	// Unreadable counts open requests the store could not read (damaged
	// rows: store.OpenPage.Unreadable), each logged with its id and counted
	// in internal_transfer_db_errors; the pass goes on past them.
	Unreadable int
}

// NewScanner returns a stopped scanner.
func NewScanner(settler *Settler, st store.Store, opts ScannerOptions) *Scanner {
	if settler == nil || st == nil {
		panic("BUG: settlement.NewScanner needs a Settler and a Store")
	}
	return &Scanner{settler: settler, store: st, opts: opts.withDefaults()}
}

// Start runs the scanner every Interval until Stop.
func (sc *Scanner) Start() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc.cancel, sc.done = cancel, make(chan struct{})
	go sc.loop(ctx, sc.done)
}

func (sc *Scanner) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	ticker := time.NewTicker(sc.opts.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		_, err := sc.RunOnce(ctx)
		sc.mu.Lock()
		sc.lastErr = err
		sc.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			sc.opts.Logger.Warn("scanner run failed", "err", err)
		}
	}
}

// Stop ends the loop, waiting within ctx for a run in progress.
func (sc *Scanner) Stop(ctx context.Context) error {
	sc.mu.Lock()
	cancel, done := sc.cancel, sc.done
	sc.cancel = nil
	sc.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cannot stop scanner: %w", ctx.Err())
	}
}

// LastError is the error of the last periodic run, nil if it succeeded.
func (sc *Scanner) LastError() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.lastErr
}

// Running reports whether the loop runs.
func (sc *Scanner) Running() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.cancel != nil
}

// RunOnce counts open requests and drives those past the grace period, at
// most PerRunMax of them, oldest first from where the last run stopped
// (see resume); a run that reaches the newest makes the next one start
// from the oldest again. A failed count is logged and
// counted (internal_transfer_db_errors, RunStats.CountFailed); the pass
// drives the requests all the same.
func (sc *Scanner) RunOnce(ctx context.Context) (_ RunStats, err error) {
	// The gauges exist from a scanner's first pass on: a gateway's idle
	// scanner (asked only for stuck reports) must not export a pending
	// count of 0 beside settlement's real one.
	registerScannerGauges()
	sc.runMu.Lock()
	defer sc.runMu.Unlock()
	started := time.Now()
	defer func() {
		scannerDuration.UpdateDuration(started)
		if err == nil {
			scannerRuns.Inc() // completed passes: SettlementScannerStalled watches it
		}
	}()
	sc.pubMu.Lock()
	for id, at := range sc.published {
		if started.Sub(at) >= sc.opts.RepublishEvery {
			delete(sc.published, id)
		}
	}
	sc.pubMu.Unlock()
	var stats RunStats
	if counts, err := sc.count(ctx, started); err != nil {
		// The counts only feed the gauges, which keep their last values:
		// a count that fails (or outlasts its timeout over a large open
		// set) must not keep the scanner from driving requests.
		stats.CountFailed = true
		sc.opts.Logger.Warn("scanner could not count open requests; driving them anyway", "err", err)
	} else {
		// A partial count (ScyllaDB with more open rows than it reads in a
		// pass) still sets the gauges: lower bounds that keep rising through
		// a long outage beat the last exact figures from before it.
		stats.Open, stats.Stuck = counts.Requesting+counts.Pending, counts.Stuck
		stats.CountPartial = counts.Partial
		pendingGauge.Set(float64(stats.Open))
		stuckGauge.Set(float64(stats.Stuck))
		if counts.Partial && !sc.countedPartial {
			sc.opts.Logger.Warn("scanner counted only part of the open requests; the pending and stuck gauges are lower bounds",
				"open_at_least", stats.Open, "stuck_at_least", stats.Stuck)
		}
		sc.countedPartial = counts.Partial
	}

	q := store.OpenQuery{Before: started.Add(-sc.opts.Grace), Limit: sc.opts.PageSize, Cursor: sc.resume}
	sc.resume = ""
	critical := started.Add(-sc.opts.CriticalThreshold)
	pass := &passState{stats: &stats}
	for stats.Driven+stats.Unreadable < sc.opts.PerRunMax {
		q.Limit = min(sc.opts.PageSize, sc.opts.PerRunMax-stats.Driven-stats.Unreadable)
		page, err := sc.list(ctx, q)
		if err != nil {
			sc.resume = q.Cursor // this page again
			return stats, err
		}
		sc.drivePage(ctx, page.Requests, critical, pass)
		if ctx.Err() != nil {
			break // this page again: some of it may not have been driven
		}
		sc.reportUnreadable(page.Unreadable, &stats) // once per page, after the ctx check that reads it again
		if page.NextCursor == "" || len(page.Requests)+len(page.Unreadable) == 0 {
			q.Cursor = ""
			break
		}
		q.Cursor = page.NextCursor
	}
	sc.resume = q.Cursor // "" when this run reached the newest
	if stats.Errors > 1 {
		sc.opts.Logger.Warn("scanner could not drive more requests this pass; they are retried next pass", "more", stats.Errors-1)
	}
	if stats.PublishDeferred > 0 {
		sc.opts.Logger.Warn("scanner stopped re-publishing for this pass after a publish failed; those holds wait for the next pass",
			"deferred", stats.PublishDeferred)
	}
	return stats, ctx.Err()
}

// reportUnreadable logs and counts the open requests a page could not read.
// Nothing can drive them (their rows are damaged or missing) and they must
// not stop the scan of the others; an operator repairs them by id, from the
// ledger (docs/runbook.md, "Stuck transfers").
func (sc *Scanner) reportUnreadable(ids []uint64, stats *RunStats) {
	for _, id := range ids {
		stats.Unreadable++
		dbErrors.Inc()
		sc.opts.Logger.Error("open transfer request unreadable: its stored row is damaged or missing; the scanner passes over it",
			"request_id", id)
	}
}

// passState is what the drives of one pass share.
type passState struct {
	mu    sync.Mutex
	stats *RunStats
	// publishDown is set by the first failed re-publish of the pass: the
	// rest of the pass publishes nothing (PublishDeferred).
	publishDown atomic.Bool
}

// drivePage drives reqs, scanDriveConcurrency at a time, and returns when
// all are done. One user's requests are driven one after another, oldest
// first as listed: a requesting request re-submits its hold, and an older
// one must not lose the user's funds to a newer one because they ran at once.
func (sc *Scanner) drivePage(ctx context.Context, reqs []store.Request, critical time.Time, pass *passState) {
	var (
		byUser = make(map[uint64]int, len(reqs))
		groups [][]int // indexes into reqs, per user, in list order
	)
	for i := range reqs {
		g, ok := byUser[reqs[i].UserID]
		if !ok {
			g = len(groups)
			byUser[reqs[i].UserID] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(scanDriveConcurrency, len(groups)) {
		wg.Go(func() {
			for g := next.Add(1) - 1; g < int64(len(groups)); g = next.Add(1) - 1 {
				for _, i := range groups[g] {
					sc.driveOne(ctx, reqs[i], critical, pass)
				}
			}
		})
	}
	wg.Wait()
}

func (sc *Scanner) driveOne(ctx context.Context, req store.Request, critical time.Time, pass *passState) {
	scannerDriven.Inc()
	pass.mu.Lock()
	pass.stats.Driven++
	if req.CreatedAt.Before(critical) {
		pass.stats.Critical++
		sc.opts.Logger.Error("transfer request stuck past the critical threshold",
			"request_id", req.ID, "status", req.Status.String(), "created_at", req.CreatedAt,
			"age", time.Since(req.CreatedAt).Round(time.Second).String())
	}
	pass.mu.Unlock()
	deferred := false
	got, err := sc.settler.drive(ctx, req, func(id uint64) bool {
		if pass.publishDown.Load() {
			deferred = true
			return false
		}
		return sc.mayPublish(id)
	})
	if err != nil {
		if errors.Is(err, errRepublish) {
			pass.publishDown.Store(true)
		}
		sc.forgetPublished(req.ID) // a failed publish is retried next run
		pass.mu.Lock()
		defer pass.mu.Unlock()
		if pass.stats.Errors++; pass.stats.Errors == 1 { // the rest are summed up at the end of the pass
			sc.opts.Logger.Warn("scanner could not drive request", "request_id", req.ID, "err", err)
		}
		return
	}
	pass.mu.Lock()
	defer pass.mu.Unlock()
	if deferred {
		pass.stats.PublishDeferred++
	}
	if got.Status.Final() {
		pass.stats.Final++
	}
}

// mayPublish lets the scanner publish request id unless it did within
// RepublishEvery.
func (sc *Scanner) mayPublish(id uint64) bool {
	sc.pubMu.Lock()
	defer sc.pubMu.Unlock()
	if _, recent := sc.published[id]; recent {
		return false
	}
	if sc.published == nil {
		sc.published = make(map[uint64]time.Time)
	}
	sc.published[id] = time.Now()
	return true
}

func (sc *Scanner) forgetPublished(id uint64) {
	sc.pubMu.Lock()
	delete(sc.published, id)
	sc.pubMu.Unlock()
}

func (sc *Scanner) count(ctx context.Context, now time.Time) (store.OpenCounts, error) {
	cctx, cancel := deadline.Within(ctx, sc.settler.callTimeout)
	defer cancel()
	counts, err := sc.store.CountOpen(cctx, now.Add(-sc.opts.StuckThreshold))
	if err != nil {
		dbErrors.Inc()
		return counts, fmt.Errorf("cannot count open requests: %w", err)
	}
	return counts, nil
}

func (sc *Scanner) list(ctx context.Context, q store.OpenQuery) (store.OpenPage, error) {
	cctx, cancel := deadline.Within(ctx, sc.settler.callTimeout)
	defer cancel()
	page, err := sc.store.ListOpen(cctx, q)
	if err != nil {
		dbErrors.Inc()
		return page, fmt.Errorf("cannot list open requests: %w", err)
	}
	return page, nil
}
