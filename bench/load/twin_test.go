package load

import (
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// twinServer answers every transfer on loopback with answer(n), n counting
// the transfers it got, after holding the first until the second came, so
// the two sends of a twin are in flight together.
func twinServer(t *testing.T, answer func(n int64, ctx *fasthttp.RequestCtx)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var both sync.WaitGroup
	both.Add(2)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		i := n.Add(1)
		if i <= 2 {
			both.Done()
			both.Wait()
		}
		answer(i, ctx)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func twinRunner(addr string) *runner {
	o := Defaults()
	o.APIAddr = addr
	r := &runner{o: o, st: newStats(), api: newClient(addr, 4, 5*time.Second)}
	r.deadline.Store(math.MaxInt64)
	return r
}

func pending(id string) func(int64, *fasthttp.RequestCtx) {
	return func(_ int64, ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"success":true,"data":{"request_id":"` + id + `","status":"pending"},"error":null}`)
	}
}

func TestTwinsAnsweredAlikePass(t *testing.T) {
	r := twinRunner(twinServer(t, pending("42")))
	a, definitive := r.sendTwins(&user{id: 7}, []byte(`{}`))
	snap := r.st.snapshot()
	if !definitive || a.status != 200 || a.requestID != "42" {
		t.Fatalf("answer %+v definitive %v, want 200 for request 42", a, definitive)
	}
	if snap["twin_sent"] != 1 || snap["twin_same_request"] != 1 || snap["violation_twin_mismatch"] != 0 {
		t.Fatalf("counters %v", snap)
	}
}

func TestTwinsAnsweredWithTwoRequestsAreAViolation(t *testing.T) {
	r := twinRunner(twinServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		pending(strconv.FormatInt(n, 10))(n, ctx) // a new request per send: the key was ignored
	}))
	r.sendTwins(&user{id: 7}, []byte(`{}`))
	if got := r.st.snapshot()["violation_twin_mismatch"]; got != 1 {
		t.Fatalf("violation_twin_mismatch = %d, want 1: %v", got, r.st.snapshot())
	}
}

func TestTwinOverTheRateLimitLeavesTheOtherAnswer(t *testing.T) {
	r := twinRunner(twinServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		if n == 2 {
			ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
			ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"RATE_LIMITED","message":"m"}}`)
			return
		}
		pending("42")(n, ctx)
	}))
	a, definitive := r.sendTwins(&user{id: 7}, []byte(`{}`))
	snap := r.st.snapshot()
	if !definitive || a.status != 200 || a.requestID != "42" {
		t.Fatalf("answer %+v definitive %v, want the 200 of request 42", a, definitive)
	}
	if snap["twin_rejected_429"] != 1 || snap["violation_twin_mismatch"] != 0 {
		t.Fatalf("counters %v", snap)
	}
}

// An answer of 200 with status failed (a request voided before this send
// was answered) moves nothing: the books keep the balance and expect the
// request failed.
func TestAFailedRequestAnsweredWith200MovesNothing(t *testing.T) {
	r := &runner{o: Defaults(), st: newStats()}
	r.deadline.Store(math.MaxInt64)
	u, to := &user{id: 7, bal: [2]uint64{100, 0}, busy: true}, &user{id: 9}
	to.inflightIn[funding] = 30
	r.book(plan{kind: kindCross, u: u, to: to, from: funding, in: funding, amount: 30},
		&answer{status: 200, requestID: "5", state: "failed"}, true)
	if u.bal != [2]uint64{100, 0} || to.bal != [2]uint64{0, 0} || to.inflightIn[funding] != 0 || u.busy {
		t.Fatalf("books after a failed request: sender %v busy %v, recipient %v incoming %v", u.bal, u.busy, to.bal, to.inflightIn)
	}
	if len(r.exp) != 1 || r.exp[0].RequestID != "5" || r.exp[0].Status != "failed" {
		t.Fatalf("expectations %+v, want request 5 failed", r.exp)
	}
	u.busy, to.inflightIn[funding] = true, 30
	r.book(plan{kind: kindCross, u: u, to: to, from: funding, in: funding, amount: 30},
		&answer{status: 200, requestID: "6", state: "pending"}, true)
	if u.bal[funding] != 70 || to.bal[funding] != 30 || r.exp[1].Status != "success" {
		t.Fatalf("a pending request: sender %v, recipient %v, expectations %+v", u.bal, to.bal, r.exp)
	}
}

// A 429 beside a send that got no definitive answer says nothing of that
// send: the outcome is unknown, not "nothing happened".
func TestTwinRateLimitedBesideAnUnknownIsUnknown(t *testing.T) {
	r := twinRunner(twinServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		if n == 1 {
			ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
			ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"RATE_LIMITED","message":"m"}}`)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"UNAVAILABLE","message":"m"}}`)
	}))
	r.o.AttemptsMax = 1 // the 503 send gives up at once: its outcome stays unknown
	if a, definitive := r.sendTwins(&user{id: 7}, []byte(`{}`)); definitive {
		t.Fatalf("answer %+v booked as definitive", a)
	}
}

// Twins answered with two different requests are a violation, and the
// outcome is booked as unknown so the books stop trusting the user.
func TestTwinMismatchIsBookedUnknown(t *testing.T) {
	r := twinRunner(twinServer(t, func(n int64, ctx *fasthttp.RequestCtx) {
		if n == 1 {
			ctx.SetStatusCode(fasthttp.StatusUnprocessableEntity)
			ctx.SetBodyString(`{"success":false,"data":null,"error":{"code":"INSUFFICIENT_BALANCE","message":"m","details":{"request_id":"41","status":"failed"}}}`)
			return
		}
		pending("42")(n, ctx)
	}))
	if _, definitive := r.sendTwins(&user{id: 7}, []byte(`{}`)); definitive || r.st.snapshot()["violation_twin_mismatch"] != 1 {
		t.Fatalf("definitive %v, counters %v; want a violation booked as unknown", definitive, r.st.snapshot())
	}
}
