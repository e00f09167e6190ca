package transfers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/dispatch"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// Publisher sends a confirmation record for a pending request to settlement.
// It must not block: on failure the request stays pending and the scanner
// re-drives it.
type Publisher interface {
	PublishAsync(req store.Request, done func(error))
}

// Options bound the service.
type Options struct {
	NodeID         int
	MailboxMax     int           // requests queued per user actor
	InFlightMax    int           // requests in the pipeline across all users
	IdleTimeout    time.Duration // a user actor with nothing to do stops after this
	RequestTimeout time.Duration // one request's whole budget
	RetryAfter     time.Duration // advertised to clients on overload
	Logger         *slog.Logger
	// UserActorsMax bounds the live user actors (memory): a new user's
	// actor beyond it first retires the longest-idle actors with nothing
	// queued; when every one is busy, the request is refused overloaded.
	// Zero: DefaultUserActorsMax.
	UserActorsMax int
	// Sync, when set, makes the store's writes so far durable. It is set
	// with a store that defers its fsyncs to the ledger's, in one WAL
	// (store/embedded Options.DeferSync): an answer that no hold created
	// in its request made durable runs it first. Nil: every store write
	// is durable when it returns.
	Sync func(context.Context) error
	// Clock is the request ids' clock; nil: time.Now.
	Clock func() time.Time
	// IDsValid, when set, says whether this node may issue request ids (its
	// claim on Options.NodeID surely holds); while it says no, new
	// requests are refused unavailable, before anything is written.
	IDsValid func() bool
}

// Service is the transfer service: it routes each request to its user's
// actor and serves reads.
type Service struct {
	system  *actor.ActorSystem
	ledger  ledger.Ledger
	store   store.Store
	pub     Publisher
	catalog *Catalog
	ids     *IDGenerator
	opts    Options
	log     *slog.Logger
	users   sync.Map // uint64 → *userRef
	// liveUsers counts the routes in users: only the supervisor adds
	// routes, and every removal goes through forget.
	liveUsers atomic.Int64
	// inlineWalks counts the eviction walks a new user waited for (for
	// tests), and walking is set while a background one runs (see
	// supervisor.makeRoom and walkAhead).
	inlineWalks atomic.Int64
	walking     atomic.Bool
	inflight    atomic.Int64
	// publishLoggedAt (unix ns) and publishUnlogged rate-limit the log of
	// confirmations that could not be published (see publishFailed).
	publishLoggedAt atomic.Int64
	publishUnlogged atomic.Int64
	// afterClosedCheck, set by tests before any Submit, runs in Submit
	// right after its closed check: a request there is one Close must wait
	// for.
	afterClosedCheck func()
	// retireHook, set by tests, runs in the supervisor's retire between
	// the depth swap and forgetting the route.
	retireHook  func(user uint64)
	closed      atomic.Bool
	parent      *actor.PID                // supervisor of the user actors
	deadLetters *eventstream.Subscription // answerDeadLetter's
	dispatch    *dispatch.Pool            // runs the user actors' mailboxes on reused goroutines
}

// userRef is the route to one user's actor, its queue depth and when a
// request last came for it (unix nanoseconds).
type userRef struct {
	pid   *actor.PID
	depth atomic.Int64
	last  atomic.Int64 // monoNow of the last use (spawn or Submit)
}

// DefaultUserActorsMax is Options.UserActorsMax's default.
const DefaultUserActorsMax = 100_000

var (
	dbErrors     = metrics.GetOrCreateCounter("internal_transfer_db_errors")
	tbErrors     = metrics.GetOrCreateCounter("internal_transfer_tb_errors")
	streamErrors = metrics.GetOrCreateCounter("internal_transfer_stream_errors")
	failedTotal  = metrics.GetOrCreateCounter("internal_transfer_failed")
	mailboxDepth = metrics.GetOrCreateGauge("internal_transfer_mailbox_depth", nil)
	userActors   = metrics.GetOrCreateGauge("internal_transfer_user_actors", nil)
	userEvicted  = metrics.GetOrCreateCounter("internal_transfer_user_actors_evicted_total")
)

// NewService starts the user-actor supervisor on system. l should be the
// batcher so that holds from many users share ledger batches.
func NewService(system *actor.ActorSystem, l ledger.Ledger, s store.Store, pub Publisher, catalog *Catalog, opts Options) (*Service, error) {
	ids, err := NewIDGenerator(opts.NodeID, opts.Clock)
	if err != nil {
		return nil, err
	}
	if opts.MailboxMax < 1 || opts.InFlightMax < 1 || opts.IdleTimeout <= 0 || opts.RequestTimeout <= 0 {
		return nil, fmt.Errorf("invalid transfer service options %+v", opts)
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.UserActorsMax <= 0 {
		opts.UserActorsMax = DefaultUserActorsMax
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	svc := &Service{system: system, ledger: l, store: s, pub: pub, catalog: catalog, ids: ids, opts: opts, log: opts.Logger,
		dispatch: dispatch.NewPool(dispatch.Options{})}
	svc.parent = system.Root.Spawn(supervisorProps(svc))
	svc.deadLetters = system.EventStream.Subscribe(answerDeadLetter)
	return svc, nil
}

// answerDeadLetter answers a submission that reached no actor (it had
// stopped between Submit's lookup and its send): nothing of it ran. It runs
// on the sender's goroutine, for every dead letter of the actor system.
func answerDeadLetter(evt any) {
	if dl, ok := evt.(*actor.DeadLetterEvent); ok {
		if m, ok := dl.Message.(*submit); ok {
			m.answer(submitResult{deadLetter: true})
		}
	}
}

// submitAttempts bounds Submit's tries to reach a live actor of the user.
const submitAttempts = 5

// answerMargin is how much longer Submit waits for the actor's answer than
// the request's deadline: the store write or ledger call in progress at the
// deadline finishes first (each honours its context when it starts or waits).
const answerMargin = time.Second

// retiredDepth marks a userRef whose actor the supervisor is stopping for
// idleness: far below zero, so Submit's increment stays negative and says so.
const retiredDepth = math.MinInt64 / 2

// actorFor is the one way to reach a user's actor: today a local actor
// spawned on first use, later a cluster identity.
// A route that is retired, the caller's last one (nil: none), is not
// used: the supervisor is asked for a fresh actor, waiting no longer than
// ctx allows (nor than Options.RequestTimeout).
func (s *Service) actorFor(ctx context.Context, user uint64, retired *userRef) (*userRef, error) {
	if ref, ok := s.users.Load(user); ok && ref != retired {
		return ref.(*userRef), nil
	}
	wait := s.opts.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	if wait <= 0 {
		return nil, fmt.Errorf("cannot spawn actor of user %d: %w", user, context.DeadlineExceeded)
	}
	res, err := s.system.Root.RequestFuture(s.parent, &spawnUser{user: user, retired: retired}, wait).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot spawn actor of user %d: %w", user, err)
	}
	switch r := res.(type) {
	case *userRef:
		return r, nil
	case error:
		if errors.Is(r, ErrOverloaded) {
			return nil, r
		}
		return nil, fmt.Errorf("cannot spawn actor of user %d: %w", user, r)
	}
	panic(fmt.Sprintf("BUG: supervisor answered %T", res))
}

// Submit runs cmd through the actor of cmd.UserID. The returned request is
// pending, or failed together with the error that failed it.
func (s *Service) Submit(ctx context.Context, cmd Command) (store.Request, error) {
	// Counted in before the closed check: Close sets closed, then waits
	// for the count to drain, so it either sees this request or this
	// request sees closed.
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if s.closed.Load() {
		return store.Request{}, s.retryable(ErrUnavailable)
	}
	if s.afterClosedCheck != nil { // tests only
		s.afterClosedCheck()
	}
	if n > int64(s.opts.InFlightMax) {
		return store.Request{}, s.retryable(ErrOverloaded)
	}
	var retired *userRef // the route met last, retired
	for attempt := 0; attempt < submitAttempts; attempt++ {
		if attempt > 0 && s.closed.Load() {
			// Closing: nothing of cmd ran (the earlier attempts reached no
			// actor), and a dead letter after Close would go unanswered.
			return store.Request{}, s.retryable(ErrUnavailable)
		}
		ref, err := s.actorFor(ctx, cmd.UserID, retired)
		if errors.Is(err, ErrOverloaded) { // every live actor is busy
			return store.Request{}, s.retryable(ErrOverloaded)
		}
		if err != nil && ctx.Err() != nil {
			// The caller's deadline passed on the way to an actor: nothing
			// of cmd was sent (a spawn answered late only starts an actor).
			return store.Request{}, s.retryable(ErrUnavailable)
		}
		if err != nil { // e.g. the previous actor is still stopping
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
			continue
		}
		timeout := s.opts.RequestTimeout
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
			timeout = time.Until(dl)
		}
		if timeout <= 0 { // nothing sent (a zero wait would never end)
			return store.Request{}, s.retryable(ErrUnavailable)
		}
		depth := ref.depth.Add(1)
		if depth < 0 {
			// Retired for idleness (see supervisor): its stop is queued and
			// it would drop this request unanswered. Use a fresh actor.
			// The supervisor forgets the route, not this goroutine: its
			// retire may be half-way, between the swap and forgetting the
			// route, and must still find the route to stop the actor.
			ref.depth.Add(-1)
			retired = ref
			continue
		}
		if depth > int64(s.opts.MailboxMax) {
			ref.depth.Add(-1)
			return store.Request{}, s.retryable(ErrOverloaded)
		}
		ref.last.Store(monoNow())
		mailboxDepth.Inc()
		// The actor answers by the deadline, or refuses a request it reaches
		// after it without touching it; this wait is longer, so the caller's
		// own timer never turns a request the actor started into "nothing
		// happened, retry" (which a client without a key would act on).
		now := time.Now()
		msg := submits.Get().(*submit)
		msg.cmd, msg.deadline = cmd, now.Add(timeout)
		wait, stop := deadline.At(now.Add(timeout + answerMargin))
		s.system.Root.Send(ref.pid, msg)
		var answered bool
		select {
		case <-msg.done:
			answered = true
		case <-wait.Done():
		}
		stop()
		ref.depth.Add(-1)
		mailboxDepth.Dec()
		switch {
		case !answered:
			// No answer even after the margin: the actor may be running it.
			return store.Request{}, s.retryable(ErrOutcomeUnknown)
		case msg.res.deadLetter:
			// The actor stopped between lookup and send: the request never
			// ran, so sending it to a fresh actor is safe.
			msg.recycle()
			s.forget(cmd.UserID, ref)
			continue
		}
		req, err := msg.res.req, msg.res.err
		msg.recycle()
		return req, err
	}
	return store.Request{}, s.retryable(ErrUnavailable)
}

// forget removes user's route if it is still ref, and counts it out.
func (s *Service) forget(user uint64, ref *userRef) bool {
	if !s.users.CompareAndDelete(user, ref) {
		return false
	}
	s.liveUsers.Add(-1)
	userActors.Dec()
	return true
}

func (s *Service) retryable(err error) error {
	return &RetryableError{Err: err, RetryAfter: s.opts.RetryAfter}
}

// Get returns request id. What it returns is durable (see readDurable).
func (s *Service) Get(ctx context.Context, id uint64) (store.Request, error) {
	req, err := s.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Request{}, ErrNotFound
	}
	if err == nil {
		err = s.readDurable(ctx)
	}
	if err != nil {
		dbErrors.Inc()
		return store.Request{}, s.retryable(ErrUnavailable)
	}
	return req, nil
}

// History returns a page of q.UserID's requests. What it returns is
// durable (see readDurable).
func (s *Service) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	page, err := s.store.History(ctx, q)
	if errors.Is(err, store.ErrInvalid) {
		return store.HistoryPage{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err == nil && len(page.Requests) > 0 {
		err = s.readDurable(ctx)
	}
	if err != nil {
		dbErrors.Inc()
		return store.HistoryPage{}, s.retryable(ErrUnavailable)
	}
	return page, nil
}

// readDurable makes what a read just returned durable before it is shown,
// when the store defers its fsyncs (Options.Sync): a read sees commits
// that no fsync covers yet (settlement's success, a request whose hold is
// still on its way), and a client shown success must never read pending
// after a power loss. The store's Sync returns at once when nothing
// written since its last fsync waits for one.
func (s *Service) readDurable(ctx context.Context) error {
	if s.opts.Sync == nil {
		return nil
	}
	sctx, cancel := deadline.Within(ctx, syncTimeout)
	defer cancel()
	if err := s.opts.Sync(sctx); err != nil {
		s.log.Warn("cannot sync the store before showing a read", "err", err)
		return err
	}
	return nil
}

// Balances returns every account of user, in catalog order.
func (s *Service) Balances(ctx context.Context, user uint64) ([]Balance, error) {
	return balances(ctx, s.ledger, s.catalog, user, s.retryable)
}

// Close stops accepting requests and stops every user actor after it has
// answered what it was given: requests already in Submit are answered (by
// their deadline at the latest) before any actor is told to stop, because a
// stopping actor drops what is still queued for it.
func (s *Service) Close() {
	if s.closed.Swap(true) {
		return
	}
	// Every request counted in before closed was set is answered (its
	// actor answers by its deadline, the wait ends answerMargin later);
	// one may first wait up to RequestTimeout for its actor to start
	// (actorFor), and a message sent after the poisons below would be
	// dropped unanswered.
	deadline := time.Now().Add(2*s.opts.RequestTimeout + answerMargin + 100*time.Millisecond)
	for s.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	var stopping []*actor.Future
	s.users.Range(func(_, v any) bool {
		stopping = append(stopping, s.system.Root.PoisonFuture(v.(*userRef).pid))
		return true
	})
	for _, f := range stopping {
		_ = f.Wait()
	}
	_ = s.system.Root.PoisonFuture(s.parent).Wait()
	s.system.EventStream.Unsubscribe(s.deadLetters)
}

// publishLogEvery is the least time between two log lines about
// confirmations that could not be published: while Kafka is out, every
// pending request fails to publish, thousands a second.
const publishLogEvery = time.Second

// publishFailed counts a confirmation of request id that could not be
// published (internal_transfer_stream_errors) and logs it, at most once per
// publishLogEvery with the number left unlogged since the last line. The
// request stays pending; the scanner publishes it again.
func (s *Service) publishFailed(id uint64, err error) {
	streamErrors.Inc()
	now := time.Now().UnixNano()
	last := s.publishLoggedAt.Load()
	if now-last < int64(publishLogEvery) || !s.publishLoggedAt.CompareAndSwap(last, now) {
		s.publishUnlogged.Add(1)
		return
	}
	s.log.Warn("cannot publish confirmation; the scanner will re-drive it", "request_id", id, "err", err,
		"unlogged_before", s.publishUnlogged.Swap(0))
}
