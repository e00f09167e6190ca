package batcher

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/exchange/internal-transfer/ledger"
)

// Messages of the batcher actor.
type (
	submitTransfers struct {
		events []ledger.Transfer
		reply  chan transfersReply
	}
	transfersReply struct {
		results []ledger.TransferEventResult
		err     error
	}
	submitAccounts struct {
		events []ledger.Account
		reply  chan accountsReply
	}
	accountsReply struct {
		results []ledger.AccountEventResult
		err     error
	}
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
// queue (accounts first: transfers may need them) and returns the call that
// applies them and answers each caller; nil when the queue is empty.
func (a *batchActor) nextCall() func() {
	if len(a.accounts) > 0 {
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
	merged := make([]ledger.Transfer, 0, events)
	for _, s := range batch {
		merged = append(merged, s.events...)
	}
	batchSize.Update(float64(events))
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	results, err := a.ledger.CreateTransfers(ctx, merged)
	cancel()
	if err != nil {
		tbErrors.Inc()
		err = fmt.Errorf("cannot create %d transfers: %w", events, err)
	}
	offset, r := 0, 0
	for _, s := range batch {
		end := offset + len(s.events)
		var own []ledger.TransferEventResult
		for ; err == nil && r < len(results) && int(results[r].Index) < end; r++ {
			if int(results[r].Index) < offset {
				panic(fmt.Sprintf("BUG: ledger results out of order at index %d", results[r].Index))
			}
			own = append(own, ledger.TransferEventResult{Index: results[r].Index - uint32(offset), Result: results[r].Result})
		}
		s.reply <- transfersReply{results: own, err: err}
		offset = end
	}
}

func (a *batchActor) createAccounts(batch []*submitAccounts, events int) {
	defer a.onDone(events)
	merged := make([]ledger.Account, 0, events)
	for _, s := range batch {
		merged = append(merged, s.events...)
	}
	batchSize.Update(float64(events))
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	results, err := a.ledger.CreateAccounts(ctx, merged)
	cancel()
	if err != nil {
		tbErrors.Inc()
		err = fmt.Errorf("cannot create %d accounts: %w", events, err)
	}
	offset, r := 0, 0
	for _, s := range batch {
		end := offset + len(s.events)
		var own []ledger.AccountEventResult
		for ; err == nil && r < len(results) && int(results[r].Index) < end; r++ {
			if int(results[r].Index) < offset {
				panic(fmt.Sprintf("BUG: ledger results out of order at index %d", results[r].Index))
			}
			own = append(own, ledger.AccountEventResult{Index: results[r].Index - uint32(offset), Result: results[r].Result})
		}
		s.reply <- accountsReply{results: own, err: err}
		offset = end
	}
}
