package embedded

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
)

// postOrVoid applies TigerBeetle's post_or_void_pending_transfer checks in
// its order and resolves the pending transfer.
func (l *Ledger) postOrVoid(t *ledger.Transfer) ledger.CreateTransferResult {
	if res := checkPostOrVoid(t); res != ledger.TransferOK {
		return res
	}
	var p ledger.Transfer
	if l.transfer(t.PendingID, &p) != lookupFound {
		return ledger.TransferPendingTransferNotFound
	}
	if p.Flags&ledger.TransferPending == 0 {
		return ledger.TransferPendingTransferNotPending
	}
	drState, crState := l.account(p.DebitAccountID), l.account(p.CreditAccountID)
	if drState == nil || crState == nil {
		panic("BUG: a pending transfer names a missing account")
	}
	amount, res := resolvedAmount(t, &p)
	if res != ledger.TransferOK {
		return res
	}
	switch l.pendingStatus(p.ID) {
	case statusPosted:
		return ledger.TransferPendingTransferAlreadyPosted
	case statusVoided:
		return ledger.TransferPendingTransferAlreadyVoided
	case statusExpired:
		return ledger.TransferPendingTransferExpired
	}
	var expiry uint64
	if p.Timeout != 0 {
		expiry = expiresAt(&p)
		if expiry <= t.Timestamp {
			return ledger.TransferPendingTransferExpired
		}
	}
	void := t.Flags&ledger.TransferVoidPendingTransfer != 0
	// The only movement allowed in a closed account is voiding a pending transfer.
	if drState.work.Flags&ledger.AccountClosed != 0 && !void {
		return ledger.TransferDebitAccountAlreadyClosed
	}
	if crState.work.Flags&ledger.AccountClosed != 0 && !void {
		return ledger.TransferCreditAccountAlreadyClosed
	}
	l.applyPostOrVoid(t, &p, drState, crState, amount, expiry)
	return ledger.TransferOK
}

// checkPostOrVoid holds the field checks of a post or void, in TigerBeetle's order.
func checkPostOrVoid(t *ledger.Transfer) ledger.CreateTransferResult {
	const exclusive = ledger.TransferPending | ledger.TransferBalancingDebit | ledger.TransferBalancingCredit |
		ledger.TransferClosingDebit | ledger.TransferClosingCredit
	both := ledger.TransferPostPendingTransfer | ledger.TransferVoidPendingTransfer
	switch {
	case t.Flags&both == both, t.Flags&exclusive != 0:
		return ledger.TransferFlagsAreMutuallyExclusive
	case t.PendingID.IsZero():
		return ledger.TransferPendingIDMustNotBeZero
	case t.PendingID.IsMax():
		return ledger.TransferPendingIDMustNotBeIntMax
	case t.PendingID == t.ID:
		return ledger.TransferPendingIDMustBeDifferent
	case t.Timeout != 0:
		return ledger.TransferTimeoutReservedForPendingTransfer
	}
	return ledger.TransferOK
}

// resolvedAmount checks t against pending p's fields and returns the amount
// the post or void moves.
func resolvedAmount(t, p *ledger.Transfer) (ledger.Uint128, ledger.CreateTransferResult) {
	switch {
	case !t.DebitAccountID.IsZero() && t.DebitAccountID != p.DebitAccountID:
		return ledger.Uint128{}, ledger.TransferPendingTransferHasDifferentDebitAccountID
	case !t.CreditAccountID.IsZero() && t.CreditAccountID != p.CreditAccountID:
		return ledger.Uint128{}, ledger.TransferPendingTransferHasDifferentCreditAccountID
	case t.Ledger != 0 && t.Ledger != p.Ledger:
		return ledger.Uint128{}, ledger.TransferPendingTransferHasDifferentLedger
	case t.Code != 0 && t.Code != p.Code:
		return ledger.Uint128{}, ledger.TransferPendingTransferHasDifferentCode
	}
	post := t.Flags&ledger.TransferPostPendingTransfer != 0
	amount := t.Amount
	if !post && amount.IsZero() || post && amount.IsMax() {
		amount = p.Amount
	}
	if amount.Cmp(p.Amount) > 0 {
		return ledger.Uint128{}, ledger.TransferExceedsPendingTransferAmount
	}
	if !post && amount.Cmp(p.Amount) < 0 {
		return ledger.Uint128{}, ledger.TransferPendingTransferHasDifferentAmount
	}
	return amount, ledger.TransferOK
}

// applyPostOrVoid records the post or void t of p and moves the balances.
func (l *Ledger) applyPostOrVoid(t, p *ledger.Transfer, drState, crState *accountState, amount ledger.Uint128, expiry uint64) {
	post := t.Flags&ledger.TransferPostPendingTransfer != 0
	stored := ledger.Transfer{
		ID:              t.ID,
		DebitAccountID:  p.DebitAccountID,
		CreditAccountID: p.CreditAccountID,
		Amount:          amount,
		PendingID:       t.PendingID,
		UserData128:     orU128(t.UserData128, p.UserData128),
		UserData64:      orValue(t.UserData64, p.UserData64),
		UserData32:      orValue(t.UserData32, p.UserData32),
		Ledger:          p.Ledger,
		Code:            p.Code,
		Flags:           t.Flags,
		Timestamp:       t.Timestamp,
	}
	l.addTransfer(&stored, false)
	status := statusVoided
	if post {
		status = statusPosted
	}
	l.setStatus(p.ID, statusChange{status: status, expiresAt: expiry})
	l.save(drState)
	l.save(crState)
	dr, cr := &drState.work, &crState.work
	release(dr, cr, p)
	if post {
		dr.DebitsPosted, _ = dr.DebitsPosted.Add(amount)
		cr.CreditsPosted, _ = cr.CreditsPosted.Add(amount)
	}
}

// release takes pending transfer p's amount out of the pending balances and,
// when p was a closing transfer, reopens the account it closed.
func release(dr, cr *ledger.Account, p *ledger.Transfer) {
	dr.DebitsPending, _ = dr.DebitsPending.Sub(p.Amount)
	cr.CreditsPending, _ = cr.CreditsPending.Sub(p.Amount)
	if p.Flags&ledger.TransferClosingDebit != 0 {
		dr.Flags &^= ledger.AccountClosed
	}
	if p.Flags&ledger.TransferClosingCredit != 0 {
		cr.Flags &^= ledger.AccountClosed
	}
}

func orU128(v, fallback ledger.Uint128) ledger.Uint128 {
	if v.IsZero() {
		return fallback
	}
	return v
}

func orValue[T uint64 | uint32](v, fallback T) T {
	if v == 0 {
		return fallback
	}
	return v
}

// postOrVoidExists compares a resubmitted post/void t with the stored e of
// pending transfer p, where zero fields of t mean "as the pending one".
func postOrVoidExists(t, e, p *ledger.Transfer) ledger.CreateTransferResult {
	switch {
	case !t.DebitAccountID.IsZero() && t.DebitAccountID != e.DebitAccountID:
		return ledger.TransferExistsWithDifferentDebitAccountID
	case !t.CreditAccountID.IsZero() && t.CreditAccountID != e.CreditAccountID:
		return ledger.TransferExistsWithDifferentCreditAccountID
	}
	full := t.Flags&ledger.TransferVoidPendingTransfer != 0 && t.Amount.IsZero() ||
		t.Flags&ledger.TransferPostPendingTransfer != 0 && t.Amount.IsMax()
	if full && e.Amount != p.Amount || !full && t.Amount != e.Amount {
		return ledger.TransferExistsWithDifferentAmount
	}
	switch {
	case orU128(t.UserData128, p.UserData128) != e.UserData128:
		return ledger.TransferExistsWithDifferentUserData128
	case orValue(t.UserData64, p.UserData64) != e.UserData64:
		return ledger.TransferExistsWithDifferentUserData64
	case orValue(t.UserData32, p.UserData32) != e.UserData32:
		return ledger.TransferExistsWithDifferentUserData32
	case t.Ledger != 0 && t.Ledger != e.Ledger:
		return ledger.TransferExistsWithDifferentLedger
	case t.Code != 0 && t.Code != e.Code:
		return ledger.TransferExistsWithDifferentCode
	}
	return ledger.TransferExists
}

// expire releases the pending transfers whose timeout passed by now, at most
// BatchEventsMax per group, as TigerBeetle's pulse does.
func (l *Ledger) expire(now uint64) {
	if l.nextExpiry == 0 || l.nextExpiry > now {
		return
	}
	g := l.g
	var lower, upper [keyExpirySize]byte
	lower[0] = prefixExpiry
	expiryKey(upper[:], now+1, ledger.Uint128{})
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower[:1], UpperBound: upper[:]})
	if err != nil {
		g.err = fmt.Errorf("cannot scan pending expiries: %w", err)
		return
	}
	n := 0
	for it.First(); it.Valid() && n < ledger.BatchEventsMax; it.Next() {
		k := it.Key()
		at, id := binary.BigEndian.Uint64(k[1:9]), getU128BE(k[9:])
		if l.pendingStatus(id) != statusPending {
			continue // resolved earlier in this group; its entry goes with it
		}
		var p ledger.Transfer
		if l.transfer(id, &p) != lookupFound {
			break // read error: kept in g.err
		}
		drState, crState := l.account(p.DebitAccountID), l.account(p.CreditAccountID)
		if drState == nil || crState == nil {
			panic("BUG: a pending transfer names a missing account")
		}
		release(&drState.work, &crState.work, &p)
		l.setStatus(id, statusChange{status: statusExpired, expiresAt: at})
		n++
	}
	if err := it.Close(); err != nil && g.err == nil {
		g.err = fmt.Errorf("cannot scan pending expiries: %w", err)
	}
	if n == ledger.BatchEventsMax {
		l.nextExpiry = now // more are due: the next group continues
		return
	}
	next, err := l.firstExpiryAfter(now)
	if err != nil && g.err == nil {
		g.err = err
	}
	// Pending transfers of the group being synced may not be readable yet.
	if f := l.inflight; f != nil && f.minExpiry != 0 && (next == 0 || f.minExpiry < next) {
		next = f.minExpiry
	}
	l.nextExpiry = next
}

// firstExpiry returns the earliest expires_at in the expiry index, 0 if none.
func (l *Ledger) firstExpiry() (uint64, error) { return l.firstExpiryAfter(0) }

func (l *Ledger) firstExpiryAfter(after uint64) (uint64, error) {
	var lower [keyExpirySize]byte
	expiryKey(lower[:], after+1, ledger.Uint128{})
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower[:], UpperBound: []byte{prefixExpiry + 1}})
	if err != nil {
		return 1, fmt.Errorf("cannot scan pending expiries: %w", err)
	}
	var at uint64
	if it.First() {
		at = binary.BigEndian.Uint64(it.Key()[1:9])
	}
	if err := it.Close(); err != nil {
		return 1, fmt.Errorf("cannot scan pending expiries: %w", err)
	}
	return at, nil
}
