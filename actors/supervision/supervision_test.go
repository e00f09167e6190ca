package supervision

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestBackoffDoublesUpToMax(t *testing.T) {
	cases := []struct {
		failures int
		want     time.Duration
	}{{1, 10 * time.Millisecond}, {2, 20 * time.Millisecond}, {3, 40 * time.Millisecond}, {10, 100 * time.Millisecond}}
	for _, c := range cases {
		if got := Backoff(10*time.Millisecond, 100*time.Millisecond, c.failures); got != c.want {
			t.Errorf("failure %d: %v, want %v", c.failures, got, c.want)
		}
	}
}

// crasher panics on every "crash" message and counts its starts.
type crasher struct{ starts *atomic.Int64 }

func (c *crasher) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		c.starts.Add(1)
	case string:
		panic("crash")
	case int:
		ctx.Respond(msg)
	}
}

// parent spawns one crasher under the policy's strategy.
type parent struct {
	policy Policy
	starts *atomic.Int64
	child  chan *actor.PID
}

func (p *parent) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		p.child <- ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &crasher{starts: p.starts} }))
	}
}

func TestStrategyRestartsThenStops(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer system.Shutdown()
	policy := Policy{MaxRestarts: 2, Window: time.Minute, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var starts atomic.Int64
	p := &parent{policy: policy, starts: &starts, child: make(chan *actor.PID, 1)}
	system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }, actor.WithSupervisor(policy.Strategy())))
	child := <-p.child
	if _, err := system.Root.RequestFuture(child, 1, time.Second).Result(); err != nil {
		t.Fatalf("fresh child does not answer: %v", err)
	}
	for i := 0; i < 3; i++ {
		system.Root.Send(child, "crash")
	}
	// First start plus two restarts; the third failure stops the child.
	for deadline := time.Now().Add(5 * time.Second); starts.Load() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child started %d times within 5 s, want 3 (1 + MaxRestarts)", starts.Load())
		}
	}
	time.Sleep(50 * time.Millisecond) // a fourth start would come within this
	if got := starts.Load(); got != 3 {
		t.Fatalf("child started %d times, want 3 (1 + MaxRestarts)", got)
	}
	if _, err := system.Root.RequestFuture(child, 1, 200*time.Millisecond).Result(); err == nil {
		t.Fatal("child still answers after exceeding its restarts")
	}
}
