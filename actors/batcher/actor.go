package batcher

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/ledger"
)

// Messages of the batcher actor.
type (
	// submission is one caller's events, answered on reply with the results
	// of exactly those events.
	submission[E, R any] struct {
		events []E
		reply  chan reply[R]
	}
	reply[R any] struct {
		results []R
		err     error
	}
	submitTransfers = submission[ledger.Transfer, ledger.TransferEventResult]
	submitAccounts  = submission[ledger.Account, ledger.AccountEventResult]
	// flushed tells the actor its ledger call returned.
	flushed struct{}
)

// batchActor keeps at most one ledger call in flight and gathers what arrives
// meanwhile into the next batch.
type batchActor struct {
	ledger  ledger.Ledger
	timeout time.Duration
	onDone  func(events int)

	transfers []*submitTransfers
	accounts  []*submitAccounts
	inflight  chan struct{} // closed when the in-flight call returns; nil when idle

	// The merged events of the last call, for the next one: only the call
	// in flight uses them, and only after one that succeeded (a call that
	// failed or timed out may still be reading its events).
	transferBuf []ledger.Transfer
	accountBuf  []ledger.Account

	lastAccounts bool // the last call created accounts
}

// Receive handles lifecycle first, then submissions.
func (a *batchActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Stopping:
		a.drain()
	case *actor.Restarting:
		a.drain()
	case *submitTransfers:
		a.transfers = append(a.transfers, msg)
		a.maybeFlush(ctx)
	case *submitAccounts:
		a.accounts = append(a.accounts, msg)
		a.maybeFlush(ctx)
	case flushed:
		a.inflight = nil
		a.maybeFlush(ctx)
	}
}

// maybeFlush starts the next ledger call when none is in flight.
func (a *batchActor) maybeFlush(ctx actor.Context) {
	if a.inflight != nil {
		return
	}
	run := a.nextCall()
	if run == nil {
		return
	}
	done := make(chan struct{})
	a.inflight = done
	self, system := ctx.Self(), ctx.ActorSystem()
	go func() {
		run()
		close(done)
		system.Root.Send(self, flushed{})
	}()
}

// drain finishes the in-flight call and flushes everything queued, so a stop
// never abandons a caller.
func (a *batchActor) drain() {
	if a.inflight != nil {
		<-a.inflight
		a.inflight = nil
	}
	for run := a.nextCall(); run != nil; run = a.nextCall() {
		run()
	}
}

// nextCall takes whole submissions, up to BatchEventsMax events, off the
// queue and returns the call that applies them and answers each caller;
// nil when the queue is empty. With both kinds queued, accounts and
// transfers take turns: taking accounts first every time let a steady
// stream of new users' account creations hold back every transfer (holds,
// settlement's posts) until their callers gave up. No transfer needs an
// account queued beside it: a caller waits for its accounts' answer before
// it submits a transfer that uses them.
func (a *batchActor) nextCall() func() {
	if len(a.accounts) > 0 && !(a.lastAccounts && len(a.transfers) > 0) {
		a.lastAccounts = true
		n, events := 0, 0
		for n < len(a.accounts) && events+len(a.accounts[n].events) <= ledger.BatchEventsMax {
			events += len(a.accounts[n].events)
			n++
		}
		batch := a.accounts[:n:n]
		a.accounts = a.accounts[n:]
		return func() { a.createAccounts(batch, events) }
	}
	if len(a.transfers) > 0 {
		a.lastAccounts = false
		n, events := 0, 0
		for n < len(a.transfers) && events+len(a.transfers[n].events) <= ledger.BatchEventsMax {
			events += len(a.transfers[n].events)
			n++
		}
		batch := a.transfers[:n:n]
		a.transfers = a.transfers[n:]
		return func() { a.createTransfers(batch, events) }
	}
	return nil
}

func (a *batchActor) createTransfers(batch []*submitTransfers, events int) {
	defer a.onDone(events)
	parts := make([][]ledger.Transfer, len(batch))
	for i, sub := range batch {
		parts[i] = sub.events
	}
	results, err := apply(a, "transfers", parts, events, &a.transferBuf, a.ledger.CreateTransfers,
		func(r ledger.TransferEventResult) uint32 { return r.Index },
		func(r ledger.TransferEventResult, i uint32) ledger.TransferEventResult { r.Index = i; return r })
	for i, sub := range batch {
		sub.reply <- reply[ledger.TransferEventResult]{results: results[i], err: err}
	}
}

func (a *batchActor) createAccounts(batch []*submitAccounts, events int) {
	defer a.onDone(events)
	parts := make([][]ledger.Account, len(batch))
	for i, sub := range batch {
		parts[i] = sub.events
	}
	results, err := apply(a, "accounts", parts, events, &a.accountBuf, a.ledger.CreateAccounts,
		func(r ledger.AccountEventResult) uint32 { return r.Index },
		func(r ledger.AccountEventResult, i uint32) ledger.AccountEventResult { r.Index = i; return r })
	for i, sub := range batch {
		sub.reply <- reply[ledger.AccountEventResult]{results: results[i], err: err}
	}
}

// apply merges the callers' parts into one ledger call and splits the
// per-event results back, re-indexed to each part. Results come in index
// order (TigerBeetle's contract). A call that panics or answers out of that
// contract gives every caller ErrOutcomeUnknown: the batch may have been
// applied, so each must find out from the ledger, and the process (the
// batcher's goroutine has no supervisor above it) keeps running. The events
// are merged in *buf's memory, which goes back to *buf once the call
// returned without error.
func apply[E, R any](a *batchActor, what string, parts [][]E, events int, buf *[]E,
	call func(context.Context, []E) ([]R, error), index func(R) uint32, reindex func(R, uint32) R) ([][]R, error) {
	merged := slices.Grow((*buf)[:0], events)
	*buf = nil
	for _, p := range parts {
		merged = append(merged, p...)
	}
	batchSize.Update(float64(events))
	ctx, cancel := deadline.After(a.timeout)
	results, err := guardedCall(ctx, call, merged)
	cancel()
	if err != nil {
		tbErrors.Inc()
		return make([][]R, len(parts)), fmt.Errorf("cannot create %d %s: %w", events, what, err)
	}
	*buf = merged[:0]
	out := make([][]R, len(parts))
	offset, r := 0, 0
	for i, p := range parts {
		end := offset + len(p)
		for ; r < len(results) && int(index(results[r])) < end; r++ {
			if int(index(results[r])) < offset || (r > 0 && index(results[r]) <= index(results[r-1])) {
				return malformed[R](len(parts), events, what, fmt.Sprintf("results out of order at index %d", index(results[r])))
			}
			out[i] = append(out[i], reindex(results[r], index(results[r])-uint32(offset)))
		}
		offset = end
	}
	if r < len(results) {
		return malformed[R](len(parts), events, what, fmt.Sprintf("result for index %d of a batch of %d", index(results[r]), events))
	}
	return out, nil
}

// guardedCall runs call, turning a panic into ErrOutcomeUnknown.
func guardedCall[E, R any](ctx context.Context, call func(context.Context, []E) ([]R, error), events []E) (results []R, err error) {
	defer func() {
		if p := recover(); p != nil {
			results, err = nil, fmt.Errorf("%w: ledger call panicked: %v", ledger.ErrOutcomeUnknown, p)
		}
	}()
	return call(ctx, events)
}

// malformed answers every caller of a batch whose results break the ledger's
// contract.
func malformed[R any](parts, events int, what, why string) ([][]R, error) {
	tbErrors.Inc()
	return make([][]R, parts), fmt.Errorf("cannot create %d %s: %w: the ledger broke its contract: %s", events, what, ledger.ErrOutcomeUnknown, why)
}
