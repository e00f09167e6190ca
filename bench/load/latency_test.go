package load

import (
	"context"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/bench/verify"
	"github.com/valyala/fasthttp"
)

// answerServer answers every request on loopback with handle(n), n counting
// the requests it got; by default 200 pending with request id n.
func answerServer(t *testing.T, handle func(n int64, ctx *fasthttp.RequestCtx)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		i := n.Add(1)
		if handle != nil {
			handle(i, ctx)
			return
		}
		pending(strconv.FormatInt(i, 10))(i, ctx)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// latencyRunner is a runner of users funded users against addr, offering
// funding→spot transfers only.
func latencyRunner(addr string, users int) *runner {
	o := Defaults()
	o.APIAddr, o.Mix, o.SettleSample, o.Poisson, o.Users = addr, Mix{}, 0, false, users
	r := &runner{o: o, st: newStats(), api: newClient(addr, 256, o.RequestTimeout),
		sem: make(chan struct{}, o.InFlightMax), settle: make(chan struct{}, 1)}
	r.deadline.Store(math.MaxInt64)
	for i := range users {
		r.users = append(r.users, &user{id: uint64(i + 1), auth: []byte("Bearer x"), funded: true, bal: [2]uint64{o.Fund, 0}})
	}
	return r
}

// Coordinated omission: when the generator itself stalls (here its stats
// mutex, held 300 ms; in a run a GC pause, or the dispatcher waiting for a
// CPU the service holds), the arrivals due meanwhile go out late. A
// transfer's latency runs from when it was due, so the stall shows, while
// each HTTP attempt alone stayed fast.
func TestOpenLoopLatencyRunsFromTheSchedule(t *testing.T) {
	r := latencyRunner(answerServer(t, nil), 2000)
	r.o.Rate, r.o.Duration = 1000, time.Second
	start := time.Now()
	r.st.begin(start)
	go func() {
		time.Sleep(200 * time.Millisecond)
		r.st.mu.Lock()
		time.Sleep(300 * time.Millisecond)
		r.st.mu.Unlock()
	}()
	r.openLoop(context.Background(), start)
	r.wg.Wait()
	transfer, attempt, lag := quantiles(r.st.transfersOK), quantiles(r.st.accepted), quantiles(r.st.lag)
	t.Logf("accepted transfers: count %d p99 %.1f ms max %.1f ms; attempts: p99 %.1f ms; send lag max %.1f ms",
		transfer.Count, transfer.P99, transfer.Max, attempt.P99, lag.Max)
	if transfer.Count < 900 {
		t.Fatalf("%d transfers accepted of 1000 offered", transfer.Count)
	}
	if transfer.Max < 200 || lag.Max < 200 {
		t.Errorf("arrivals waited out a 300 ms stall of the generator, but the worst transfer took %.1f ms and the worst send lag was %.1f ms",
			transfer.Max, lag.Max)
	}
}

// A transfer whose first attempt timed out is timed from its start to the
// answer of its retry, and the attempt counts as a timeout (the
// connection's read deadline fires first: once counted as a connection
// error) at its elapsed time.
func TestTimedOutAttemptIsTimedAndCounted(t *testing.T) {
	addr := answerServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		if n == 1 {
			time.Sleep(700 * time.Millisecond) // past the attempt's timeout
		}
		pending("1")(n, ctx)
	})
	r := latencyRunner(addr, 1)
	r.o.RequestTimeout = 300 * time.Millisecond
	r.api = newClient(addr, 4, r.o.RequestTimeout)
	r.api.hc.ReadTimeout = 200 * time.Millisecond // the connection's deadline fires first
	due := time.Now()
	a, definitive := r.send(r.users[0], []byte(`{}`))
	r.st.transfer(due, &a)
	counts := r.st.snapshot()
	transfer, all := quantiles(r.st.transfersOK), quantiles(r.st.all)
	if !definitive || a.status != 200 {
		t.Fatalf("answer %+v definitive %v, want 200", a, definitive)
	}
	if counts["attempt_timeout"] != 1 || counts["attempt_conn_error"] != 0 {
		t.Errorf("counters %v: want one attempt_timeout and no attempt_conn_error", counts)
	}
	if transfer.Max < 200 || all.Max < 200 {
		t.Errorf("a transfer behind a 200 ms timeout: transfer max %.1f ms, attempts max %.1f ms (count %d); want both ≥ 200",
			transfer.Max, all.Max, all.Count)
	}
}

// A 429 after an attempt whose outcome is unknown settles nothing (the
// limit is checked before the idempotency key): send retries, and books the
// transfer by the answer that speaks of the request.
func TestRateLimitAfterAnUnknownOutcomeIsRetried(t *testing.T) {
	r := latencyRunner(answerServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		switch n {
		case 1:
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"UNAVAILABLE","message":"m","details":{"request_id":"9"}}}`)
		case 2:
			ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
			ctx.Response.Header.Set("Retry-After", "0")
			ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"RATE_LIMITED","message":"m"}}`)
		default:
			pending("9")(n, ctx)
		}
	}), 1)
	a, definitive := r.send(r.users[0], []byte(`{}`))
	if !definitive || a.status != 200 || a.requestID != "9" {
		t.Fatalf("after 503 (request 9, outcome unknown) and 429: answer HTTP %d request %q definitive %v; want the retry's 200 for request 9",
			a.status, a.requestID, definitive)
	}
	if got := r.st.snapshot()["rate_limited_after_unknown"]; got != 1 {
		t.Errorf("rate_limited_after_unknown = %d, want 1", got)
	}
	// A 429 to a first attempt is definitive: nothing was created.
	r2 := latencyRunner(answerServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
		ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"RATE_LIMITED","message":"m"}}`)
	}), 1)
	if a, definitive := r2.send(r2.users[0], []byte(`{}`)); !definitive || a.status != 429 {
		t.Fatalf("a first attempt answered 429: HTTP %d definitive %v, want a definitive 429", a.status, definitive)
	}
}

// Which accepted transfers are polled until final is decided before their
// answer is looked at: an answer already final is not recorded more often
// than a pending one is sampled.
func TestSettleSamplingIgnoresTheAnswer(t *testing.T) {
	r := latencyRunner("127.0.0.1:1", 1)
	r.o.SettleSample = 0
	r.sampleSettle(r.users[0], &answer{status: 200, state: "success", requestID: "2", at: time.Now()})
	if n := r.st.settle.TotalCount(); n != 0 {
		t.Fatalf("sampling share 0: an answer already success was recorded (%d samples)", n)
	}
	r.o.SettleSample = 1
	r.sampleSettle(r.users[0], &answer{status: 200, state: "success", requestID: "2", at: time.Now()})
	if n := r.st.settle.TotalCount(); n != 1 {
		t.Fatalf("sampling share 1: %d samples of an answer already success, want 1 (at 0)", n)
	}
}

// Samples wait for a free poller instead of being dropped: with one poller
// and settlement 300 ms behind, all ten samples are recorded, each at least
// the time settlement took.
func TestSettleSamplesWaitForAPoller(t *testing.T) {
	begin := time.Now()
	r := latencyRunner(answerServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		st := "pending"
		if time.Since(begin) > 300*time.Millisecond {
			st = "success"
		}
		ctx.SetBodyString(`{"success":true,"data":{"request_id":"1","status":"` + st + `"},"error":null}`)
	}), 1)
	r.o.SettleSample, r.o.SettlePoll = 1, 10*time.Millisecond
	for range 10 {
		r.sampleSettle(r.users[0], &answer{status: 200, state: "pending", requestID: "1", at: time.Now()})
	}
	r.wg.Wait()
	q := quantiles(r.st.settle)
	if skipped := r.st.snapshot()["settle_sample_skipped"]; q.Count != 10 || skipped != 0 {
		t.Fatalf("10 samples with one poller: %d recorded, %d skipped; want 10 and 0", q.Count, skipped)
	}
	if q.P50 < 250 {
		t.Fatalf("settlement took 300 ms, recorded p50 %.1f ms", q.P50)
	}
}

// A request id named by an answer that left the outcome open (503) must
// exist and reach a final state: it is expected as such. And the retry
// with the same key must answer for that request, not another.
func TestUnansweredRequestIDIsExpected(t *testing.T) {
	unavailable := func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.Response.Header.Set("Retry-After", "0")
		ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"UNAVAILABLE","message":"m","details":{"request_id":"9"}}}`)
	}
	for _, c := range []struct {
		retryID   string
		violation bool
	}{{"9", false}, {"10", true}} {
		r := latencyRunner(answerServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
			if n == 1 {
				unavailable(ctx)
				return
			}
			pending(c.retryID)(n, ctx)
		}), 1)
		a, definitive := r.send(r.users[0], []byte(`{}`))
		if !definitive || a.requestID != c.retryID {
			t.Fatalf("answer %+v definitive %v", a, definitive)
		}
		if len(r.exp) != 1 || r.exp[0].RequestID != "9" || r.exp[0].Status != verify.StatusFinal {
			t.Fatalf("expectations %+v, want request 9 final", r.exp)
		}
		if got := r.st.snapshot()["violation_retry_other_request"] > 0; got != c.violation {
			t.Fatalf("retry answered request %s after a 503 named 9: violation %v, want %v", c.retryID, got, c.violation)
		}
	}
}

// A re-send of an answered transfer's key with another amount must be
// refused; an answer for a request (a new one, or the original) is a
// violation.
func TestConflictingResend(t *testing.T) {
	if got := string(conflicting([]byte(`{"amount":"10.29","client_transfer_id":"k"}`))); got != `{"amount":"10.28","client_transfer_id":"k"}` {
		t.Fatalf("conflicting body %s", got)
	}
	if got := string(conflicting([]byte(`{"amount":"7"}`))); got != `{"amount":"8"}` {
		t.Fatalf("conflicting body %s", got)
	}
	for _, c := range []struct {
		name      string
		answer    func(ctx *fasthttp.RequestCtx)
		violation bool
	}{
		{"refused", func(ctx *fasthttp.RequestCtx) {
			ctx.SetStatusCode(fasthttp.StatusConflict)
			ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"IDEMPOTENCY_CONFLICT","message":"m"}}`)
		}, false},
		{"accepted as a new request", func(ctx *fasthttp.RequestCtx) { pending("77")(1, ctx) }, true},
		{"answered with the original", func(ctx *fasthttp.RequestCtx) { pending("5")(1, ctx) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := latencyRunner(answerServer(t, func(_ int64, ctx *fasthttp.RequestCtx) { c.answer(ctx) }), 1)
			r.conflict(finished{u: r.users[0], body: []byte(`{"amount":"1.5","client_transfer_id":"k"}`), requestID: "5"}, time.Now())
			if got := r.st.snapshot()["violation_conflict_accepted"] > 0; got != c.violation {
				t.Fatalf("violation %v, want %v: %v", got, c.violation, r.st.snapshot())
			}
		})
	}
}
