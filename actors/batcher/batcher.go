// Package batcher turns many small ledger writes into few large ones.
//
// A pool of batcher actors sits in front of a ledger.Ledger. Callers (user
// actors, settlement, the scanner) submit their events; each actor keeps one
// ledger call in flight and, while it waits, gathers everything that arrives
// into the next batch — so batches grow with load and there is no fixed
// sleep. A caller's events stay together and in order in one ledger batch, so
// its linked chains and its atomicity survive the merge, and each caller gets
// back exactly its own per-event results.
//
// Batcher itself implements ledger.Ledger: creates go through the pool,
// lookups go straight to the ledger.
package batcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/exchange/internal-transfer/actors/dispatch"
	"github.com/exchange/internal-transfer/actors/supervision"
	"github.com/exchange/internal-transfer/ledger"
)

// ErrOverloaded is returned when the pool's queue is full; nothing was
// submitted and the caller may retry later.
var ErrOverloaded = errors.New("batcher: ledger queue full")

// Options sizes the pool.
type Options struct {
	Width       int           // actors in the pool (tigerbeetle.concurrency); each keeps one call in flight
	QueueMax    int           // events queued across the pool before callers get ErrOverloaded
	CallTimeout time.Duration // deadline of one ledger call
	// Supervision restarts a failed batcher actor after a backoff, within
	// limits; its queued callers are answered first (the actor drains on
	// restart). Zero value: supervision.Default.
	Supervision supervision.Policy
}

// Batcher is the pooled batcher; it implements ledger.Ledger.
type Batcher struct {
	system *actor.ActorSystem
	ledger ledger.Ledger
	opts   Options
	pids   []*actor.PID
	queued []atomic.Int64 // events queued per actor
	total  atomic.Int64   // events queued in the pool
	next   atomic.Uint64
	closed atomic.Bool
}

var (
	batchSize = metrics.GetOrCreatePrometheusHistogramExt("internal_transfer_ledger_batch_size",
		metrics.ExponentialBuckets(1, 2, 14))
	tbErrors     = metrics.GetOrCreateCounter("internal_transfer_tb_errors")
	ledgerQueued = metrics.GetOrCreateGauge("internal_transfer_ledger_queue_depth", nil)
)

// New spawns the pool on system in front of l.
func New(system *actor.ActorSystem, l ledger.Ledger, opts Options) *Batcher {
	if opts.Width < 1 || opts.QueueMax < ledger.BatchEventsMax || opts.CallTimeout <= 0 {
		panic(fmt.Sprintf("BUG: invalid batcher options %+v", opts))
	}
	if opts.Supervision == (supervision.Policy{}) {
		opts.Supervision = supervision.Default(system.Logger())
	}
	b := &Batcher{system: system, ledger: l, opts: opts, queued: make([]atomic.Int64, opts.Width)}
	// The pool's guardian applies the policy: a failed batcher actor drains
	// what it holds and is restarted after a backoff, within limits.
	root := system.Root.WithGuardian(opts.Supervision.Strategy())
	pool := dispatch.NewPool(dispatch.Options{}) // mailbox runs on reused goroutines (see package dispatch)
	for i := 0; i < opts.Width; i++ {
		i := i
		props := actor.PropsFromProducer(func() actor.Actor {
			return &batchActor{ledger: l, timeout: opts.CallTimeout, onDone: func(n int) { b.release(i, n) }}
		}, actor.WithDispatcher(pool))
		b.pids = append(b.pids, root.Spawn(props))
	}
	return b
}

func (b *Batcher) release(i, n int) {
	b.queued[i].Add(int64(-n))
	ledgerQueued.Set(float64(b.total.Add(int64(-n))))
}

// pick returns the least-loaded actor, starting the search round-robin so
// equal loads spread out.
func (b *Batcher) pick() int {
	start := int(b.next.Add(1))
	best, bestLoad := 0, int64(-1)
	for k := 0; k < len(b.pids); k++ {
		i := (start + k) % len(b.pids)
		load := b.queued[i].Load()
		if bestLoad < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	return best
}

// admit reserves room for n events or reports overload.
func (b *Batcher) admit(n int) (int, error) {
	if b.closed.Load() {
		return 0, ledger.ErrClosed
	}
	if n > ledger.BatchEventsMax {
		return 0, ledger.ErrBatchTooLarge
	}
	if b.total.Add(int64(n)) > int64(b.opts.QueueMax) {
		b.total.Add(int64(-n))
		return 0, ErrOverloaded
	}
	i := b.pick()
	b.queued[i].Add(int64(n))
	ledgerQueued.Set(float64(b.total.Load()))
	return i, nil
}

// ErrOpenChain refuses a submission whose last event has the linked flag:
// merged into a batch, its chain would run on into the next caller's
// events instead of failing as the ledger fails an open chain.
var ErrOpenChain = errors.New("batcher: the last event is linked, leaving its chain open")

// CreateTransfers submits transfers as one atomic, ordered part of a batch.
func (b *Batcher) CreateTransfers(ctx context.Context, transfers []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	if n := len(transfers); n > 0 && transfers[n-1].Flags&ledger.TransferLinked != 0 {
		return nil, ErrOpenChain
	}
	return submit[ledger.Transfer, ledger.TransferEventResult](ctx, b, "transfers", transfers, &transferSubs)
}

// CreateAccounts submits accounts as one atomic, ordered part of a batch.
func (b *Batcher) CreateAccounts(ctx context.Context, accounts []ledger.Account) ([]ledger.AccountEventResult, error) {
	if n := len(accounts); n > 0 && accounts[n-1].Flags&ledger.AccountLinked != 0 {
		return nil, ErrOpenChain
	}
	return submit[ledger.Account, ledger.AccountEventResult](ctx, b, "accounts", accounts, &accountSubs)
}

// Submissions and their reply channels are reused: an actor answers a
// submission once and then never touches it, so once its caller has the
// answer it can go back to the pool (one that timed out may still be
// answered, and is left to the collector). They were about 4 % of the
// bytes allocated per transfer by profile; the measured gain was within the
// runs' noise (docs/benchmark-notes.md, session 13).
var (
	transferSubs = sync.Pool{New: func() any {
		return &submitTransfers{reply: make(chan reply[ledger.TransferEventResult], 1)}
	}}
	accountSubs = sync.Pool{New: func() any {
		return &submitAccounts{reply: make(chan reply[ledger.AccountEventResult], 1)}
	}}
)

// submit hands events to the least-loaded actor and waits for their results
// within ctx. A caller that stops waiting learns nothing: the events may
// still be applied, so it must retry with the same ids. pool holds
// *submission[E, R].
func submit[E, R any](ctx context.Context, b *Batcher, what string, events []E, pool *sync.Pool) ([]R, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		// Its caller gave up already (a slow store write before it): the
		// ledger would apply what no one waits for, under overload most
		// of all. Nothing is sent.
		return nil, fmt.Errorf("cannot create %s: its deadline passed before it was sent: %w", what, err)
	}
	i, err := b.admit(len(events))
	if err != nil {
		return nil, err
	}
	msg := pool.Get().(*submission[E, R])
	msg.events = events
	b.system.Root.Send(b.pids[i], msg)
	select {
	case r := <-msg.reply:
		msg.events = nil
		pool.Put(msg)
		return r.results, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("cannot create %s: %w (%v)", what, ledger.ErrOutcomeUnknown, ctx.Err())
	}
}

// LookupAccounts goes straight to the ledger.
func (b *Batcher) LookupAccounts(ctx context.Context, ids []ledger.Uint128) ([]ledger.Account, error) {
	return b.ledger.LookupAccounts(ctx, ids)
}

// LookupTransfers goes straight to the ledger.
func (b *Batcher) LookupTransfers(ctx context.Context, ids []ledger.Uint128) ([]ledger.Transfer, error) {
	return b.ledger.LookupTransfers(ctx, ids)
}

// GetAccountTransfers goes straight to the ledger.
func (b *Batcher) GetAccountTransfers(ctx context.Context, f ledger.AccountFilter) ([]ledger.Transfer, error) {
	return b.ledger.GetAccountTransfers(ctx, f)
}

// Close stops the pool after it has flushed what was queued. It does not
// close the underlying ledger, which the caller owns.
func (b *Batcher) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	for _, pid := range b.pids {
		_ = b.system.Root.PoisonFuture(pid).Wait()
	}
	return nil
}

// QueueDepth is the number of events waiting in the pool.
func (b *Batcher) QueueDepth() int64 { return b.total.Load() }
