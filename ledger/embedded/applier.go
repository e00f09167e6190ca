package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
)

// expiryPollMax bounds how long the applier sleeps before looking for due
// pending transfers when no batch arrives.
const expiryPollMax = 1 * time.Second

// run is the applier: it takes every queued batch (up to GroupEventsMax
// events) as one group, executes it and hands it to the committer, which
// syncs it once and answers the callers. With nothing queued it still wakes
// when a pending transfer is due to expire.
func (l *Ledger) run() {
	defer close(l.stopped)
	timer := time.NewTimer(expiryPollMax)
	defer timer.Stop()
	reqs := make([]*request, 0, l.opts.QueueBatchMax)
	var carry *request
	for {
		reqs = reqs[:0]
		if carry != nil {
			reqs = append(reqs, carry)
			carry = nil
		} else {
			timer.Reset(l.expiryWait())
			select {
			case r := <-l.queue:
				reqs = append(reqs, r)
			case <-timer.C:
			case <-l.closing:
				l.waitInflight()
				close(l.commits)
				<-l.committerDone
				l.drainClosed()
				return
			}
		}
		events := 0
		for _, r := range reqs {
			events += r.events()
		}
	drain:
		for len(reqs) < cap(reqs) {
			select {
			case r := <-l.queue:
				if events+r.events() > l.opts.GroupEventsMax {
					carry = r
					break drain
				}
				events += r.events()
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		l.runGroup(reqs)
	}
}

// expiryWait is how long the applier may sleep before a pending transfer is due.
func (l *Ledger) expiryWait() time.Duration {
	if l.nextExpiry == 0 {
		return expiryPollMax
	}
	now := l.clock()
	if l.nextExpiry <= now {
		return time.Millisecond
	}
	return min(time.Duration(l.nextExpiry-now)+time.Millisecond, expiryPollMax)
}

// drainClosed answers the batches still queued at Close with ErrClosed:
// none of them was applied.
func (l *Ledger) drainClosed() {
	for {
		select {
		case r := <-l.queue:
			r.err = ledger.ErrClosed
			r.done <- struct{}{}
		default:
			return
		}
	}
}

// runGroup executes reqs in order against a fresh overlay, stages the
// result as one Pebble batch and hands it to the committer. Execution of this
// group overlaps the sync of the previous one (l.inflight), whose overlay
// lookups consult; answers still go out only after each group is synced, in
// order, so nobody learns of a state that is not durable.
func (l *Ledger) runGroup(reqs []*request) {
	if p := l.broken.Load(); p != nil {
		l.waitInflight()
		answer(reqs, *p)
		return
	}
	l.gen++
	l.g = &l.groups[l.gen%2]
	g := l.g
	g.reset()
	g.reqs = append(g.reqs[:0], reqs...)
	now := l.clock()
	l.expire(now)
	for _, r := range reqs {
		if r.isTransfers {
			l.executeTransfers(r, now)
		} else {
			l.executeAccounts(r, now)
		}
	}
	if g.err != nil {
		l.discard()
		l.waitInflight() // answers stay in order
		answer(reqs, fmt.Errorf("cannot apply ledger batch: %w", g.err))
		return
	}
	l.promote()
	if err := l.stage(); err != nil {
		l.fail(err)
	}
	l.waitInflight()
	if p := l.broken.Load(); p != nil {
		answer(reqs, ledger.ErrOutcomeUnknown)
		return
	}
	l.inflight = g
	l.commits <- g
}

// answer fails every request with err.
func answer(reqs []*request, err error) {
	for _, r := range reqs {
		r.err = err
		r.done <- struct{}{}
	}
}

// waitInflight waits until the group being synced is answered.
func (l *Ledger) waitInflight() {
	if l.inflight != nil {
		<-l.committed
		if l.broken.Load() == nil {
			l.remember(l.inflight)
		}
		l.inflight = nil
	}
}

// committer syncs the groups handed over by the applier, one at a time and
// in order, then publishes each group's accounts and answers its callers.
func (l *Ledger) committer() {
	for g := range l.commits {
		if g.batch.Count() > 0 {
			if err := g.batch.Commit(pebble.Sync); err != nil {
				l.fail(fmt.Errorf("cannot commit ledger group: %w", err))
			}
		}
		if p := l.broken.Load(); p != nil {
			answer(g.reqs, ledger.ErrOutcomeUnknown)
		} else {
			l.publish(g)
			answer(g.reqs, nil)
		}
		l.committed <- struct{}{}
	}
	close(l.committerDone)
}

// promote makes the group's working state the applied state the next group
// builds on, and records what the committer publishes once synced.
func (l *Ledger) promote() {
	g := l.g
	var drop []*accountState
	for _, st := range g.dirty {
		changed := st.workOK != st.appliedOK || st.work != st.applied
		st.applied, st.appliedOK = st.work, st.workOK
		if !st.workOK && !st.committedOK {
			drop = append(drop, st) // created and rolled back in this group
			continue
		}
		if changed {
			g.pub = append(g.pub, published{st: st, val: st.work, ok: st.workOK})
		}
	}
	l.dropAccounts(drop)
}

// stage writes the group's changes into its Pebble batch.
func (l *Ledger) stage() error {
	g := l.g
	g.lastTS = l.lastTimestamp
	b := g.batch
	b.Reset()
	// Keys go into the batch in key order: Pebble inserts a batch into the
	// memtable skiplist with a remembered splice, so sorted keys land next to
	// the previous one instead of searching the skiplist from the top.
	slices.SortFunc(g.pub, func(a, b published) int { return cmpID(a.val.ID, b.val.ID) })
	for i := range g.pub {
		p := &g.pub[i]
		op := b.SetDeferred(keyIDSize, recordSize)
		idKey(op.Key, prefixAccount, p.val.ID)
		encodeAccount(op.Value, &p.val)
		op.Finish()
	}
	g.order = g.order[:0]
	for i := range g.transfers {
		g.order = append(g.order, int32(i))
	}
	slices.SortFunc(g.order, func(i, j int32) int { return cmpID(g.transfers[i].t.ID, g.transfers[j].t.ID) })
	for _, i := range g.order {
		l.writeTransfer(b, &g.transfers[i])
	}
	g.writeAccountIndex(b)
	for id, sc := range g.status {
		op := b.SetDeferred(keyIDSize, 1)
		idKey(op.Key, prefixPending, id)
		op.Value[0] = sc.status
		op.Finish()
		if sc.expiresAt != 0 {
			if err := b.Delete(expiryKey(g.key[:], sc.expiresAt, id), nil); err != nil {
				return fmt.Errorf("cannot stage expiry delete: %w", err)
			}
		}
	}
	if b.Count() == 0 {
		return nil // nothing changed: no sync needed
	}
	// The meta value: the last timestamp, then a count of the groups
	// written (a group that only expires holds leaves the timestamp as it
	// was). Together they change with every write, which the id filter's
	// snapshot stamp relies on (idFilterStamp).
	l.groupsWritten++
	op := b.SetDeferred(1, 16)
	op.Key[0] = prefixMeta
	binary.BigEndian.PutUint64(op.Value, l.lastTimestamp)
	binary.BigEndian.PutUint64(op.Value[8:], l.groupsWritten)
	op.Finish()
	return nil
}

func (l *Ledger) writeTransfer(b *pebble.Batch, nt *newTransfer) {
	t := &nt.t
	if nt.orphan {
		op := b.SetDeferred(keyIDSize, orphanValueSize)
		idKey(op.Key, prefixTransfer, t.ID)
		op.Value[0] = 0
		op.Finish()
		return
	}
	op := b.SetDeferred(keyIDSize, recordSize)
	idKey(op.Key, prefixTransfer, t.ID)
	encodeTransfer(op.Value, t)
	op.Finish()
	if t.Flags&ledger.TransferPending != 0 && t.Timeout != 0 {
		op = b.SetDeferred(keyExpirySize, 0)
		expiryKey(op.Key, expiresAt(t), t.ID)
		op.Finish()
	}
}

// expiresAt is when pending transfer t times out, in cluster ns.
func expiresAt(t *ledger.Transfer) uint64 {
	return t.Timestamp + uint64(t.Timeout)*uint64(time.Second)
}

// publish makes a synced group visible to readers: its accounts, then its
// transfers (publishedTS).
func (l *Ledger) publish(g *group) {
	l.mu.Lock()
	for i := range g.pub {
		p := &g.pub[i]
		p.st.committed, p.st.committedOK = p.val, p.ok
	}
	l.mu.Unlock()
	l.publishedTS.Store(g.lastTS)
}

// fail marks the ledger broken after a failed commit: what reached the disk
// is unknown to this process, so it stops and must be reopened.
func (l *Ledger) fail(err error) {
	wrapped := fmt.Errorf("embedded ledger stopped after a failed commit (%w): %w", err, ledger.ErrOutcomeUnknown)
	l.broken.CompareAndSwap(nil, &wrapped)
}

// discard drops the group's working state: nothing of it was applied.
func (l *Ledger) discard() {
	l.nextExpiry = 1 // the group's expiries were dropped too: look again
	var drop []*accountState
	for _, st := range l.g.dirty {
		st.gen = 0
		if !st.appliedOK && !st.committedOK {
			drop = append(drop, st)
		}
	}
	l.dropAccounts(drop)
}

// dropAccounts removes accounts that exist nowhere from the map.
func (l *Ledger) dropAccounts(drop []*accountState) {
	if len(drop) == 0 {
		return
	}
	l.mu.Lock()
	for _, st := range drop {
		if cur := l.accounts[st.work.ID]; cur == st {
			delete(l.accounts, st.work.ID)
		}
	}
	l.mu.Unlock()
}

// recover loads the accounts, the last timestamp and the first expiry.
func (l *Ledger) recover() error {
	v, closer, err := l.db.Get([]byte{prefixMeta})
	switch {
	case err == nil:
		l.lastTimestamp = binary.BigEndian.Uint64(v)
		if len(v) >= 16 { // before, the value held the timestamp alone
			l.groupsWritten = binary.BigEndian.Uint64(v[8:])
		}
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("cannot read ledger timestamp: %w", err)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixAccount}, UpperBound: []byte{prefixAccount + 1}})
	if err != nil {
		return fmt.Errorf("cannot scan accounts: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		st := &accountState{committedOK: true, appliedOK: true}
		decodeAccount(it.Value(), &st.committed)
		st.applied = st.committed
		l.accounts[st.committed.ID] = st
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot scan accounts: %w", err)
	}
	if l.nextExpiry, err = l.firstExpiry(); err != nil {
		return err
	}
	return l.loadIDFilter()
}
