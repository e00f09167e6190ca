package embedded

import (
	"github.com/exchange/internal-transfer/ledger"
)

// reserveTimestamps assigns n strictly increasing cluster timestamps for one
// batch, as TigerBeetle does: the batch's timestamp is at least now and
// above the last one, and event i gets base+i+1.
func (l *Ledger) reserveTimestamps(now uint64, n int) (base uint64) {
	last := max(now, l.lastTimestamp+uint64(n))
	l.lastTimestamp = last
	return last - uint64(n)
}

// chain tracks TigerBeetle's linked-event chain over one batch.
type chain struct {
	start  int // index of the chain's first event; -1 outside a chain
	broken bool
}

// executeAccounts applies one create_accounts batch to the group.
func (l *Ledger) executeAccounts(r *request, now uint64) {
	events := r.accounts
	base := l.reserveTimestamps(now, len(events))
	g := l.g
	c := chain{start: -1}
	for i := range events {
		a := &events[i]
		linked := a.Flags&ledger.AccountLinked != 0
		if linked && c.start < 0 {
			c.start = i
			g.beginChain()
		}
		var res ledger.CreateAccountResult
		switch {
		case linked && i == len(events)-1:
			res = ledger.AccountLinkedEventChainOpen
		case c.broken:
			res = ledger.AccountLinkedEventFailed
		case events[0].Flags&ledger.AccountImported != a.Flags&ledger.AccountImported:
			res = ledger.AccountImportedEventExpected
			if a.Flags&ledger.AccountImported != 0 {
				res = ledger.AccountImportedEventNotExpected
			}
		case a.Flags&ledger.AccountImported != 0:
			res = ledger.AccountImportedEventNotExpected // imported events are not supported
		case a.Timestamp != 0:
			res = ledger.AccountTimestampMustBeZero
		default:
			res = l.createAccount(a, base+uint64(i)+1)
		}
		if res != ledger.AccountOK {
			if c.start >= 0 && !c.broken {
				c.broken = true
				g.rollbackChain()
				for j := c.start; j < i; j++ {
					r.accountResults = append(r.accountResults, ledger.AccountEventResult{Index: uint32(j), Result: ledger.AccountLinkedEventFailed})
				}
			}
			r.accountResults = append(r.accountResults, ledger.AccountEventResult{Index: uint32(i), Result: res})
		}
		if c.start >= 0 && (!linked || res == ledger.AccountLinkedEventChainOpen) {
			if !c.broken {
				g.endChain()
			}
			c = chain{start: -1}
		}
	}
}

// executeTransfers applies one create_transfers batch to the group.
func (l *Ledger) executeTransfers(r *request, now uint64) {
	events := r.transfers
	base := l.reserveTimestamps(now, len(events))
	l.prefetch(events)
	g := l.g
	c := chain{start: -1}
	for i := range events {
		t := &events[i]
		linked := t.Flags&ledger.TransferLinked != 0
		if linked && c.start < 0 {
			c.start = i
			g.beginChain()
		}
		var res ledger.CreateTransferResult
		switch {
		case linked && i == len(events)-1:
			res = ledger.TransferLinkedEventChainOpen
		case c.broken:
			res = ledger.TransferLinkedEventFailed
		case events[0].Flags&ledger.TransferImported != t.Flags&ledger.TransferImported:
			res = ledger.TransferImportedEventExpected
			if t.Flags&ledger.TransferImported != 0 {
				res = ledger.TransferImportedEventNotExpected
			}
		case t.Flags&ledger.TransferImported != 0:
			res = ledger.TransferImportedEventNotExpected // imported events are not supported
		case t.Timestamp != 0:
			res = ledger.TransferTimestampMustBeZero
		default:
			t.Timestamp = base + uint64(i) + 1
			res = l.createTransfer(t, g.fresh[i])
			t.Timestamp = 0
		}
		if res != ledger.TransferOK {
			if c.start >= 0 && !c.broken {
				c.broken = true
				g.rollbackChain()
				for j := c.start; j < i; j++ {
					r.transferResults = append(r.transferResults, ledger.TransferEventResult{Index: uint32(j), Result: ledger.TransferLinkedEventFailed})
				}
			}
			r.transferResults = append(r.transferResults, ledger.TransferEventResult{Index: uint32(i), Result: res})
			if transient(res) {
				// TigerBeetle pins the id: retrying it can never succeed.
				l.addTransfer(&ledger.Transfer{ID: t.ID}, true)
			}
		}
		if c.start >= 0 && (!linked || res == ledger.TransferLinkedEventChainOpen) {
			if !c.broken {
				g.endChain()
			}
			c = chain{start: -1}
		}
	}
}

// transient reports whether TigerBeetle (≥0.16.4, CreateTransferResult.transient
// in src/tigerbeetle.zig) treats res as depending on transient state: such a
// failure pins the id, and later creates with it return id_already_failed.
func transient(res ledger.CreateTransferResult) bool {
	switch res {
	case ledger.TransferDebitAccountNotFound,
		ledger.TransferCreditAccountNotFound,
		ledger.TransferPendingTransferNotFound,
		ledger.TransferExceedsCredits,
		ledger.TransferExceedsDebits,
		ledger.TransferDebitAccountAlreadyClosed,
		ledger.TransferCreditAccountAlreadyClosed:
		return true
	}
	return false
}
