package transfers

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/supervision"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// Messages of the supervisor and the user actors.
type (
	// spawnUser asks for user's actor. retired, when set, is a route the
	// caller found retired (its depth negative) and will not use.
	spawnUser struct {
		user    uint64
		retired *userRef
	}
	userIdle struct {
		user uint64
		pid  *actor.PID
	}
	// submit carries its own answer: the one who answers it (its actor,
	// or the dead-letter handler when it reached no actor) claims it,
	// writes res and signals done, which Submit waits on. A protoactor
	// future per request (a registered process, its id string and a
	// timer) was about 8 % of the bytes allocated per transfer by profile
	// (docs/benchmark-notes.md, session 13).
	submit struct {
		cmd      Command
		deadline time.Time
		answered atomic.Bool
		done     chan struct{} // buffered 1: the answer never blocks
		res      submitResult
	}
	submitResult struct {
		req store.Request
		err error
		// deadLetter: the message reached no actor (it had stopped), so
		// nothing of it ran.
		deadLetter bool
	}
)

// IgnoreDeadLetterLogging: a submission that reached no actor is answered
// (answerDeadLetter) and sent again, so protoactor need not log it.
func (*submit) IgnoreDeadLetterLogging() {}

// submits holds answered submissions for reuse. Each is answered once,
// either by its actor or, when it reached none, by answerDeadLetter (a
// message goes to one of them, never both), and neither touches it after
// answering; an unanswered one may still run in its actor, so Submit
// recycles only what it got an answer for.
var submits = sync.Pool{New: func() any { return &submit{done: make(chan struct{}, 1)} }}

// recycle returns m, answered and its answer taken, to submits.
func (m *submit) recycle() {
	m.cmd, m.deadline, m.res = Command{}, time.Time{}, submitResult{}
	m.answered.Store(false)
	submits.Put(m)
}

// answer answers m with r unless it was answered already; it never blocks.
func (m *submit) answer(r submitResult) {
	if !m.answered.CompareAndSwap(false, true) {
		return
	}
	m.res = r
	m.done <- struct{}{}
}

// supervisor owns the user actors: it spawns them on first use, restarts a
// failing one (bounded, with backoff), and stops idle ones.
type supervisor struct {
	svc *Service
	// spare holds eviction candidates a walk found, the longest unused
	// last (Service.walking is set while a background walk runs, see
	// walkAhead). gen counts the walks, so a background walk's list does
	// not replace one an inline walk found after it started.
	spare []idleActor
	gen   uint64
}

// idleFound carries a background walk's eviction candidates to the
// supervisor; gen is the supervisor's gen when the walk started.
type idleFound struct {
	oldest []idleActor
	gen    uint64
}

func supervisorProps(svc *Service) *actor.Props {
	policy := supervision.Default(svc.log)
	return actor.PropsFromProducer(func() actor.Actor { return &supervisor{svc: svc} },
		actor.WithSupervisor(policy.Strategy()))
}

// Receive handles lifecycle first, then spawn and idle requests.
func (s *supervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	case *spawnUser:
		if ref, ok := s.svc.users.Load(msg.user); ok {
			if ref != msg.retired {
				ctx.Respond(ref)
				return
			}
			// Still the route, though retired: retire, which runs whole
			// on this goroutine, forgets the route it retires, so no
			// retire is taking this one down. Do it here, where no actor
			// of the user can start meanwhile, so its name resolves to
			// this route's actor or to none.
			s.svc.forget(msg.user, msg.retired)
			ctx.Poison(msg.retired.pid)
		}
		if max := int64(s.svc.opts.UserActorsMax); s.svc.liveUsers.Load() >= max {
			s.makeRoom(ctx, max)
			if s.svc.liveUsers.Load() >= max {
				ctx.Respond(ErrOverloaded)
				return
			}
		}
		props := actor.PropsFromProducer(func() actor.Actor {
			return &userActor{svc: s.svc, user: msg.user}
		}, actor.WithDispatcher(s.svc.dispatch))
		pid, err := ctx.SpawnNamed(props, userActorPrefix+strconv.FormatUint(msg.user, 10))
		if err != nil { // a stopping actor still holds the name: let the caller retry
			ctx.Respond(err)
			return
		}
		ref := &userRef{pid: pid}
		ref.last.Store(monoNow())
		s.svc.users.Store(msg.user, ref)
		s.svc.liveUsers.Add(1)
		userActors.Inc()
		s.walkAhead(ctx) // before the answer, so a caller sees a walk it started
		ctx.Respond(ref)
	case *idleFound:
		// Fresher than what is left of the last list, which it includes
		// where still idle and old, unless an inline walk came after it.
		if msg.gen == s.gen {
			s.spare = msg.oldest
		}
		s.svc.walking.Store(false)
	case *userIdle:
		// The same *PID, not only the same name: a user's next actor has
		// its name once this one is gone.
		if ref, ok := s.svc.users.Load(msg.user); ok && ref.(*userRef).pid == msg.pid {
			s.retire(ctx, msg.user, ref.(*userRef))
		}
	case *actor.Terminated:
		// A user actor stopped, for idleness (already forgotten above) or
		// by its supervision policy: forget a route still pointing at it,
		// so the next request starts a fresh actor and the gauge counts
		// live ones.
		if user, ok := userOfPID(msg.Who); ok {
			if ref, ok := s.svc.users.Load(user); ok && ref.(*userRef).pid == msg.Who {
				s.svc.forget(user, ref.(*userRef))
			}
		}
	}
}

// retire stops ref's actor if nothing is queued for it: the swap fails once
// a Submit has counted itself in, and a later Submit sees the negative depth
// and asks this supervisor for a fresh actor (spawnUser.retired). The route
// is forgotten before the actor stops. A Submit never forgets a route
// itself, so the route is still ref here unless the actor stopped (see
// actor.Terminated); such a ref is left alone: a poison sent by its name
// could reach the user's next actor.
func (s *supervisor) retire(ctx actor.Context, user uint64, ref *userRef) bool {
	if !ref.depth.CompareAndSwap(0, retiredDepth) {
		return false
	}
	if s.svc.retireHook != nil { // tests only
		s.svc.retireHook(user)
	}
	if !s.svc.forget(user, ref) {
		return false
	}
	ctx.Poison(ref.pid)
	return true
}

// monoStart anchors monoNow.
var monoStart = time.Now()

// monoNow is a monotonic clock reading in nanoseconds, for userRef.last:
// a step of the wall clock must not reorder which actors were used last.
func monoNow() int64 { return int64(time.Since(monoStart)) }

// evictBatch is how many eviction candidates an inline walk keeps: a
// hundredth of Options.UserActorsMax. A background walk keeps twice as
// many and starts when half a batch is left, so at the cap it runs once
// every one and a half batches of new users (a walk reads every route).
func (s *supervisor) evictBatch() int { return s.svc.opts.UserActorsMax/100 + 1 }

// makeRoom retires idle actors, longest unused first, until a new one fits
// under max (Options.UserActorsMax). It takes them from the spare list a
// background walk prepared; only when that list is used up does it walk
// the routes itself, and the new user waits for that walk (55 ms at
// 250,000 actors, the pause walkAhead exists to avoid).
func (s *supervisor) makeRoom(ctx actor.Context, max int64) {
	walked := false
	for s.svc.liveUsers.Load() >= max {
		if len(s.spare) == 0 {
			if walked {
				return // every live actor is busy
			}
			s.spare, walked = s.svc.oldestIdle(s.evictBatch()), true
			s.gen++
			s.svc.inlineWalks.Add(1)
			continue
		}
		c := s.spare[len(s.spare)-1]
		s.spare = s.spare[:len(s.spare)-1]
		// Skipped if used since the walk saw it (no longer among the
		// longest unused), or busy, retired or no longer the route now.
		if c.evictable(s.svc) && s.retire(ctx, c.user, c.ref) {
			userEvicted.Inc()
		}
	}
}

// walkAhead starts a background walk for eviction candidates once the live
// actors come within a batch of the cap and the spare list runs low, so
// new users at the cap take candidates from a list instead of waiting for a
// walk of every route. The walk reads only the routes (a sync.Map) and
// hands its result back as a message.
func (s *supervisor) walkAhead(ctx actor.Context) {
	// The longest unused are the ones the idle timeout stops first: drop
	// such candidates off the end, so a list of stopped actors does not
	// pass for a full one.
	for len(s.spare) > 0 && !s.spare[len(s.spare)-1].evictable(s.svc) {
		s.spare = s.spare[:len(s.spare)-1]
	}
	batch := s.evictBatch()
	if s.svc.walking.Load() || len(s.spare) > batch/2 || s.svc.liveUsers.Load() < int64(s.svc.opts.UserActorsMax-batch) {
		return
	}
	s.svc.walking.Store(true)
	root, self, svc, gen := ctx.ActorSystem().Root, ctx.Self(), s.svc, s.gen
	go func() { root.Send(self, &idleFound{oldest: svc.oldestIdle(2 * batch), gen: gen}) }()
}

// oldestIdle returns up to n of the actors with nothing queued, the
// longest unused last. It walks every route once, keeping the n oldest in
// a heap (O(routes · log n)).
func (s *Service) oldestIdle(n int) []idleActor {
	oldest := &idleHeap{}
	s.users.Range(func(k, v any) bool {
		ref := v.(*userRef)
		if ref.depth.Load() != 0 {
			return true
		}
		c := idleActor{user: k.(uint64), ref: ref, last: ref.last.Load()}
		if oldest.Len() < n {
			heap.Push(oldest, c)
		} else if c.last < (*oldest)[0].last {
			(*oldest)[0] = c
			heap.Fix(oldest, 0)
		}
		return true
	})
	// Most recently used first, so the longest unused pop off the end.
	slices.SortFunc(*oldest, func(a, b idleActor) int { return cmp.Compare(b.last, a.last) })
	return *oldest
}

// idleActor is an eviction candidate; idleHeap keeps the most recently used
// of the candidates kept on top, to be replaced by an older one.
type idleActor struct {
	user uint64
	ref  *userRef
	last int64
}

// evictable reports whether c is still its user's route, idle and unused
// since the walk saw it.
func (c idleActor) evictable(svc *Service) bool {
	ref, ok := svc.users.Load(c.user)
	return ok && ref.(*userRef) == c.ref && c.ref.depth.Load() == 0 && c.ref.last.Load() == c.last
}

type idleHeap []idleActor

func (h idleHeap) Len() int           { return len(h) }
func (h idleHeap) Less(i, j int) bool { return h[i].last > h[j].last }
func (h idleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idleHeap) Push(x any)        { *h = append(*h, x.(idleActor)) }
func (h *idleHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// userActorPrefix names a user actor ("user-" + its user id) among the
// supervisor's children.
const userActorPrefix = "user-"

// userOfPID is the user whose actor pid is.
func userOfPID(pid *actor.PID) (uint64, bool) {
	if pid == nil {
		return 0, false
	}
	i := strings.LastIndex(pid.Id, "/"+userActorPrefix)
	if i < 0 {
		return 0, false
	}
	user, err := strconv.ParseUint(pid.Id[i+1+len(userActorPrefix):], 10, 64)
	return user, err == nil
}

// userActor serialises one user's transfers.
type userActor struct {
	svc           *Service
	user          uint64
	accountsReady bool
}

// Receive handles lifecycle first, then submissions.
func (u *userActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		// The ledger accounts are ensured on the first request; the user's
		// requests a crash or a failure left in requesting are finished now,
		// before anything new of theirs runs.
		u.accountsReady = false
		u.resume()
		ctx.SetReceiveTimeout(u.svc.opts.IdleTimeout)
	case *actor.Restarting, *actor.Stopping, *actor.Stopped:
	case *actor.ReceiveTimeout:
		ctx.Send(ctx.Parent(), &userIdle{user: u.user, pid: ctx.Self()})
	case *submit:
		if !time.Now().Before(msg.deadline) {
			// Reached after its deadline: refuse it untouched, so "retry"
			// is true (the caller waits a little longer than the deadline).
			msg.answer(submitResult{err: u.svc.retryable(ErrUnavailable)})
			return
		}
		c, cancel := deadline.At(msg.deadline)
		req, err := u.transfer(c, msg.cmd)
		cancel()
		msg.answer(submitResult{req: req, err: err})
	}
}

// resumeMax bounds the half-done requests one actor start finishes; the
// scanner drives any beyond it.
const resumeMax = 100

// resumeWindow is how far back an actor start looks for its user's
// half-done requests. The history scan reads each entry's request, so an
// unbounded one cost a start as many reads as the user ever made requests;
// the user rate limit bounds this window's. Older half-done requests are
// the scanner's (it drives anything past its grace, every few seconds).
const resumeWindow = 10 * time.Minute

// resume reloads the user's requests still in requesting from the store and
// drives each through its hold, with the ids it already has.
func (u *userActor) resume() {
	ctx, cancel := deadline.After(u.svc.opts.RequestTimeout)
	defer cancel()
	page, err := u.svc.store.History(ctx, store.HistoryQuery{UserID: u.user, Status: store.StatusRequesting,
		From: time.Now().Add(-resumeWindow), Limit: store.HistoryLimitMax})
	if err != nil {
		dbErrors.Inc()
		u.svc.log.Warn("cannot reload open requests; the scanner will finish them", "user", u.user, "err", err)
		return
	}
	for i, req := range page.Requests {
		if i == resumeMax || ctx.Err() != nil {
			return
		}
		if req.UserID != u.user { // history lists both sides; only the sender's actor holds
			continue
		}
		if err := u.ensureAccounts(ctx); err != nil {
			return
		}
		if _, _, err := u.hold(ctx, req); err != nil && !isRequestOutcome(err) {
			u.svc.log.Warn("cannot resume request; the scanner will finish it", "request_id", req.ID, "err", err)
		}
	}
}

// isRequestOutcome reports whether err is a request's own refusal (it was
// recorded), not a failure to process it.
func isRequestOutcome(err error) bool {
	return errors.Is(err, ErrInsufficientBalance) || errors.Is(err, ErrAccountFrozen) ||
		errors.Is(err, ErrAccountNotFound) || errors.Is(err, ErrIdempotencyConflict)
}

// ensureAccounts creates the user's ledger accounts ("exists" is fine).
func (u *userActor) ensureAccounts(ctx context.Context) error {
	if u.accountsReady {
		return nil
	}
	if err := ensureUserAccounts(ctx, u.svc.ledger, u.svc.catalog, u.user); err != nil {
		return err
	}
	u.accountsReady = true
	return nil
}

// idRetriesMax bounds the new ids one request takes after a store refused
// its id as already stored; each skips to a later millisecond.
const idRetriesMax = 16

// syncTimeout bounds the store sync before an answer (Options.Sync); it
// fits in Submit's answerMargin, as the request's own deadline may be spent.
const syncTimeout = answerMargin / 2

// transfer is one request: idempotency check → requesting → hold → pending
// (or failed) → confirmation record. When the store defers its fsyncs to
// the ledger's (Options.Sync), an answer that no hold created now made
// durable syncs the store first.
func (u *userActor) transfer(ctx context.Context, cmd Command) (store.Request, error) {
	req, durable, err := u.transferSteps(ctx, cmd)
	if durable || u.svc.opts.Sync == nil {
		return req, err
	}
	sctx, cancel := deadline.After(syncTimeout)
	defer cancel()
	if serr := u.svc.opts.Sync(sctx); serr != nil {
		dbErrors.Inc()
		u.svc.log.Warn("cannot sync the store before answering", "request_id", req.ID, "err", serr)
		if errors.Is(err, ErrIdempotencyConflict) {
			// The key is another request's: nothing of this command was
			// written, and that id is not the client's. (Said by the
			// error, not by an empty answer: a failed Create answers
			// empty too, and its write may still land.)
			return store.Request{}, u.svc.retryable(ErrUnavailable)
		}
		// The request's record may be lost in a crash, and an id handed
		// out must name a request that reaches a final state: the client
		// learns the outcome by retrying with its key.
		return store.Request{}, u.svc.retryable(ErrOutcomeUnknown)
	}
	return req, err
}

// transferSteps is transfer without the final sync; durable reports that
// whatever the answer rests on is durable already: nothing was written, or
// the ledger created the hold now (after its fsync, which in a shared WAL
// covers the request's record written before it).
func (u *userActor) transferSteps(ctx context.Context, cmd Command) (_ store.Request, durable bool, _ error) {
	s := u.svc
	if err := u.ensureAccounts(ctx); err != nil {
		tbErrors.Inc()
		s.log.Warn("cannot ensure accounts", "user", u.user, "err", err)
		return store.Request{}, true, s.retryable(ErrUnavailable)
	}
	if s.opts.IDsValid != nil && !s.opts.IDsValid() {
		// The node's claim on its id could lapse: another node could take
		// the id and issue the same request ids.
		return store.Request{}, true, s.retryable(ErrUnavailable)
	}
	req := store.Request{
		ID: s.ids.Next(), UserID: cmd.UserID, ToUserID: cmd.ToUserID,
		FromAccountType: cmd.FromAccountType, ToAccountType: cmd.ToAccountType,
		Asset: cmd.Asset, Amount: cmd.Amount, IdempotencyKey: cmd.IdempotencyKey,
		Fingerprint: cmd.Fingerprint, Status: store.StatusRequesting,
		CreatedAt: cmd.Received, UpdatedAt: cmd.Received,
	}
	req.PendingID = PendingID(req).Bytes()
	stored, created, err := s.store.Create(ctx, req)
	for retry := 0; errors.Is(err, store.ErrIDExists); retry++ {
		// The id was issued before this start (the clock stepped back):
		// nothing was written, so take a later one.
		s.ids.Past(req.ID)
		if retry == idRetriesMax {
			s.log.Error("request ids keep colliding with stored ones; is server.node_id shared?", "request_id", req.ID)
			return store.Request{}, true, s.retryable(ErrUnavailable)
		}
		req.ID = s.ids.Next()
		req.PendingID = PendingID(req).Bytes()
		stored, created, err = s.store.Create(ctx, req)
	}
	if errors.Is(err, store.ErrNothingWritten) {
		// Refused before writing (its deadline ran out, the store is
		// closing): the request does not exist, so its id is no one's.
		dbErrors.Inc()
		s.log.Warn("cannot record request", "user", u.user, "err", err)
		return store.Request{}, true, s.retryable(ErrUnavailable)
	}
	if err != nil {
		dbErrors.Inc()
		s.log.Warn("cannot record request", "user", u.user, "err", err)
		// A failed write may still have landed (a timed-out ScyllaDB write
		// can), and then the scanner finishes the request. The client gets
		// its id to look it up only when a read finds it stored: an id
		// handed out must name a request that reaches a final state, and
		// one that never lands would read 404 for ever. Otherwise it
		// learns the outcome by retrying with its key.
		if !s.storedNow(req.ID) {
			return store.Request{}, false, s.retryable(ErrOutcomeUnknown)
		}
		return req, false, s.retryable(ErrOutcomeUnknown)
	}
	crashPoint("after-requesting")
	if !created {
		// The stored record may be an unsynced write of this process (an
		// earlier attempt that failed before its hold): not durable yet.
		if stored.Fingerprint != cmd.Fingerprint {
			// The key's request is another one: not the client's to see
			// (its id and status would read as this request's).
			return store.Request{}, false, ErrIdempotencyConflict
		}
		if stored.Status != store.StatusRequesting {
			return stored, false, u.replayError(ctx, stored)
		}
		// An earlier attempt stopped half-way: finish it with its own ids.
	}
	return u.hold(ctx, stored)
}

// storedNow reports whether request id reads as stored, within a short
// deadline of its own (the request's may be spent).
func (s *Service) storedNow(id uint64) bool {
	ctx, cancel := deadline.After(syncTimeout)
	defer cancel()
	_, err := s.store.Get(ctx, id)
	return err == nil
}

// hold places the pending ledger transfer and records the outcome; created
// reports that the ledger created the hold in this call.
func (u *userActor) hold(ctx context.Context, req store.Request) (_ store.Request, created bool, _ error) {
	s := u.svc
	t, err := s.catalog.HoldTransfer(req)
	if err != nil {
		// Only a stored request, resumed or retried, can get here: its
		// asset or account type left the config since (a rename under the
		// same ledger number keeps its fingerprint). The scanner logs it on
		// every pass and it counts as stuck (runbook, "Stuck transfers");
		// it is left to it and the operator, and the user's actor goes on.
		s.log.Warn("cannot hold request without a ledger form; left to the scanner", "request_id", req.ID, "err", err)
		return req, false, s.retryable(ErrOutcomeUnknown)
	}
	results, err := s.ledger.CreateTransfers(ctx, []ledger.Transfer{t})
	if err != nil {
		// Outcome unknown or ledger unavailable: the request stays
		// requesting and the scanner learns its fate from the ledger.
		tbErrors.Inc()
		s.log.Warn("cannot place hold", "request_id", req.ID, "err", err)
		return req, false, s.retryable(ErrOutcomeUnknown)
	}
	crashPoint("after-hold")
	created = len(results) == 0 // only failed events are returned
	status, outcome := store.StatusPending, store.Outcome{}
	if !created {
		if status, outcome, err = ResolveHoldResult(ctx, s.ledger, req, t, results[0].Result); err != nil {
			tbErrors.Inc()
			s.log.Error("cannot settle hold", "request_id", req.ID, "err", err)
			return req, false, s.retryable(ErrOutcomeUnknown)
		}
	}
	done, err := s.store.Advance(ctx, req.ID, status, outcome)
	var terr *store.TransitionError
	if errors.As(err, &terr) {
		// The scanner drove the request on (to pending or further) while
		// this hold was in flight: the ledger answers both the same, so the
		// stored state is the answer.
		done, err = s.store.Get(ctx, req.ID)
	}
	if err != nil {
		dbErrors.Inc()
		s.log.Warn("cannot record hold outcome", "request_id", req.ID, "err", err)
		return req, false, s.retryable(ErrOutcomeUnknown)
	}
	if done.Status == store.StatusFailed {
		failedTotal.Inc()
	}
	crashPoint("after-pending")
	if done.Status == store.StatusPending && s.pub != nil {
		id := done.ID // captured alone: a captured request would be copied to the heap
		s.pub.PublishAsync(done, func(err error) {
			if err != nil {
				s.publishFailed(id, err)
			}
		})
	}
	return done, created, errorOf(done)
}

// HoldOutcome maps the ledger's result for a hold to the request's outcome.
// An empty ErrorCode means the hold exists (created now or before).
func HoldOutcome(r ledger.CreateTransferResult) store.Outcome {
	switch r {
	case ledger.TransferOK, ledger.TransferExists:
		return store.Outcome{}
	case ledger.TransferExceedsCredits, ledger.TransferIDAlreadyFailed: // see refusalOfFailedID
		return store.Outcome{ErrorCode: "INSUFFICIENT_BALANCE", ErrorMessage: "insufficient available balance"}
	case ledger.TransferDebitAccountAlreadyClosed, ledger.TransferCreditAccountAlreadyClosed:
		return store.Outcome{ErrorCode: "ACCOUNT_FROZEN", ErrorMessage: "account is frozen"}
	case ledger.TransferCreditAccountNotFound, ledger.TransferDebitAccountNotFound:
		return store.Outcome{ErrorCode: "ACCOUNT_NOT_FOUND", ErrorMessage: "destination account does not exist"}
	default:
		// exists_with_different_*: the key's ledger transfer was made by a
		// different request (a key reused after its store record expired);
		// see ResolveHoldResult.
		return store.Outcome{ErrorCode: "IDEMPOTENCY_CONFLICT", ErrorMessage: "ledger refused the hold: " + r.String()}
	}
}

// ResolveHoldResult is what a refused create of req's hold (hold, its ledger
// form) means: failed with HoldOutcome's reason, or pending when the hold
// exists. The gateway and the scanner decide with it alike.
//
// id_already_failed says an earlier create of the same hold was refused for
// a reason that depended on the ledger's state then (TigerBeetle pins the id
// of such a failure): a crash came between that refusal and its record. The
// ledger keeps no reason, so refusalOfFailedID re-derives it.
//
// exists_with_different_* says a ledger transfer holds the hold's id but
// differs from it. Made for another request (its user_data_64, the request
// id, differs: the idempotency key was reused after its store record
// expired), it leaves req without a hold: req fails with
// IDEMPOTENCY_CONFLICT. Made for req itself, req's hold exists in another
// form (its ledger form changed since, an asset renumbered): nothing here
// may fail it, and the error says so for an operator.
func ResolveHoldResult(ctx context.Context, l ledger.Ledger, req store.Request, hold ledger.Transfer, r ledger.CreateTransferResult) (store.Status, store.Outcome, error) {
	outcome := HoldOutcome(r)
	switch {
	case outcome.ErrorCode == "":
		return store.StatusPending, outcome, nil
	case r == ledger.TransferIDAlreadyFailed:
		outcome, err := refusalOfFailedID(ctx, l, hold)
		if err != nil {
			return 0, store.Outcome{}, fmt.Errorf("request %d: %w", req.ID, err)
		}
		return store.StatusFailed, outcome, nil
	case !r.ExistsWithDifferent():
		return store.StatusFailed, outcome, nil
	}
	id := ledger.Uint128FromBytes(req.PendingID)
	found, err := l.LookupTransfers(ctx, []ledger.Uint128{id})
	if err != nil {
		return 0, store.Outcome{}, fmt.Errorf("cannot look up hold %s of request %d (%s): %w", id, req.ID, r, err)
	}
	if len(found) != 1 {
		return 0, store.Outcome{}, fmt.Errorf("hold %s of request %d: the ledger answered %s but has no such transfer", id, req.ID, r)
	}
	if found[0].UserData64 == req.ID {
		return 0, store.Outcome{}, fmt.Errorf("hold %s of request %d (%s): %w", id, req.ID, r, ErrHoldMismatch)
	}
	return store.StatusFailed, outcome, nil
}

// refusalOfFailedID re-derives why hold was refused before, from its
// accounts as they are now: one missing is ACCOUNT_NOT_FOUND, one closed
// (frozen) ACCOUNT_FROZEN, otherwise the balance fell short. The accounts
// may have changed since the refusal (an account unfrozen meanwhile reads
// as a short balance); the status, failed, is right either way.
func refusalOfFailedID(ctx context.Context, l ledger.Ledger, hold ledger.Transfer) (store.Outcome, error) {
	accounts, err := l.LookupAccounts(ctx, []ledger.Uint128{hold.DebitAccountID, hold.CreditAccountID})
	if err != nil {
		return store.Outcome{}, fmt.Errorf("cannot look up the accounts of refused hold %s: %w", hold.ID, err)
	}
	if len(accounts) < 2 {
		return HoldOutcome(ledger.TransferCreditAccountNotFound), nil
	}
	for _, a := range accounts {
		if a.Flags&ledger.AccountClosed != 0 {
			return HoldOutcome(ledger.TransferDebitAccountAlreadyClosed), nil
		}
	}
	return HoldOutcome(ledger.TransferExceedsCredits), nil
}

// replayError is the error a replay of stored (final or pending) answers:
// the original answer. A request refused at its hold answered that refusal
// and answers it again; one that failed later, in settlement, answered
// pending and is its own answer now (200 with its status). The one code
// both write is ACCOUNT_FROZEN (settlement voids a hold whose post the
// frozen destination refused): a hold in the ledger says it was settlement.
func (u *userActor) replayError(ctx context.Context, stored store.Request) error {
	err := errorOf(stored)
	if !errors.Is(err, ErrAccountFrozen) {
		return err
	}
	found, lerr := u.svc.ledger.LookupTransfers(ctx, []ledger.Uint128{ledger.Uint128FromBytes(stored.PendingID)})
	if lerr != nil {
		return err // a refusal either way; which one is not worth a failed answer
	}
	for _, t := range found {
		if t.UserData64 == stored.ID {
			return nil
		}
	}
	return err
}

// errorOf is the error a client sees for a stored request.
func errorOf(req store.Request) error {
	if req.Status != store.StatusFailed {
		return nil
	}
	switch req.ErrorCode {
	case "INSUFFICIENT_BALANCE":
		return ErrInsufficientBalance
	case "ACCOUNT_FROZEN":
		return ErrAccountFrozen
	case "ACCOUNT_NOT_FOUND":
		return ErrAccountNotFound
	case "IDEMPOTENCY_CONFLICT":
		return ErrIdempotencyConflict
	}
	return nil // failed later in settlement: the request itself is the answer
}
