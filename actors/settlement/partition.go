package settlement

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/store"
)

// partition is the state of one assigned partition. It outlives the
// partition actor's restarts: the unfinished records stay queued in offset
// order, so a restarted actor resumes at the first record not yet settled
// and nothing past it is committed (the committer commits what it
// finished).
type partition struct {
	topic string
	id    int32

	hwm    atomic.Int64 // high watermark: the latest of the fetches' and ListEndOffsets'
	next   atomic.Int64 // offset after the last finished record, -1 before any
	first  atomic.Int64 // offset of the first record fetched since assignment, -1 before any
	nudged atomic.Bool  // a nudgeMsg is in the actor's mailbox

	mu     sync.Mutex
	pid    *actor.PID
	paused bool
	queue  []*kgo.Record // fetched, not yet finished, in offset order

	flushed bool // under committer.mu: its marks were flushed at revocation; later ones are dropped

	// Owned by the partition actor (one message at a time).
	done       *kgo.Record // last finished record
	failures   int         // consecutive failed attempts at queue[0]
	stepMax    int         // records of the next step, when a failure lowered it (0: StepRecordsMax)
	stepsOK    int         // full steps in a row at stepMax, towards doubling it
	stepQueued bool        // a stepMsg is in the mailbox or scheduled
	scratch    batchScratch
}

func newPartition(topic string, id int32) *partition {
	p := &partition{topic: topic, id: id}
	p.next.Store(-1)
	p.first.Store(-1)
	return p
}

// raiseHWM records a high watermark seen by a fetch or an offset listing;
// it never moves back.
func (p *partition) raiseHWM(hwm int64) {
	for {
		cur := p.hwm.Load()
		if hwm <= cur || p.hwm.CompareAndSwap(cur, hwm) {
			return
		}
	}
}

func (p *partition) setPID(pid *actor.PID) {
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
}

func (p *partition) currentPID() *actor.PID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// push appends fetched records and returns how many are now unfinished.
func (p *partition) push(recs []*kgo.Record) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, recs...)
	return len(p.queue)
}

// peekInto copies the first n unfinished records at most into buf's memory
// and returns them.
func (p *partition) peekInto(buf []*kgo.Record, n int) []*kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(buf)
	return append(buf[:0], p.queue[:min(n, len(p.queue))]...)
}

// head returns the first unfinished record, or nil.
func (p *partition) head() *kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	return p.queue[0]
}

// pop drops the first record and returns how many are left.
func (p *partition) pop() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue[0] = nil
	p.queue = p.queue[1:]
	return len(p.queue)
}

func (p *partition) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// lag is how many records of the partition are behind the high watermark:
// from the first unfinished one (before any finished, the first fetched).
func (p *partition) lag() int64 {
	next := p.next.Load()
	if next < 0 {
		next = p.first.Load()
	}
	if next < 0 {
		return int64(p.queued())
	}
	return max(p.hwm.Load()-next, 0)
}

// partitionActor settles one partition's records in order.
type partitionActor struct {
	p *partition
	c *consumer
}

// Receive handles lifecycle messages first, then records and steps.
func (a *partitionActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		a.started(ctx)
	case *actor.Restarting:
		restartsTotal.Inc()
	case *actor.Stopping, *actor.Stopped:
		// What it finished is marked for the committer, which the revoke
		// or stop flushes after the actor stopped.
	case *nudgeMsg:
		a.p.nudged.Store(false)
		a.ensureStep(ctx)
	case *stepMsg:
		a.p.stepQueued = false
		a.step(ctx)
	}
}

// started resumes work: at once on first start, after a bounded backoff
// when the actor was restarted by a failure.
func (a *partitionActor) started(ctx actor.Context) {
	// Messages of an earlier incarnation may be lost: start clean.
	a.p.stepQueued = false
	a.p.nudged.Store(false)
	if a.p.head() == nil {
		return
	}
	if a.p.failures == 0 {
		a.ensureStep(ctx)
		return
	}
	a.p.stepQueued = true
	self, system := ctx.Self(), ctx.ActorSystem()
	time.AfterFunc(a.c.backoff(a.p.failures), func() { system.Root.Send(self, &stepMsg{}) })
}

func (a *partitionActor) ensureStep(ctx actor.Context) {
	if a.p.stepQueued || a.p.head() == nil {
		return
	}
	a.p.stepQueued = true
	ctx.Send(ctx.Self(), &stepMsg{})
}

// step settles the first queued records, up to StepRecordsMax of them in
// one batch, finishes them in offset order up to the first failure and
// marks the last finished one for the committer. A failure panics so the
// supervisor restarts the actor, which retries from that record after a
// backoff; nothing past it is committed.
//
// A failed step halves the next one, down to one record, and every
// stepGrowAfter full steps in a row double it again: one deadline
// (RecordTimeout) covers a whole batch, and a batch too large for a
// degraded store or ledger to finish within it failed every time. (Growing
// after each full step would spend every other step on a timeout while the
// store stays slow.)
func (a *partitionActor) step(ctx actor.Context) {
	limit := a.c.opts.StepRecordsMax
	if a.p.stepMax > 0 {
		limit = min(limit, a.p.stepMax)
	}
	recs := a.p.peekInto(a.p.scratch.recs, limit)
	a.p.scratch.recs = recs
	if len(recs) == 0 {
		return
	}
	errs := a.c.handle(recs, &a.p.scratch)
	for i, rec := range recs {
		if errs[i] != nil {
			a.p.failures++
			a.p.stepMax, a.p.stepsOK = max(1, len(recs)/2), 0
			a.c.log.Warn("settlement of record failed; restarting partition actor",
				"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
				"attempt", a.p.failures, "err", errs[i])
			if i > 0 {
				a.c.commits.mark(a.p, a.p.done)
			}
			panic(&settleFailure{offset: rec.Offset, err: errs[i]})
		}
		a.finishOne(rec)
	}
	if a.p.stepMax > 0 && len(recs) == limit {
		if a.p.stepsOK++; a.p.stepsOK >= stepGrowAfter {
			a.p.stepsOK = 0
			if a.p.stepMax *= 2; a.p.stepMax >= a.c.opts.StepRecordsMax {
				a.p.stepMax = 0
			}
		}
	}
	a.c.commits.mark(a.p, a.p.done)
	a.ensureStep(ctx)
}

// stepGrowAfter is how many full steps in a row double a lowered step.
const stepGrowAfter = 4

// finishOne drops rec, whose outcome the store now holds, from the queue.
func (a *partitionActor) finishOne(rec *kgo.Record) {
	a.p.failures = 0
	left := a.p.pop()
	a.p.done = rec
	a.p.next.Store(rec.Offset + 1)
	a.c.settled.Add(1)
	a.c.finished(a.p, left)
	if a.c.afterSettle != nil {
		a.c.afterSettle(rec)
	}
}

// settleFailure is the panic value of a failed record.
type settleFailure struct {
	offset int64
	err    error
}

func (f *settleFailure) String() string {
	return fmt.Sprintf("cannot settle record at offset %d: %v", f.offset, f.err)
}

// handle settles a batch of records in b's memory and returns each one's
// error (b.errs). Records that can never be settled (undecodable, or naming
// a request that does not exist and holds nothing) are logged, counted and
// skipped: the scanner drives every stored request anyway.
func (c *consumer) handle(recs []*kgo.Record, b *batchScratch) []error {
	b.errs = sized(b.errs, len(recs))
	errs := b.errs
	clear(b.confs)
	confs, at := b.confs[:0], b.at[:0]
	defer func() { b.confs, b.at = confs, at }()
	for i, rec := range recs {
		conf, err := stream.Decode(rec.Value)
		if err != nil {
			skippedRecords.Inc()
			c.log.Error("skipping invalid confirmation record", "topic", rec.Topic,
				"partition", rec.Partition, "offset", rec.Offset, "err", err)
			continue
		}
		confs, at = append(confs, conf), append(at, i)
	}
	if len(confs) == 0 {
		return errs
	}
	ctx, cancel := deadline.After(c.opts.RecordTimeout)
	defer cancel()
	for i, err := range c.settler.settleBatch(ctx, confs, b) {
		rec := recs[at[i]]
		switch {
		case errors.Is(err, ErrNoSuchRequest):
			skippedRecords.Inc()
			c.log.Error("skipping confirmation of an unknown request", "request_id", confs[i].RequestID,
				"partition", rec.Partition, "offset", rec.Offset)
			err = nil
		case errors.Is(err, ErrUnsettleable), errors.Is(err, store.ErrCorrupt):
			// Retrying would stall the partition behind it for good.
			skippedRecords.Inc()
			c.log.Error("skipping confirmation settlement cannot settle; the request stays open for an operator",
				"request_id", confs[i].RequestID, "partition", rec.Partition, "offset", rec.Offset, "err", err)
			err = nil
		}
		errs[at[i]] = err
	}
	return errs
}
