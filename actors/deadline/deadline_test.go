package deadline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// grainStart is the start of the grain holding t, on the monotonic clock.
func grainStart(t time.Time) time.Time {
	return base.Add(t.Sub(base) / Grain * Grain)
}

func TestAtSharesOneContextPerGrain(t *testing.T) {
	start := grainStart(time.Now().Add(time.Second))
	a, cancelA := At(start.Add(100 * time.Microsecond))
	b, cancelB := At(start.Add(900 * time.Microsecond))
	c, cancelC := At(start.Add(Grain))
	defer cancelA()
	defer cancelB()
	defer cancelC()
	if a != b {
		t.Fatal("two deadlines in the same millisecond got different contexts")
	}
	if a == c {
		t.Fatal("deadlines in different milliseconds got the same context")
	}
	if d, ok := a.Deadline(); !ok || !d.Equal(start) {
		t.Fatalf("deadline %v (set %v), want %v: rounded down to the grain", d, ok, start)
	}
	if d, _ := c.Deadline(); !d.Equal(start.Add(Grain)) {
		t.Fatalf("deadline %v, want %v", d, start.Add(Grain))
	}
}

// TestDeadlinesRunOnTheMonotonicClock: a shared context's deadline carries
// the monotonic reading, so its timer and Deadline are immune to steps of
// the wall clock (as context.WithTimeout's are); a key taken from the wall
// clock would not be.
func TestDeadlinesRunOnTheMonotonicClock(t *testing.T) {
	ctx, cancel := After(time.Minute)
	defer cancel()
	d, _ := ctx.Deadline()
	if d.String() == d.Round(0).String() { // Round(0) strips the monotonic reading
		t.Fatalf("deadline %v has no monotonic clock reading", d)
	}
	if left := time.Until(d); left > time.Minute || left < time.Minute-time.Second {
		t.Fatalf("deadline %v from now, want about a minute", left)
	}
}

func TestSharedContextEndsAtItsDeadline(t *testing.T) {
	want := time.Now().Add(MinShared + 20*time.Millisecond)
	ctx, cancel := At(want)
	cancel() // a no-op: the context must still be live
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err before the deadline: %v", err)
	}
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the shared context never ended")
	}
	if now := time.Now(); now.Before(want.Add(-Grain)) {
		t.Fatalf("ended at %v, more than a grain before its deadline %v", now, want)
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v, want DeadlineExceeded", ctx.Err())
	}
	select {
	case <-child.Done():
	case <-time.After(time.Second):
		t.Fatal("a context derived from the shared one did not end with it")
	}
}

func TestNearDeadlineGetsItsOwnExactContext(t *testing.T) {
	at := time.Now().Add(MinShared / 2)
	a, cancelA := At(at)
	b, cancelB := At(at)
	if a == b {
		t.Fatal("a deadline nearer than MinShared was shared")
	}
	if d, _ := a.Deadline(); !d.Equal(at) {
		t.Fatalf("deadline %v, want exactly %v", d, at)
	}
	cancelA()
	if a.Err() == nil {
		t.Fatal("cancel did not end an unshared context")
	}
	if b.Err() != nil {
		t.Fatal("cancelling one unshared context ended another")
	}
	cancelB()
}

type key struct{}

func TestWithin(t *testing.T) {
	t.Run("parent ending first is returned as is", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ctx, done := Within(parent, time.Minute)
		defer done()
		if ctx != parent {
			t.Fatal("Within made a context though the parent's deadline comes first")
		}
	})
	t.Run("background gives a shared context", func(t *testing.T) {
		a, doneA := Within(context.Background(), time.Minute)
		defer doneA()
		if _, ok := a.(*shared); !ok {
			t.Fatalf("got %T, want a shared context", a)
		}
		if d, _ := a.Deadline(); time.Until(d) > time.Minute || time.Until(d) < time.Minute-time.Second {
			t.Fatalf("deadline %v from now, want about a minute", time.Until(d))
		}
	})
	t.Run("shared parent ending later gives a shared context at the nearer deadline", func(t *testing.T) {
		parent, done := After(time.Hour)
		defer done()
		ctx, done2 := Within(parent, time.Minute)
		defer done2()
		if _, ok := ctx.(*shared); !ok || ctx == parent {
			t.Fatalf("got %T (parent itself: %v), want another shared context", ctx, ctx == parent)
		}
		if d, _ := ctx.Deadline(); time.Until(d) > time.Minute {
			t.Fatalf("deadline %v from now, want at most a minute", time.Until(d))
		}
	})
	t.Run("a parent with values or its own cancel is derived from", func(t *testing.T) {
		parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
		ctx, done := Within(parent, time.Minute)
		defer done()
		if ctx.Value(key{}) != "v" {
			t.Fatal("the parent's value is lost")
		}
		cancelParent()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			t.Fatal("cancelling the parent did not end the bounded context")
		}
	})
}

func TestAtConcurrentCallersShare(t *testing.T) {
	at := time.Now().Add(10 * time.Second)
	const n = 64
	got := make([]context.Context, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := At(at)
			defer cancel()
			got[i] = ctx
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("caller %d got another context than caller 0", i)
		}
	}
}

func TestSharedDeadlineAllocatesNothing(t *testing.T) {
	at := time.Now().Add(10 * time.Second)
	ctx, cancel := At(at) // made once, with its Done channel
	_ = ctx.Done()
	cancel()
	allocs := testing.AllocsPerRun(1000, func() {
		c, cancel := Within(context.Background(), time.Until(at))
		if c.Done() == nil || c.Err() != nil {
			panic("not a live deadline context")
		}
		cancel()
	})
	if allocs > 0.01 {
		t.Fatalf("%.2f allocations per bounded call, want none once the millisecond's context exists", allocs)
	}
}
