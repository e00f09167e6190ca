package settlement

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/actors/deadline"
)

// committer commits the offsets the partition actors finished, for all
// partitions at once: one store sync, then one offset commit, at most every
// CommitInterval. The actors only mark what they finished and never wait
// for a commit. (When each actor committed for itself, every commit cost a
// store sync of its own, and as kgo runs synchronous commits one at a time,
// each actor also waited out the other partitions' broker round trips.)
type committer struct {
	c *consumer

	mu     sync.Mutex
	marked map[*partition]*kgo.Record // newest finished record per partition, not yet committed

	commitMu sync.Mutex // one commit at a time: the loop's or a flush's
	taken    []markedRecord
	recs     []*kgo.Record

	wake chan struct{} // buffered 1: a mark never blocks
	quit chan struct{}
	done chan struct{}
}

type markedRecord struct {
	p   *partition
	rec *kgo.Record
}

func newCommitter(c *consumer) *committer {
	return &committer{c: c, marked: map[*partition]*kgo.Record{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// mark records rec, whose outcome is in the store, as p's newest finished
// record, to be committed by the loop. A mark after p's flush (an actor that
// finished after its revocation gave up waiting for it) is dropped: nothing
// would ever take it, and p's next owner fetches from the committed offset.
func (m *committer) mark(p *partition, rec *kgo.Record) {
	m.mu.Lock()
	if p.flushed {
		m.mu.Unlock()
		return
	}
	m.marked[p] = rec
	m.mu.Unlock()
	m.poke()
}

func (m *committer) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run commits the assigned partitions' marks when there are some, at most
// every CommitInterval, until stop. After a failed commit it waits longer,
// doubling up to RetryBackoffMax, so a broker or disk outage costs a retry
// (and a warning) every few seconds, not ten a second.
func (m *committer) run() {
	defer close(m.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time
	failures := 0
	for {
		select {
		case <-m.quit:
			return
		case <-m.wake:
		}
		if wait := commitWait(m.c.opts, failures) - time.Since(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-m.quit:
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		last = time.Now()
		if m.commit(m.c.isAssigned, true) {
			failures = 0
		} else {
			failures++
			m.poke() // the marks are back: again after the wait
		}
	}
}

// commitWait is the least time from one commit to the next after failures
// failed ones in a row: CommitInterval, doubled per failure up to
// RetryBackoffMax (never below CommitInterval).
func commitWait(o ConsumerOptions, failures int) time.Duration {
	wait := o.CommitInterval
	for i := 0; i < failures && wait < o.RetryBackoffMax; i++ {
		wait *= 2
	}
	return max(min(wait, o.RetryBackoffMax), o.CommitInterval)
}

// flush commits parts' marks now and forgets them either way: parts are
// being revoked (or the consumer stops), and no commit after that may carry
// them. The loop no longer takes them, as they are no longer assigned.
func (m *committer) flush(parts []*partition) {
	m.mu.Lock()
	for _, p := range parts {
		p.flushed = true
	}
	m.mu.Unlock()
	m.commit(func(p *partition) bool {
		for _, q := range parts {
			if q == p {
				return true
			}
		}
		return false
	}, false)
}

// stop ends the loop; call flush first.
func (m *committer) stop() {
	close(m.quit)
	<-m.done
}

// commit takes the marks of the partitions take selects, makes the store's
// outcomes durable, then commits the offsets after the marked records. On
// failure it logs, and with restore puts each mark back unless a newer one
// came meanwhile. It reports success (true also when nothing was marked).
func (m *committer) commit(take func(*partition) bool, restore bool) bool {
	m.commitMu.Lock()
	defer m.commitMu.Unlock()
	m.taken, m.recs = m.taken[:0], m.recs[:0]
	m.mu.Lock()
	for p, rec := range m.marked {
		if take(p) {
			m.taken = append(m.taken, markedRecord{p, rec})
			m.recs = append(m.recs, rec)
			delete(m.marked, p)
		}
	}
	m.mu.Unlock()
	if len(m.recs) == 0 {
		return true
	}
	ctx, cancel := deadline.After(m.c.opts.CommitTimeout)
	defer cancel()
	// The outcomes behind the offsets must be on disk first: a record past
	// a committed offset is never delivered again.
	err := m.c.settler.syncStore(ctx)
	if err != nil {
		dbErrors.Inc()
		m.c.log.Warn("offsets not committed: the store's outcomes are not durable", "topic", m.c.opts.Topic,
			"partitions", len(m.recs), "err", err)
	} else if err = m.c.client.CommitRecords(ctx, m.recs...); err != nil {
		streamErrors.Inc()
		m.c.log.Warn("cannot commit offsets", "topic", m.c.opts.Topic, "partitions", len(m.recs), "err", err)
	}
	if err != nil && restore {
		m.mu.Lock()
		for _, t := range m.taken {
			if _, newer := m.marked[t.p]; !newer {
				m.marked[t.p] = t.rec
			}
		}
		m.mu.Unlock()
	}
	clear(m.recs) // the records stay referenced only by the marks
	clear(m.taken)
	return err == nil
}
