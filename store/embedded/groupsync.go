package embedded

import (
	"runtime"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// groupSync makes the writes that callers committed without a sync
// durable, many callers to one WAL fsync. A caller commits its batch with
// pebble.NoSync, then joins the next round and waits for it; one goroutine
// runs the rounds, each a Pebble LogData with Sync, which fsyncs the WAL
// up to and past every batch committed before it began.
//
// The point is the pause before each round. Committing with pebble.Sync
// groups concurrent callers too, but Pebble starts the next fsync the
// moment the last one returns: the writers that fsync woke are then still
// queued to run, so they miss that fsync and wait for the one after. (Our
// reading: with two Ps, one is held by the goroutine in the fsync
// syscall. With -cpu 4 the same benchmark made 24–25 writes per fsync
// instead of 19–20, and 146K and 170K writes/s against 134K and 138K.)
// Here the round goroutine yields once (runtime.Gosched) before it starts
// the next round, so the woken writers run first and commit their next
// writes into it. (An earlier session held the next fsync through Pebble's
// minimum-sync-interval callback instead, which waits on a Go timer, and
// measured 93–106K writes/s against 114–123K.)
//
// BenchmarkTransfer (64 writers, 1000000x, -cpu 2, three alternating pairs
// of runs): 166K, 168K and 180K writes/s against 148K, 143K and 134K with
// pebble.Sync; writes per fsync went from 19–20 to 36, and CPU per write
// from 8.1–9.0 µs to 6.9–7.4 µs.
// A writer alone pays two goroutine hand-offs more per write, a few
// microseconds against an fsync of 100 µs or more; with spare Ps those
// hand-offs cost more than the yield gains, and the store commits with
// pebble.Sync instead (useGroupSync).
type groupSync struct {
	db *pebble.DB

	mu     sync.Mutex
	next   *syncRound // the round a caller joining now waits for
	joined bool       // next has a caller

	kick   chan struct{} // capacity 1: a round has a caller
	exited chan struct{} // closed when run returns
}

// syncRound is one fsync of the WAL: err is set before done is closed.
type syncRound struct {
	done chan struct{}
	err  error
}

func newGroupSync(db *pebble.DB) *groupSync {
	g := &groupSync{
		db:     db,
		next:   &syncRound{done: make(chan struct{})},
		kick:   make(chan struct{}, 1),
		exited: make(chan struct{}),
	}
	go g.run()
	return g
}

// join returns the round that makes every write its caller has committed
// durable; wait for its done, then read its err.
func (g *groupSync) join() *syncRound {
	g.mu.Lock()
	r := g.next
	g.joined = true
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a kick is pending: run will see joined
	}
	return r
}

// wait joins the next round and waits for it.
func (g *groupSync) wait() error {
	r := g.join()
	<-r.done
	return r.err
}

// stop ends run after the rounds already joined; the caller guarantees no
// join follows (the store is closed). It returns when run has returned, so
// the database can be closed.
func (g *groupSync) stop() {
	close(g.kick)
	<-g.exited
}

func (g *groupSync) run() {
	defer close(g.exited)
	for range g.kick {
		runtime.Gosched() // let the writers the last round woke join this one
		g.mu.Lock()
		if !g.joined { // a stale kick: its caller's round already ran
			g.mu.Unlock()
			continue
		}
		r := g.next
		g.next = &syncRound{done: make(chan struct{})}
		g.joined = false
		g.mu.Unlock()
		r.err = g.db.LogData(nil, pebble.Sync)
		close(r.done)
	}
}
