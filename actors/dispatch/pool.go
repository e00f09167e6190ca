// Package dispatch runs protoactor mailboxes on reused goroutines.
//
// protoactor's default dispatcher starts a goroutine each time a mailbox is
// scheduled. A transfer's mailbox run goes deep (a Pebble commit under the
// store and the ledger), so every fresh goroutine grew its stack again:
// runtime.newstack and copystack took 5.4 % of the service's CPU in the
// closed-loop profile of docs/benchmark-notes.md (session 6). A Pool keeps finished workers
// parked for the next run, their stacks already grown. The user, batcher
// and settlement partition actors run on pools. In 30 s closed-loop runs
// (64 workers), three each, alternated first against the user actors alone
// on a pool and then against all three: 7,327/s at 189 µs of service CPU
// per attempt before, 8,455/s at 160 µs after (medians); at 5K/s offered
// the CPU per attempt moved 2 % (bench/bench.sh; session 6 of
// docs/benchmark-notes.md).
package dispatch

import (
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a protoactor Dispatcher (Schedule, Throughput). Each Schedule runs
// fn on an idle worker, or on a new one when none is idle: runs never wait
// for each other, as with the default dispatcher. A worker idle for IdleMax
// exits, and at most IdleCountMax workers stay parked.
type Pool struct {
	throughput   int
	idleMax      time.Duration
	idleCountMax int

	mu   sync.Mutex
	idle []*worker // parked workers, most recently parked last

	started atomic.Int64 // workers ever started (tests)
}

type worker struct{ next chan func() }

// Options configure NewPool; zero fields take the defaults.
type Options struct {
	Throughput   int           // messages a mailbox run processes before yielding; default 300 (protoactor's)
	IdleMax      time.Duration // default 10 s
	IdleCountMax int           // default 4096
}

// NewPool returns an empty pool.
func NewPool(o Options) *Pool {
	if o.Throughput <= 0 {
		o.Throughput = 300
	}
	if o.IdleMax <= 0 {
		o.IdleMax = 10 * time.Second
	}
	if o.IdleCountMax <= 0 {
		o.IdleCountMax = 4096
	}
	return &Pool{throughput: o.Throughput, idleMax: o.IdleMax, idleCountMax: o.IdleCountMax}
}

// Throughput is the protoactor mailbox batch size.
func (p *Pool) Throughput() int { return p.throughput }

// Schedule runs fn on a parked worker, or a new one.
func (p *Pool) Schedule(fn func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.next <- fn // buffered: the worker takes it when it wakes
		return
	}
	p.mu.Unlock()
	p.started.Add(1)
	go p.work(&worker{next: make(chan func(), 1)}, fn)
}

// work runs fn and then each run handed to it, until it idles out.
func (p *Pool) work(w *worker, fn func()) {
	var timer *time.Timer
	for {
		fn()
		fn = nil
		if !p.park(w) {
			return
		}
		if timer == nil {
			timer = time.NewTimer(p.idleMax)
		} else {
			timer.Reset(p.idleMax)
		}
		select {
		case fn = <-w.next:
			timer.Stop()
		case <-timer.C:
			if p.unpark(w) {
				return
			}
			fn = <-w.next // Schedule took it off the list as the timer fired
		}
	}
}

// park lists w as idle, unless IdleCountMax workers already are.
func (p *Pool) park(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= p.idleCountMax {
		return false
	}
	p.idle = append(p.idle, w)
	return true
}

// unpark removes w from the idle list; false when Schedule already took it.
func (p *Pool) unpark(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.idle {
		if x == w {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return true
		}
	}
	return false
}

// Idle returns how many workers are parked.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Started returns how many workers were ever started.
func (p *Pool) Started() int64 { return p.started.Load() }
