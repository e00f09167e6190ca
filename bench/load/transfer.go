package load

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/exchange/internal-transfer/bench/verify"
	"github.com/valyala/fasthttp"
)

// Transfer kinds.
type kind int

const (
	kindSpot  kind = iota // funding→spot, own accounts
	kindBack              // spot→funding, own accounts
	kindCross             // funding→funding of another user
	kindFail              // more than the user can hold
)

var kindNames = [...]string{"spot", "back", "cross", "fail"}

// plan is one transfer about to be sent.
type plan struct {
	kind     kind
	u, to    *user
	from, in int // account indexes debited and credited
	amount   uint64
	body     []byte
}

// one sends one arrival, due at due: a client retry of an answered
// transfer, or a new transfer of an idle user. Its wait is measured from
// due (see stats).
func (r *runner) one(due time.Time) {
	roll := rand.IntN(100)
	resend := r.o.Mix.Retry + r.o.Mix.Conflict
	if roll < resend {
		if f, ok := r.pickFinished(); ok {
			if roll < r.o.Mix.Retry {
				r.retry(f, due)
			} else {
				r.conflict(f, due)
			}
			return
		}
	}
	p, ok := r.plan(roll - resend)
	if !ok {
		return
	}
	r.st.sent(time.Since(due))
	var a answer
	var definitive bool
	if r.o.Mix.Twin > 0 && rand.IntN(100) < r.o.Mix.Twin {
		a, definitive = r.sendTwins(p.u, p.body)
	} else {
		a, definitive = r.send(p.u, p.body)
	}
	r.st.transfer(due, &a)
	r.book(p, &a, definitive)
}

// sendTwins sends body twice at once, as a client does that retries before
// its first try is answered. Both must be answered alike: the same request
// (or the same refusal). It returns a definitive answer when one settles
// what happened to the request; otherwise (and after a mismatch) the
// outcome is booked as unknown.
func (r *runner) sendTwins(u *user, body []byte) (answer, bool) {
	var twin answer
	var twinDefinitive bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		twin, twinDefinitive = r.send(u, body)
	}()
	a, definitive := r.send(u, body)
	<-done
	// The client has its answer once both sends have theirs.
	a.at, twin.at = later(a.at, twin.at), later(a.at, twin.at)
	r.st.inc("twin_sent", 1)
	switch {
	case !definitive || !twinDefinitive:
		r.st.inc("twin_unknown", 1)
		if !definitive {
			a, definitive = twin, twinDefinitive
		}
		// A definitive answer decides only if it speaks of the request: a
		// 429 (or another refusal without a request id) says nothing of
		// what the unanswered send did.
		return a, definitive && a.requestID != ""
	case a.status == 429 || twin.status == 429:
		// The second send may be over the user's rate limit: it changed
		// nothing, and the other answer stands.
		r.st.inc("twin_rejected_429", 1)
		if a.status == 429 {
			return twin, twinDefinitive
		}
	case a.requestID != twin.requestID || a.status != twin.status || a.code != twin.code:
		r.st.inc("violation_twin_mismatch", 1)
		r.violation("user %d: one transfer (body %s) sent twice at once was answered HTTP %d %s request_id %q and HTTP %d %s request_id %q",
			u.id, body, a.status, a.code, a.requestID, twin.status, twin.code, twin.requestID)
		// Which answer holds is unknown: the books stop trusting the users,
		// so this violation does not turn into balance ones at verify.
		return a, false
	default:
		r.st.inc("twin_same_request", 1)
	}
	return a, definitive
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// plan picks an idle user and a transfer it can (or, for kindFail, cannot)
// afford, and marks the user busy. roll selects the kind.
func (r *runner) plan(roll int) (plan, bool) {
	var u *user
	for range pickTries {
		c := r.users[rand.IntN(len(r.users))]
		c.mu.Lock()
		if !c.busy && c.funded && !c.unknown {
			u = c
			break
		}
		c.mu.Unlock()
	}
	if u == nil {
		r.st.inc("dropped_no_idle_user", 1)
		return plan{}, false
	}
	defer u.mu.Unlock()
	now := time.Now()
	m := r.o.Mix
	p := plan{u: u, to: u, from: funding, in: spot}
	switch {
	case roll < m.Fail:
		p.kind, p.amount = kindFail, r.failAmount(u)
	case roll < m.Fail+m.Cross:
		p.kind, p.in = kindCross, funding
		for p.to == u {
			p.to = r.users[rand.IntN(len(r.users))]
		}
	case roll < m.Fail+m.Cross+m.Back && u.usable(spot, now) >= r.o.AmountMin:
		p.kind, p.from, p.in = kindBack, spot, funding
	}
	if p.kind != kindFail {
		avail := u.usable(p.from, now)
		if avail < r.o.AmountMin {
			r.st.inc("skipped_no_funds", 1)
			return plan{}, false
		}
		hi := min(r.o.AmountMax, avail)
		p.amount = r.o.AmountMin + rand.Uint64N(hi-r.o.AmountMin+1)
	}
	if p.to != u {
		// Never wait for a second user's lock while holding one: two
		// users sending to each other would deadlock.
		if !p.to.mu.TryLock() {
			r.st.inc("skipped_recipient_busy", 1)
			return plan{}, false
		}
		p.to.inflightIn[p.in] += p.amount
		p.to.mu.Unlock()
	}
	p.body = r.body(&p, u.nextKey(r.o.RunID))
	u.busy = true
	return p, true
}

// supply is all the money the generator deposited: no account can hold more.
func (r *runner) supply() uint64 { return uint64(len(r.users)) * r.o.Fund }

// failAmount is more than u can hold: more than the whole supply when the
// service's limit allows such an amount; otherwise more than u's balance
// plus every credit on its way (which later credits can overtake while the
// transfer waits for a definitive answer; such an acceptance is counted,
// not reported as a violation). Caller holds u.mu.
func (r *runner) failAmount(u *user) uint64 {
	if s := r.supply(); s < r.o.AmountLimit {
		return s + 1
	}
	return min(r.o.AmountLimit, u.bal[funding]+u.inflightIn[funding]+1)
}

// body is the transfer's JSON, fixed for all its retries.
func (r *runner) body(p *plan, key string) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"from_account":{"account_type":"`...)
	b = append(b, accountNames[p.from]...)
	b = append(b, `","asset":"`...)
	b = append(b, r.o.Asset...)
	b = append(b, `"},"to_account":{"account_type":"`...)
	b = append(b, accountNames[p.in]...)
	b = append(b, `","asset":"`...)
	b = append(b, r.o.Asset...)
	b = append(b, '"')
	if p.to != p.u {
		b = append(b, `,"user_id":`...)
		b = strconv.AppendUint(b, p.to.id, 10)
	}
	b = append(b, `},"amount":"`...)
	b = appendAmount(b, p.amount, r.o.Decimals)
	b = append(b, `","client_transfer_id":"`...)
	b = append(b, key...)
	return append(b, `"}`...)
}

// send posts body until a definitive answer, retrying the same key and body
// after answers that leave the outcome unknown, with bounded attempts and
// backoff, until the run's deadline.
//
// A 429 settles nothing once an earlier attempt's outcome is unknown: the
// rate limit is checked before the idempotency key, so it says nothing of
// whether that attempt created the request. send then waits the 429's
// Retry-After (whole: the limit is per minute) and sends again.
func (r *runner) send(u *user, body []byte) (answer, bool) {
	backoff := 50 * time.Millisecond
	uri := "http://" + r.o.APIAddr + pathTransfer
	unknown := false // an attempt so far may have created the request
	named := ""      // the request an unanswered attempt named
	for attempt := 1; ; attempt++ {
		a := r.api.do("POST", uri, u.auth, body)
		r.st.attempt(&a)
		limited := unknown && a.status == fasthttp.StatusTooManyRequests
		if a.definitive() && !limited {
			if attempt > 1 {
				r.st.inc("resolved_after_retry", 1)
			}
			if named != "" && a.requestID != named {
				r.st.inc("violation_retry_other_request", 1)
				r.violation("user %d: an attempt answered HTTP 503 for request %s, its retry with the same key HTTP %d %s request_id %q (body %s)",
					u.id, named, a.status, a.code, a.requestID, body)
			}
			return a, true
		}
		unknown = true
		if a.requestID != "" && named == "" {
			// An id handed out must name a request that reaches a
			// final state, whatever comes of this transfer.
			named = a.requestID
			r.expect(a.requestID, u.id, verify.StatusFinal)
		}
		wait := backoff
		if a.retryAfter > 0 {
			wait = a.retryAfter
		}
		if limited {
			r.st.inc("rate_limited_after_unknown", 1)
			wait = max(wait, backoff)
		} else {
			wait = min(wait, r.o.BackoffMax)
			wait = wait/2 + rand.N(wait/2+1)
		}
		if attempt >= r.o.AttemptsMax || time.Now().Add(wait).UnixNano() > r.deadline.Load() {
			return a, false
		}
		time.Sleep(wait)
		backoff = min(2*backoff, r.o.BackoffMax)
	}
}

// book updates the books with a transfer's answer.
func (r *runner) book(p plan, a *answer, definitive bool) {
	now := time.Now()
	// A 200 can carry a request already failed (a send answered after
	// settlement voided it): nothing moved.
	ok := definitive && a.status == 200 && a.state != "failed"
	p.u.mu.Lock()
	p.u.busy = false
	switch {
	case !definitive:
		p.u.unknown = true
	case ok && p.u.bal[p.from] < p.amount:
		p.u.unknown = true // our books are wrong: stop trusting this user's
		r.st.inc("violation_books_broken", 1)
		r.violation("user %d: request %s of %d accepted with %d on %s in the books", p.u.id, a.requestID, p.amount, p.u.bal[p.from], accountNames[p.from])
	case ok:
		p.u.bal[p.from] -= p.amount
		if p.to == p.u {
			p.u.addCredit(p.in, p.amount, now)
		}
	}
	p.u.mu.Unlock()
	if p.to != p.u {
		p.to.mu.Lock()
		p.to.inflightIn[p.in] -= p.amount
		if ok {
			p.to.addCredit(p.in, p.amount, now)
		} else if !definitive {
			p.to.unknown = true
		}
		p.to.mu.Unlock()
	}
	r.outcome(p, a, definitive)
}

// outcome counts the answer and records what it implies for verification.
func (r *runner) outcome(p plan, a *answer, definitive bool) {
	name := kindNames[p.kind]
	switch {
	case !definitive:
		r.st.inc("unknown_outcome", 1)
		return
	case a.status == 200 && a.state == "failed":
		r.st.inc("answered_failed_"+name, 1)
		r.expect(a.requestID, p.u.id, "failed")
		r.remember(p.u, p.body, a.requestID)
	case a.status == 200:
		r.st.inc("accepted", 1)
		r.st.inc("accepted_"+a.state, 1)
		if r.loadEnd.Load() == 0 {
			r.st.inc("accepted_in_load", 1)
		}
		if p.kind == kindFail && p.amount > r.supply() {
			r.st.inc("violation_fail_accepted", 1)
			r.violation("transfer of %d (more than the supply) accepted as request %s", p.amount, a.requestID)
		} else if p.kind == kindFail {
			r.st.inc("fail_accepted_after_credits", 1)
		}
		r.expect(a.requestID, p.u.id, "success")
		r.remember(p.u, p.body, a.requestID)
		r.sampleSettle(p.u, a)
	case a.code == "INSUFFICIENT_BALANCE":
		r.st.inc("failed_INSUFFICIENT_BALANCE", 1)
		if p.kind != kindFail {
			r.st.inc("failed_unexpectedly_"+name, 1)
		}
		r.expect(a.requestID, p.u.id, "failed")
		r.remember(p.u, p.body, a.requestID)
	default:
		r.st.inc("rejected_"+strconv.Itoa(a.status)+"_"+a.code, 1)
		if a.requestID != "" && a.state == "failed" {
			r.expect(a.requestID, p.u.id, "failed")
		}
	}
	if r.loadEnd.Load() == 0 {
		r.st.inc("answered_in_load", 1)
	}
}

func (r *runner) expect(requestID string, user uint64, status string) {
	if requestID == "" {
		r.st.inc("violation_answer_without_request_id", 1)
		r.violation("user %d: a definitive answer (%s) without a request_id", user, status)
		return
	}
	r.expMu.Lock()
	r.exp = append(r.exp, verify.ExpectedRequest{RequestID: requestID, User: user, Status: status})
	r.expMu.Unlock()
}

func (r *runner) remember(u *user, body []byte, requestID string) {
	r.ringMu.Lock()
	f := finished{u: u, body: body, requestID: requestID}
	if len(r.ring) < doneRingMax {
		r.ring = append(r.ring, f)
	} else {
		r.ring[r.ringAt] = f
		r.ringAt = (r.ringAt + 1) % doneRingMax
	}
	r.ringMu.Unlock()
}

func (r *runner) pickFinished() (finished, bool) {
	r.ringMu.Lock()
	defer r.ringMu.Unlock()
	if len(r.ring) == 0 {
		return finished{}, false
	}
	return r.ring[rand.IntN(len(r.ring))], true
}

// retry re-sends an answered transfer: the service must answer with the
// original request_id.
func (r *runner) retry(f finished, due time.Time) {
	r.st.sent(time.Since(due))
	a, definitive := r.send(f.u, f.body)
	r.st.transfer(due, &a)
	switch {
	case !definitive:
		r.st.inc("retry_unknown", 1)
	case a.status == 429:
		r.st.inc("retry_rejected_429", 1)
	case a.requestID != f.requestID:
		r.st.inc("violation_idempotency_mismatch", 1)
		r.violation("idempotent retry of request %s (user %d, body %s) answered HTTP %d %s request_id %q status %q",
			f.requestID, f.u.id, f.body, a.status, a.code, a.requestID, a.state)
	default:
		r.st.inc("retry_same_request_id", 1)
	}
}

// conflict re-sends an answered transfer's key with another amount: the
// service must refuse it (409 IDEMPOTENCY_CONFLICT), or refuse it earlier
// (400 for the amount, 429), and never answer for a request. Nothing is
// booked: a service that moved money for it fails verify's exact balances.
func (r *runner) conflict(f finished, due time.Time) {
	body := conflicting(f.body)
	if body == nil {
		return
	}
	r.st.sent(time.Since(due))
	a, definitive := r.send(f.u, body)
	r.st.transfer(due, &a)
	switch {
	case !definitive:
		r.st.inc("conflict_unknown", 1)
	case a.status == fasthttp.StatusConflict && a.code == "IDEMPOTENCY_CONFLICT" && (a.requestID == "" || a.requestID == f.requestID):
		r.st.inc("conflict_refused", 1)
	case (a.status == fasthttp.StatusBadRequest || a.status == fasthttp.StatusTooManyRequests) && a.requestID == "":
		r.st.inc("conflict_rejected_"+strconv.Itoa(a.status), 1)
	default:
		r.st.inc("violation_conflict_accepted", 1)
		r.violation("user %d: the key of request %s re-sent with another amount (body %s) was answered HTTP %d %s request_id %q status %q",
			f.u.id, f.requestID, body, a.status, a.code, a.requestID, a.state)
	}
}

// conflicting is body with the last digit of its amount changed (up, or
// down from 9), or nil when body has no amount.
func conflicting(body []byte) []byte {
	const field = `"amount":"`
	i := bytes.Index(body, []byte(field))
	if i < 0 {
		return nil
	}
	j := bytes.IndexByte(body[i+len(field):], '"')
	if j <= 0 {
		return nil
	}
	out := bytes.Clone(body)
	last := i + len(field) + j - 1
	if out[last] == '9' {
		out[last] = '8'
	} else {
		out[last]++
	}
	return out
}
