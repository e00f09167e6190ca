package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
)

// expiryPollMax bounds how long the applier sleeps before looking for due
// pending transfers when no batch arrives.
const expiryPollMax = 1 * time.Second

// run is the applier: it takes every queued batch (up to GroupEventsMax
// events), applies the group, syncs it once and answers the callers.
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

// runGroup applies reqs in order, commits them as one synced Pebble batch,
// publishes the new account state and answers every request.
func (l *Ledger) runGroup(reqs []*request) {
	if p := l.broken.Load(); p != nil {
		for _, r := range reqs {
			r.err = *p
			r.done <- struct{}{}
		}
		return
	}
	l.gen++
	g := &l.group
	g.reset()
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
		for _, r := range reqs {
			r.err = fmt.Errorf("cannot apply ledger batch: %w", g.err)
			r.done <- struct{}{}
		}
		return
	}
	if err := l.commit(); err != nil {
		l.fail(err)
		for _, r := range reqs {
			r.err = ledger.ErrOutcomeUnknown
			r.done <- struct{}{}
		}
		return
	}
	l.publish()
	for _, r := range reqs {
		r.done <- struct{}{}
	}
}

// commit writes the group's final state as one Pebble batch and syncs it.
func (l *Ledger) commit() error {
	g := &l.group
	b := g.batch
	b.Reset()
	for _, st := range g.dirty {
		if !st.workOK || (st.committedOK && st.work == st.committed) {
			continue
		}
		op := b.SetDeferred(keyIDSize, recordSize)
		idKey(op.Key, prefixAccount, st.work.ID)
		encodeAccount(op.Value, &st.work)
		op.Finish()
	}
	for i := range g.transfers {
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
	op := b.SetDeferred(1, 8)
	op.Key[0] = prefixMeta
	binary.BigEndian.PutUint64(op.Value, l.lastTimestamp)
	op.Finish()
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("cannot commit ledger group: %w", err)
	}
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

// publish makes the committed group visible to readers.
func (l *Ledger) publish() {
	g := &l.group
	l.mu.Lock()
	for _, st := range g.dirty {
		st.committed = st.work
		st.committedOK = st.workOK
		if !st.committedOK {
			delete(l.accounts, st.work.ID)
		}
	}
	l.mu.Unlock()
}

// fail marks the ledger broken after a failed commit: what reached the disk
// is unknown to this process, so it stops and must be reopened.
func (l *Ledger) fail(err error) {
	wrapped := fmt.Errorf("embedded ledger stopped after a failed commit (%w): %w", err, ledger.ErrOutcomeUnknown)
	l.broken.Store(&wrapped)
	l.discard()
}

// discard drops the group's working state; nothing of it was committed.
func (l *Ledger) discard() {
	l.nextExpiry = 1 // expiries of the group were not committed: look again
	g := &l.group
	l.mu.Lock()
	for _, st := range g.dirty {
		st.gen = 0
		if !st.committedOK {
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
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("cannot read ledger timestamp: %w", err)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixAccount}, UpperBound: []byte{prefixAccount + 1}})
	if err != nil {
		return fmt.Errorf("cannot scan accounts: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		st := &accountState{committedOK: true}
		decodeAccount(it.Value(), &st.committed)
		l.accounts[st.committed.ID] = st
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot scan accounts: %w", err)
	}
	l.nextExpiry, err = l.firstExpiry()
	return err
}
