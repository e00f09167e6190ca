package transfers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

func newTestService(t *testing.T) *Service {
	t.Helper()
	return newTestServiceWith(t, nil)
}

// newTestServiceWith is newTestService on the store wrap makes of the
// embedded one (nil: the embedded one itself).
func newTestServiceWith(t *testing.T, wrap func(store.Store) store.Store) *Service {
	t.Helper()
	return newTestServiceOpts(t, wrap, nil)
}

// newTestServiceOpts is newTestServiceWith with its options changed by opt
// (nil: none).
func newTestServiceOpts(t *testing.T, wrap func(store.Store) store.Store, opt func(*Options)) *Service {
	t.Helper()
	el, err := ledgerembedded.Open(ledgerembedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := storeembedded.Open(storeembedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCatalog([]Asset{{Name: "USDT", Ledger: 1, Decimals: 8}},
		[]AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}}, []Route{{From: "funding", To: "spot"}})
	if err != nil {
		t.Fatal(err)
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	var used store.Store = st
	if wrap != nil {
		used = wrap(st)
	}
	opts := Options{NodeID: 1, MailboxMax: 10, InFlightMax: 10,
		IdleTimeout: time.Hour, RequestTimeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if opt != nil {
		opt(&opts)
	}
	svc, err := NewService(sys, el, used, nil, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		sys.Shutdown()
		_ = st.Close()
		_ = el.Close()
	})
	return svc
}

// roundTrip returns once the supervisor has handled everything sent to it
// before (its mailbox is FIFO).
func roundTrip(t *testing.T, svc *Service) {
	t.Helper()
	if _, err := svc.system.Root.RequestFuture(svc.parent, &spawnUser{user: 999_999}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
}

// The supervisor stops an idle actor only while no Submit has counted itself
// in, and marks the route retired so that a Submit holding it goes elsewhere
// instead of queueing behind the stop (where it would be dropped unanswered).
func TestIdleStopRetiresOnlyAnIdleRoute(t *testing.T) {
	svc := newTestService(t)
	const user uint64 = 42
	ref, err := svc.actorFor(context.Background(), user, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref.depth.Add(1) // a Submit on its way
	svc.system.Root.Send(svc.parent, &userIdle{user: user, pid: ref.pid})
	roundTrip(t, svc)
	if got, ok := svc.users.Load(user); !ok || got != ref || ref.depth.Load() != 1 {
		t.Fatalf("idle stop with a request on its way: route kept %v, depth %d; want kept, 1", ok, ref.depth.Load())
	}
	ref.depth.Add(-1)
	svc.system.Root.Send(svc.parent, &userIdle{user: user, pid: ref.pid})
	roundTrip(t, svc)
	if _, ok := svc.users.Load(user); ok || ref.depth.Add(1) >= 0 {
		t.Fatalf("idle stop of an idle route: route kept %v, depth %d; want forgotten and negative", ok, ref.depth.Load())
	}
}

// A Submit that loaded a route just before it was retired runs the request
// on a fresh actor instead of sending it to the one being stopped.
func TestSubmitLeavesARetiredRoute(t *testing.T) {
	svc := newTestService(t)
	const user uint64 = 43
	// The retired route's actor never answers: a request sent there would
	// wait out the whole deadline.
	deaf := svc.system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	stale := &userRef{pid: deaf}
	stale.depth.Store(retiredDepth)
	svc.users.Store(user, stale)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := svc.Submit(ctx, Command{UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 1, Received: time.Now()})
	if err != ErrInsufficientBalance && (err == nil || !isRequestOutcome(err)) {
		t.Fatalf("Submit with a retired route: %v; want the request run (refused for its balance)", err)
	}
	if got, ok := svc.users.Load(user); !ok || got == stale {
		t.Fatalf("route after Submit: %v; want a fresh actor's", got)
	}
}

// stoppedActorRoute stores, as user's route, one to an actor that has
// stopped, with a live depth (not retired), and returns it.
func stoppedActorRoute(t *testing.T, svc *Service, user uint64) *userRef {
	t.Helper()
	gone := svc.system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	if err := svc.system.Root.StopFuture(gone).Wait(); err != nil {
		t.Fatal(err)
	}
	stale := &userRef{pid: gone}
	svc.users.Store(user, stale)
	svc.liveUsers.Add(1)
	return stale
}

// submitOne submits a transfer of 1 within user's own accounts, which an
// unfunded user is refused for its balance.
func submitOne(svc *Service, user uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := svc.Submit(ctx, Command{UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 1, Received: time.Now()})
	return err
}

// A Submit whose route names an actor that has stopped (not retired: its
// depth says live) reaches no actor; the dead letter is answered at once,
// and the request runs on a fresh actor instead of waiting out its deadline.
func TestSubmitToAStoppedActorRunsOnAFreshOne(t *testing.T) {
	svc := newTestService(t)
	const user uint64 = 45
	stale := stoppedActorRoute(t, svc, user)
	start := time.Now()
	err := submitOne(svc, user)
	if err != ErrInsufficientBalance && (err == nil || !isRequestOutcome(err)) {
		t.Fatalf("Submit with a stopped actor's route: %v; want the request run (refused for its balance)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Submit took %v: it waited for an answer from a stopped actor", took)
	}
	if got, ok := svc.users.Load(user); !ok || got == stale {
		t.Fatalf("route after Submit: %v; want a fresh actor's", got)
	}
}

// A Submit whose first attempt reaches a stopped actor while the service
// is closing does not try again on a fresh actor: nothing of it ran, and
// the answer says so (retry), instead of running it during the shutdown.
func TestSubmitDoesNotRetryWhileClosing(t *testing.T) {
	svc := newTestService(t)
	const user uint64 = 46
	stale := stoppedActorRoute(t, svc, user)
	// Close begins right after this Submit's own closed check.
	svc.SetAfterClosedCheck(func() { svc.closed.Store(true) })
	err := submitOne(svc, user)
	svc.closed.Store(false) // so the test's cleanup runs the whole Close
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Submit during Close after a dead letter: %v; want ErrUnavailable, nothing run", err)
	}
	if got, ok := svc.users.Load(user); ok && got != stale {
		t.Fatal("a fresh actor was started for the request while closing")
	}
}

// A user actor stopped by its supervision policy (not for idleness) is
// forgotten, so the next request starts a fresh one.
func TestStoppedUserActorIsForgotten(t *testing.T) {
	svc := newTestService(t)
	const user uint64 = 44
	ref, err := svc.actorFor(context.Background(), user, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.system.Root.Stop(ref.pid)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := svc.users.Load(user); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the route of a stopped user actor is still there after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A Submit that meets a route while the supervisor retires it, between
// retire's depth swap and its forgetting the route, goes to a fresh actor,
// and the retired one still stops. (When that Submit forgot the route
// itself, retire found no route, never stopped the actor, and the actor
// kept the user's name: every later Submit of the user failed, until the
// process restarted.)
func TestSubmitRacingRetireGetsAFreshActor(t *testing.T) {
	svc := newTestService(t)
	const user uint64 = 77
	if err := submitOne(svc, user); err != ErrInsufficientBalance {
		t.Fatalf("first submit: %v", err)
	}
	ref, err := svc.actorFor(context.Background(), user, nil)
	if err != nil {
		t.Fatal(err)
	}
	racing := make(chan error, 1)
	svc.retireHook = func(u uint64) { // on the supervisor, after the swap
		if u != user {
			return
		}
		svc.retireHook = nil
		go func() { racing <- submitOne(svc, user) }()
		// Give the racing Submit time to meet the retired route (and to
		// forget it, were that still its part).
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if _, ok := svc.users.Load(user); !ok {
				break
			}
		}
	}
	svc.system.Root.Send(svc.parent, &userIdle{user: user, pid: ref.pid})
	if err := <-racing; err != ErrInsufficientBalance {
		t.Fatalf("the Submit racing the retire: %v; want its request run (refused for its balance)", err)
	}
	for i := range 3 {
		if err := submitOne(svc, user); err != ErrInsufficientBalance {
			t.Fatalf("submit %d after the retire: %v; want the request run", i, err)
		}
	}
	if got, ok := svc.users.Load(user); !ok || got == ref {
		t.Fatalf("route after the retire: %v; want a fresh actor's", got)
	}
	if n := svc.liveUsers.Load(); n != 1 {
		t.Fatalf("%d live user actors counted, want 1", n)
	}
}

// A Submit whose way to an actor is slow (the supervisor busy: here, held
// in a retire) gives up at the caller's deadline, not after RequestTimeout
// for each of its attempts, and says nothing was sent.
func TestSubmitWaitsForAnActorOnlyUntilItsDeadline(t *testing.T) {
	svc := newTestService(t) // RequestTimeout 2 s
	const held, user uint64 = 78, 79
	if err := submitOne(svc, held); err != ErrInsufficientBalance {
		t.Fatalf("first submit: %v", err)
	}
	ref, err := svc.actorFor(context.Background(), held, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	svc.retireHook = func(u uint64) {
		if u == held {
			close(entered)
			<-release // the supervisor handles nothing else meanwhile
		}
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	svc.system.Root.Send(svc.parent, &userIdle{user: held, pid: ref.pid})
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = svc.Submit(ctx, Command{UserID: user, ToUserID: user, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 1, Fingerprint: "fp", Received: time.Now()})
	if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > time.Second {
		t.Fatalf("Submit with a 200 ms deadline and no actor to be had: %v after %v; want unavailable by its deadline", err, took)
	}
	close(release)
	if err := submitOne(svc, user); err != ErrInsufficientBalance {
		t.Fatalf("submit once the supervisor is free: %v", err)
	}
}
