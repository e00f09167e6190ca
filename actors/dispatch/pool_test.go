package dispatch

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Runs scheduled one after another reuse one worker.
func TestPoolReusesAParkedWorker(t *testing.T) {
	p := NewPool(Options{IdleMax: time.Minute})
	for range 100 {
		done := make(chan struct{})
		p.Schedule(func() { close(done) })
		<-done
		waitIdle(t, p, 1)
	}
	if n := p.Started(); n != 1 {
		t.Fatalf("%d workers started for 100 runs one after another, want 1", n)
	}
}

// Runs never wait for each other: blocked runs take workers of their own,
// and every run happens exactly once.
func TestPoolRunsConcurrentlyAndOnce(t *testing.T) {
	p := NewPool(Options{IdleMax: time.Minute})
	const n = 200
	release := make(chan struct{})
	var ran atomic.Int64
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		p.Schedule(func() {
			defer wg.Done()
			ran.Add(1)
			<-release // all n block at once
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for ran.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d blocking runs started: runs wait for each other", ran.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := ran.Load(); got != n {
		t.Fatalf("ran %d times, want %d", got, n)
	}
	waitIdle(t, p, n)
}

// Idle workers exit after IdleMax, and no more than IdleCountMax park.
func TestPoolIdleWorkersExit(t *testing.T) {
	p := NewPool(Options{IdleMax: time.Second, IdleCountMax: 3})
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(5)
	for range 5 {
		p.Schedule(func() { defer wg.Done(); <-release })
	}
	close(release)
	wg.Wait()
	waitIdle(t, p, 3)
	time.Sleep(20 * time.Millisecond)
	if p.Idle() > 3 {
		t.Fatalf("%d parked, want at most IdleCountMax 3", p.Idle())
	}
	waitIdle(t, p, 0)
}

func waitIdle(t *testing.T, p *Pool, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.Idle() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers parked, want %d", p.Idle(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
