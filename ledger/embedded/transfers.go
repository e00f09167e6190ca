package embedded

import (
	"math"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

const transferFlagsKnown = ledger.TransferLinked | ledger.TransferPending |
	ledger.TransferPostPendingTransfer | ledger.TransferVoidPendingTransfer |
	ledger.TransferBalancingDebit | ledger.TransferBalancingCredit |
	ledger.TransferClosingDebit | ledger.TransferClosingCredit | ledger.TransferImported

// createTransfer applies TigerBeetle's create_transfer checks in its order
// (src/state_machine.zig) to t, whose Timestamp is already assigned. fresh
// says the id filter showed t.ID was never stored.
func (l *Ledger) createTransfer(t *ledger.Transfer, fresh bool) ledger.CreateTransferResult {
	if t.Flags&^transferFlagsKnown != 0 {
		return ledger.TransferReservedFlag
	}
	if t.ID.IsZero() {
		return ledger.TransferIDMustNotBeZero
	}
	if t.ID.IsMax() {
		return ledger.TransferIDMustNotBeIntMax
	}
	var e ledger.Transfer
	var found lookupResult
	if fresh {
		found = l.groupTransfer(t.ID, &e)
	} else {
		found = l.transfer(t.ID, &e)
	}
	switch found {
	case lookupFound:
		return l.transferExists(t, &e)
	case lookupOrphan:
		return ledger.TransferIDAlreadyFailed
	}
	if t.Flags&(ledger.TransferPostPendingTransfer|ledger.TransferVoidPendingTransfer) != 0 {
		return l.postOrVoid(t)
	}
	if res := checkSinglePhase(t); res != ledger.TransferOK {
		return res
	}
	drState := l.account(t.DebitAccountID)
	if drState == nil {
		return ledger.TransferDebitAccountNotFound
	}
	crState := l.account(t.CreditAccountID)
	if crState == nil {
		return ledger.TransferCreditAccountNotFound
	}
	dr, cr := &drState.work, &crState.work
	if dr.Ledger != cr.Ledger {
		return ledger.TransferAccountsMustHaveTheSameLedger
	}
	if t.Ledger != dr.Ledger {
		return ledger.TransferTransferMustHaveTheSameLedgerAsAccounts
	}
	if dr.Flags&ledger.AccountClosed != 0 {
		return ledger.TransferDebitAccountAlreadyClosed
	}
	if cr.Flags&ledger.AccountClosed != 0 {
		return ledger.TransferCreditAccountAlreadyClosed
	}
	amount := balancedAmount(t, dr, cr)
	if res := checkBalances(t, dr, cr, amount); res != ledger.TransferOK {
		return res
	}

	l.applyTransfer(t, drState, crState, amount)
	return ledger.TransferOK
}

// applyTransfer moves amount for the validated transfer t and records it.
func (l *Ledger) applyTransfer(t *ledger.Transfer, drState, crState *accountState, amount ledger.Uint128) {
	dr, cr := &drState.work, &crState.work
	l.save(drState)
	l.save(crState)
	if t.Flags&ledger.TransferPending != 0 {
		dr.DebitsPending, _ = dr.DebitsPending.Add(amount)
		cr.CreditsPending, _ = cr.CreditsPending.Add(amount)
		if t.Timeout != 0 {
			at := expiresAt(t)
			if l.nextExpiry == 0 || at < l.nextExpiry {
				l.nextExpiry = at
			}
			if l.g.minExpiry == 0 || at < l.g.minExpiry {
				l.g.minExpiry = at
			}
		}
	} else {
		dr.DebitsPosted, _ = dr.DebitsPosted.Add(amount)
		cr.CreditsPosted, _ = cr.CreditsPosted.Add(amount)
	}
	if t.Flags&ledger.TransferClosingDebit != 0 {
		dr.Flags |= ledger.AccountClosed
	}
	if t.Flags&ledger.TransferClosingCredit != 0 {
		cr.Flags |= ledger.AccountClosed
	}
	stored := *t
	stored.Amount = amount
	l.addTransfer(&stored, false)
}

// checkSinglePhase holds the field checks of a transfer that is not a post or void.
func checkSinglePhase(t *ledger.Transfer) ledger.CreateTransferResult {
	switch {
	case t.DebitAccountID.IsZero():
		return ledger.TransferDebitAccountIDMustNotBeZero
	case t.DebitAccountID.IsMax():
		return ledger.TransferDebitAccountIDMustNotBeIntMax
	case t.CreditAccountID.IsZero():
		return ledger.TransferCreditAccountIDMustNotBeZero
	case t.CreditAccountID.IsMax():
		return ledger.TransferCreditAccountIDMustNotBeIntMax
	case t.CreditAccountID == t.DebitAccountID:
		return ledger.TransferAccountsMustBeDifferent
	case !t.PendingID.IsZero():
		return ledger.TransferPendingIDMustBeZero
	}
	if t.Flags&ledger.TransferPending == 0 {
		if t.Timeout != 0 {
			return ledger.TransferTimeoutReservedForPendingTransfer
		}
		if t.Flags&(ledger.TransferClosingDebit|ledger.TransferClosingCredit) != 0 {
			return ledger.TransferClosingTransferMustBePending
		}
	}
	if t.Ledger == 0 {
		return ledger.TransferLedgerMustNotBeZero
	}
	if t.Code == 0 {
		return ledger.TransferCodeMustNotBeZero
	}
	return ledger.TransferOK
}

// balancedAmount is the amount a transfer moves: its amount, capped for
// balancing transfers at what keeps the account's balance from going negative.
func balancedAmount(t *ledger.Transfer, dr, cr *ledger.Account) ledger.Uint128 {
	amount := t.Amount
	if t.Flags&ledger.TransferBalancingDebit != 0 {
		balance, _ := dr.DebitsPosted.Add(dr.DebitsPending)
		amount = minU128(amount, satSub(dr.CreditsPosted, balance))
	}
	if t.Flags&ledger.TransferBalancingCredit != 0 {
		balance, _ := cr.CreditsPosted.Add(cr.CreditsPending)
		amount = minU128(amount, satSub(cr.DebitsPosted, balance))
	}
	return amount
}

// checkBalances holds the overflow and limit checks, in TigerBeetle's order.
func checkBalances(t *ledger.Transfer, dr, cr *ledger.Account, amount ledger.Uint128) ledger.CreateTransferResult {
	if t.Flags&ledger.TransferPending != 0 {
		if _, o := amount.Add(dr.DebitsPending); o {
			return ledger.TransferOverflowsDebitsPending
		}
		if _, o := amount.Add(cr.CreditsPending); o {
			return ledger.TransferOverflowsCreditsPending
		}
	}
	if _, o := amount.Add(dr.DebitsPosted); o {
		return ledger.TransferOverflowsDebitsPosted
	}
	if _, o := amount.Add(cr.CreditsPosted); o {
		return ledger.TransferOverflowsCreditsPosted
	}
	drDebits, _ := dr.DebitsPending.Add(dr.DebitsPosted)
	if _, o := amount.Add(drDebits); o {
		return ledger.TransferOverflowsDebits
	}
	crCredits, _ := cr.CreditsPending.Add(cr.CreditsPosted)
	if _, o := amount.Add(crCredits); o {
		return ledger.TransferOverflowsCredits
	}
	// The timestamp's top bit is TigerBeetle's tombstone: expiry must fit in 63 bits.
	if t.Timestamp+uint64(t.Timeout)*uint64(time.Second) > math.MaxInt64 {
		return ledger.TransferOverflowsTimeout
	}
	if dr.Flags&ledger.AccountDebitsMustNotExceedCredits != 0 {
		if total, _ := drDebits.Add(amount); total.Cmp(dr.CreditsPosted) > 0 {
			return ledger.TransferExceedsCredits
		}
	}
	if cr.Flags&ledger.AccountCreditsMustNotExceedDebits != 0 {
		if total, _ := crCredits.Add(amount); total.Cmp(cr.DebitsPosted) > 0 {
			return ledger.TransferExceedsDebits
		}
	}
	return ledger.TransferOK
}

func minU128(a, b ledger.Uint128) ledger.Uint128 {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

func satSub(a, b ledger.Uint128) ledger.Uint128 {
	d, borrow := a.Sub(b)
	if borrow {
		return ledger.Uint128{}
	}
	return d
}

// transferExists compares a resubmitted transfer t with the stored e.
func (l *Ledger) transferExists(t, e *ledger.Transfer) ledger.CreateTransferResult {
	switch {
	case t.Flags != e.Flags:
		return ledger.TransferExistsWithDifferentFlags
	case t.PendingID != e.PendingID:
		return ledger.TransferExistsWithDifferentPendingID
	case t.Timeout != e.Timeout:
		return ledger.TransferExistsWithDifferentTimeout
	}
	if t.Flags&(ledger.TransferPostPendingTransfer|ledger.TransferVoidPendingTransfer) != 0 {
		var p ledger.Transfer
		if l.transfer(t.PendingID, &p) != lookupFound {
			if l.g.err != nil {
				return ledger.TransferExists // the group is discarded anyway
			}
			panic("BUG: a stored post/void transfer names a missing pending transfer")
		}
		return postOrVoidExists(t, e, &p)
	}
	switch {
	case t.DebitAccountID != e.DebitAccountID:
		return ledger.TransferExistsWithDifferentDebitAccountID
	case t.CreditAccountID != e.CreditAccountID:
		return ledger.TransferExistsWithDifferentCreditAccountID
	}
	// A balancing transfer's amount is an upper bound: resubmitting it is
	// "exists" as long as the bound still covers what was moved.
	if t.Flags&(ledger.TransferBalancingDebit|ledger.TransferBalancingCredit) != 0 {
		if t.Amount.Cmp(e.Amount) < 0 {
			return ledger.TransferExistsWithDifferentAmount
		}
	} else if t.Amount != e.Amount {
		return ledger.TransferExistsWithDifferentAmount
	}
	return userDataLedgerCodeExists(t, e)
}

func userDataLedgerCodeExists(t, e *ledger.Transfer) ledger.CreateTransferResult {
	switch {
	case t.UserData128 != e.UserData128:
		return ledger.TransferExistsWithDifferentUserData128
	case t.UserData64 != e.UserData64:
		return ledger.TransferExistsWithDifferentUserData64
	case t.UserData32 != e.UserData32:
		return ledger.TransferExistsWithDifferentUserData32
	case t.Ledger != e.Ledger:
		return ledger.TransferExistsWithDifferentLedger
	case t.Code != e.Code:
		return ledger.TransferExistsWithDifferentCode
	}
	return ledger.TransferExists
}
