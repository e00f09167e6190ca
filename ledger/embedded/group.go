package embedded

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
)

// accountState is one account in three versions: committed (synced, what
// readers see), applied (after every group executed so far, including the
// one being synced) and work (the group being executed; valid when gen is
// its generation).
type accountState struct {
	committed   ledger.Account
	applied     ledger.Account
	work        ledger.Account
	gen         uint64
	committedOK bool // the account exists on disk
	appliedOK   bool // the account exists after the executed groups
	workOK      bool // the account exists in the group's state
}

// published is an account's value as of one group, for the committer.
type published struct {
	st  *accountState
	val ledger.Account
	ok  bool
}

// newTransfer is a transfer (or an orphaned id) created in the current group.
type newTransfer struct {
	t      ledger.Transfer
	orphan bool
}

// statusChange is a pending transfer resolved in the current group.
type statusChange struct {
	status    byte
	expiresAt uint64 // the expiry index entry to delete; 0 if none
}

// undoEntry restores one change when a linked chain fails.
type undoEntry struct {
	st        *accountState // nil: a status change
	prev      ledger.Account
	prevOK    bool
	id        ledger.Uint128
	prevSC    statusChange
	hadStatus bool
}

// group is the overlay the applier works on between two commits. Nothing in
// it is visible to readers until commit and publish.
type group struct {
	dirty     []*accountState
	pub       []published
	reqs      []*request
	minExpiry uint64 // earliest expiry of the group's new pending transfers; 0 = none
	transfers []newTransfer
	index     map[ledger.Uint128]int32 // id → position in transfers
	status    map[ledger.Uint128]statusChange
	undo      []undoEntry

	inChain        bool
	chainTransfers int                      // len(transfers) when the chain began
	chainUndo      int                      // len(undo) when the chain began
	known          map[ledger.Uint128]int32 // prefetched id → its entry in prefetchFound
	prefetchKeys   [][keyIDSize]byte
	fresh          []bool // per event of the current batch: its id is certainly not stored
	warmSink       uint32 // keeps idFilter.warm's loads alive
	prefetchFound  []known
	rows           []indexRow
	rowOf          map[ledger.Uint128]int
	order          []int32 // positions in transfers, in id order, for staging
	key            [keyExpirySize]byte
	batch          *pebble.Batch
	lastTS         uint64 // the ledger's last timestamp when the group was staged
	// err is the first storage read error of the group; the group is then
	// discarded and every batch in it fails without being applied.
	err error
}

func (g *group) init() {
	g.index = make(map[ledger.Uint128]int32, 2*ledger.BatchEventsMax)
	g.status = make(map[ledger.Uint128]statusChange, 256)
	g.known = make(map[ledger.Uint128]int32, 2*ledger.BatchEventsMax)
	g.rowOf = make(map[ledger.Uint128]int, 1024)
	g.transfers = make([]newTransfer, 0, ledger.BatchEventsMax)
}

func (g *group) reset() {
	g.dirty = g.dirty[:0]
	g.pub = g.pub[:0]
	g.minExpiry = 0
	g.transfers = g.transfers[:0]
	clear(g.index)
	clear(g.status)
	clear(g.known)
	g.prefetchFound = g.prefetchFound[:0]
	g.undo = g.undo[:0]
	g.inChain = false
	g.err = nil
}

// beginChain starts recording undo information for a linked chain.
func (g *group) beginChain() {
	g.inChain = true
	g.chainTransfers = len(g.transfers)
	g.chainUndo = len(g.undo)
}

// endChain keeps the chain's changes.
func (g *group) endChain() {
	g.inChain = false
	g.undo = g.undo[:g.chainUndo]
}

// rollbackChain discards every change made since beginChain, newest first.
func (g *group) rollbackChain() {
	for i := len(g.undo) - 1; i >= g.chainUndo; i-- {
		u := &g.undo[i]
		if u.st != nil {
			u.st.work = u.prev
			u.st.workOK = u.prevOK
			continue
		}
		if u.hadStatus {
			g.status[u.id] = u.prevSC
		} else {
			delete(g.status, u.id)
		}
	}
	for i := g.chainTransfers; i < len(g.transfers); i++ {
		delete(g.index, g.transfers[i].t.ID)
	}
	g.transfers = g.transfers[:g.chainTransfers]
	g.undo = g.undo[:g.chainUndo]
	g.inChain = false
}

// account returns the group's view of account id, or nil if it does not exist.
func (l *Ledger) account(id ledger.Uint128) *accountState {
	st := l.accounts[id]
	if st == nil {
		return nil
	}
	l.touch(st)
	if !st.workOK {
		return nil
	}
	return st
}

// touch makes st's working value current for this group.
func (l *Ledger) touch(st *accountState) {
	if st.gen != l.gen {
		st.work = st.applied
		st.workOK = st.appliedOK
		st.gen = l.gen
		l.g.dirty = append(l.g.dirty, st)
	}
}

// save records st's working value before a change, if inside a chain.
func (l *Ledger) save(st *accountState) {
	g := l.g
	if g.inChain {
		g.undo = append(g.undo, undoEntry{st: st, prev: st.work, prevOK: st.workOK})
	}
}

// setStatus resolves pending transfer id in the group.
func (l *Ledger) setStatus(id ledger.Uint128, sc statusChange) {
	g := l.g
	if g.inChain {
		prev, had := g.status[id]
		g.undo = append(g.undo, undoEntry{id: id, prevSC: prev, hadStatus: had})
	}
	g.status[id] = sc
	// Before the group can reach Pebble: pendingStatus trusts a "never" from
	// the filter. A rolled-back or discarded change leaves a false positive.
	l.ids.add(statusTag(id))
}

// addTransfer records a created transfer (or an orphaned id) in the group.
func (l *Ledger) addTransfer(t *ledger.Transfer, orphan bool) {
	g := l.g
	g.index[t.ID] = int32(len(g.transfers))
	g.transfers = append(g.transfers, newTransfer{t: *t, orphan: orphan})
}

// lookupResult says what a transfer id names.
type lookupResult uint8

const (
	lookupNotFound lookupResult = iota
	lookupFound
	lookupOrphan
)

// groupTransfer looks id up among the transfers of the current group only,
// which is all a lookup needs when the id filter showed, at prefetch, that
// id was never seen before: neither Pebble nor the in-flight group holds it
// (their ids went into the filter when their batches were prefetched).
func (l *Ledger) groupTransfer(id ledger.Uint128, out *ledger.Transfer) lookupResult {
	g := l.g
	i, ok := g.index[id]
	switch {
	case !ok:
		return lookupNotFound
	case g.transfers[i].orphan:
		return lookupOrphan
	}
	*out = g.transfers[i].t
	return lookupFound
}

// transfer returns the transfer with id as the group sees it. A read error
// is kept in group.err (the group will be discarded) and reads as not found.
func (l *Ledger) transfer(id ledger.Uint128, out *ledger.Transfer) lookupResult {
	g := l.g
	if i, ok := g.index[id]; ok {
		nt := &g.transfers[i]
		if nt.orphan {
			return lookupOrphan
		}
		*out = nt.t
		return lookupFound
	}
	if f := l.inflight; f != nil {
		if i, ok := f.index[id]; ok {
			nt := &f.transfers[i]
			if nt.orphan {
				return lookupOrphan
			}
			*out = nt.t
			return lookupFound
		}
	}
	if t, ok := l.recent.get(id); ok {
		*out = t
		return lookupFound
	}
	if !l.ids.mayContain(id) {
		return lookupNotFound // never stored: no need to ask Pebble
	}
	if i, ok := g.known[id]; ok {
		kn := &g.prefetchFound[i]
		if kn.res == lookupFound {
			*out = kn.t
		}
		return kn.res
	}
	res, err := l.storedTransfer(id, out)
	if err != nil && g.err == nil {
		g.err = err
	}
	return res
}

// storedTransfer reads the committed transfer with id from Pebble.
func (l *Ledger) storedTransfer(id ledger.Uint128, out *ledger.Transfer) (lookupResult, error) {
	var key [keyIDSize]byte
	v, closer, err := l.db.Get(idKey(key[:], prefixTransfer, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return lookupNotFound, nil
	}
	if err != nil {
		return lookupNotFound, fmt.Errorf("cannot read transfer %s: %w", id, err)
	}
	defer closer.Close()
	if len(v) == orphanValueSize {
		return lookupOrphan, nil
	}
	if len(v) != recordSize {
		return lookupNotFound, fmt.Errorf("cannot decode transfer %s: %d bytes", id, len(v))
	}
	decodeTransfer(v, out)
	return lookupFound, nil
}

// pendingStatus returns the status of pending transfer id as the group sees
// it. A read error is kept in group.err and reads as pending.
func (l *Ledger) pendingStatus(id ledger.Uint128) byte {
	g := l.g
	if sc, ok := g.status[id]; ok {
		return sc.status
	}
	if f := l.inflight; f != nil {
		if sc, ok := f.status[id]; ok {
			return sc.status
		}
	}
	if !l.ids.mayContain(statusTag(id)) {
		return statusPending // no status was ever stored: no need to ask Pebble
	}
	var key [keyIDSize]byte
	v, closer, err := l.db.Get(idKey(key[:], prefixPending, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return statusPending
	}
	if err != nil {
		if g.err == nil {
			g.err = fmt.Errorf("cannot read pending status of %s: %w", id, err)
		}
		return statusPending
	}
	s := v[0]
	_ = closer.Close()
	return s
}
