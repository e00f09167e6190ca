package load

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exchange/internal-transfer/bench/verify"
)

const (
	pathTransfer = "/api/v1/user/internal_transfer"
	pathDeposit  = "/admin/v1/deposit"
	doneRingMax  = 4096 // answered requests remembered for idempotent retries
	pickTries    = 8    // random picks for an idle user before dropping an arrival
	fundWorkers  = 64
	tokenTTL     = 24 * time.Hour
)

// finished is an answered transfer a client retry may re-send.
type finished struct {
	u         *user
	body      []byte
	requestID string
}

// runner is one run's shared state.
type runner struct {
	o      Options
	api    *client
	admin  *client
	users  []*user
	st     *stats
	sem    chan struct{} // in-flight transfers
	settle chan struct{} // settlement polls in flight
	wg     sync.WaitGroup

	settling atomic.Int64 // sampled transfers being polled until final

	deadline atomic.Int64 // unix ns after which unknown outcomes stop being retried
	loadEnd  atomic.Int64 // unix ns the load phase ended; 0 while it runs

	ringMu sync.Mutex
	ring   []finished
	ringAt int

	expMu sync.Mutex
	exp   []verify.ExpectedRequest
}

// Run funds the users, offers load for the duration, then waits until every
// transfer has a definitive answer (or the drain deadline passed) and
// returns the result and the expectations.
func Run(ctx context.Context, o Options) (*Result, *verify.Expectations, error) {
	if err := o.validate(); err != nil {
		return nil, nil, err
	}
	users, err := makeUsers(&o, tokenTTL)
	if err != nil {
		return nil, nil, err
	}
	conns := o.InFlightMax + o.SettlePollers
	if o.Rate == 0 {
		conns = o.Concurrency + o.SettlePollers
	}
	r := &runner{o: o, users: users, st: newStats(),
		api: newClient(o.APIAddr, conns, o.RequestTimeout), admin: newClient(o.AdminAddr, fundWorkers, o.RequestTimeout),
		sem: make(chan struct{}, o.InFlightMax), settle: make(chan struct{}, max(1, o.SettlePollers))}
	r.deadline.Store(math.MaxInt64)
	r.logf("funding %d users (%d..%d) with %s %s each", o.Users, o.UserBase, o.UserBase+uint64(o.Users)-1,
		appendAmount(nil, o.Fund, o.Decimals), o.Asset)
	fundStart := time.Now()
	if err := r.fund(ctx); err != nil {
		return nil, nil, err
	}
	r.logf("funded in %.1f s; offering load", time.Since(fundStart).Seconds())
	start := time.Now()
	r.st.begin(start)
	if o.Rate > 0 {
		r.openLoop(ctx, start)
	} else {
		r.closedLoop(ctx, start)
	}
	end := time.Now()
	r.loadEnd.Store(end.UnixNano())
	r.deadline.Store(end.Add(o.DrainTimeout).UnixNano())
	r.logf("load phase done after %.1f s; waiting for every answer (at most %s)", end.Sub(start).Seconds(), o.DrainTimeout)
	r.wg.Wait()
	drained := time.Now()
	return r.result(start, end, drained), r.expectations(), nil
}

func (r *runner) logf(format string, args ...any) {
	if r.o.Log != nil {
		fmt.Fprintf(r.o.Log, "loadgen: "+format+"\n", args...)
	}
}

// violation reports a broken promise of the service on stderr, always.
func (r *runner) violation(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: VIOLATION "+format+"\n", args...)
}

// stopped reports whether the load phase is over.
func (r *runner) stopped(ctx context.Context, start time.Time) bool {
	if ctx.Err() != nil || (r.o.Duration > 0 && time.Since(start) >= r.o.Duration) {
		return true
	}
	select {
	case <-r.o.Stop:
		return true
	default:
		return false
	}
}

// openLoop launches arrivals at the target rate whatever the answers do;
// arrivals beyond the in-flight cap are dropped and counted.
func (r *runner) openLoop(ctx context.Context, start time.Time) {
	next := start
	for !r.stopped(ctx, start) {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(min(wait, 100*time.Millisecond))
			continue
		}
		r.st.inc("offered", 1)
		select {
		case r.sem <- struct{}{}:
			r.wg.Add(1)
			go func(due time.Time) {
				defer r.wg.Done()
				defer func() { <-r.sem }()
				r.one(due)
			}(next)
		default:
			r.st.inc("dropped_inflight_cap", 1)
		}
		gap := 1 / r.o.Rate
		if r.o.Poisson {
			gap = rand.ExpFloat64() / r.o.Rate
		}
		next = next.Add(time.Duration(gap * float64(time.Second)))
	}
}

// closedLoop runs Concurrency workers that each send the next transfer as
// soon as the previous one is answered.
func (r *runner) closedLoop(ctx context.Context, start time.Time) {
	var wg sync.WaitGroup
	for range r.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !r.stopped(ctx, start) {
				r.st.inc("offered", 1)
				r.one(time.Now())
			}
		}()
	}
	wg.Wait()
}

// fund deposits o.Fund on every user's funding account through the admin
// API, with an idempotency key per user so a retried deposit lands once.
func (r *runner) fund(ctx context.Context) error {
	work := make(chan *user)
	errs := make(chan error, fundWorkers)
	var wg sync.WaitGroup
	deadline := time.Now().Add(r.o.DrainTimeout)
	for range fundWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				if err := r.deposit(u, deadline); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, u := range r.users {
		select {
		case work <- u:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

func (r *runner) deposit(u *user, deadline time.Time) error {
	body := []byte(`{"user_id":` + strconv.FormatUint(u.id, 10) + `,"account_type":"funding","asset":"` + r.o.Asset +
		`","amount":"` + string(appendAmount(nil, r.o.Fund, r.o.Decimals)) + `","idempotency_key":"` + r.o.RunID + "-f-" + strconv.FormatUint(u.id, 36) + `"}`)
	auth := []byte("Bearer " + r.o.AdminToken)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		a := r.admin.do("POST", "http://"+r.o.AdminAddr+pathDeposit, auth, body)
		switch {
		case a.status == 200:
			u.mu.Lock()
			u.funded, u.bal[funding] = true, r.o.Fund
			u.mu.Unlock()
			return nil
		case a.definitive():
			return fmt.Errorf("cannot fund user %d: HTTP %d %s", u.id, a.status, a.code)
		case attempt >= r.o.AttemptsMax || time.Now().After(deadline):
			return fmt.Errorf("cannot fund user %d: no definitive answer after %d attempts (last: HTTP %d %v)", u.id, attempt, a.status, a.err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, r.o.BackoffMax)
	}
}
