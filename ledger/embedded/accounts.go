package embedded

import (
	"github.com/exchange/internal-transfer/ledger"
)

const accountFlagsKnown = ledger.AccountLinked | ledger.AccountDebitsMustNotExceedCredits |
	ledger.AccountCreditsMustNotExceedDebits | ledger.AccountHistory | ledger.AccountImported |
	ledger.AccountClosed

// createAccount applies TigerBeetle's create_account checks, in its order
// (src/state_machine.zig), and creates the account with timestamp ts.
func (l *Ledger) createAccount(a *ledger.Account, ts uint64) ledger.CreateAccountResult {
	if a.Reserved != 0 {
		return ledger.AccountReservedField
	}
	if a.Flags&^accountFlagsKnown != 0 {
		return ledger.AccountReservedFlag
	}
	if a.ID.IsZero() {
		return ledger.AccountIDMustNotBeZero
	}
	if a.ID.IsMax() {
		return ledger.AccountIDMustNotBeIntMax
	}
	if e := l.account(a.ID); e != nil {
		return accountExists(a, &e.work)
	}
	if a.Flags&ledger.AccountDebitsMustNotExceedCredits != 0 && a.Flags&ledger.AccountCreditsMustNotExceedDebits != 0 {
		return ledger.AccountFlagsAreMutuallyExclusive
	}
	switch {
	case !a.DebitsPending.IsZero():
		return ledger.AccountDebitsPendingMustBeZero
	case !a.DebitsPosted.IsZero():
		return ledger.AccountDebitsPostedMustBeZero
	case !a.CreditsPending.IsZero():
		return ledger.AccountCreditsPendingMustBeZero
	case !a.CreditsPosted.IsZero():
		return ledger.AccountCreditsPostedMustBeZero
	case a.Ledger == 0:
		return ledger.AccountLedgerMustNotBeZero
	case a.Code == 0:
		return ledger.AccountCodeMustNotBeZero
	}
	l.insertAccount(a, ts)
	return ledger.AccountOK
}

// insertAccount adds a new account to the group (and to the shared map, as
// not yet committed, so readers keep ignoring it until publish).
func (l *Ledger) insertAccount(a *ledger.Account, ts uint64) {
	st := l.accounts[a.ID]
	if st == nil {
		st = &accountState{}
		l.mu.Lock()
		l.accounts[a.ID] = st
		l.mu.Unlock()
	}
	l.touch(st)
	l.save(st)
	st.work = *a
	st.work.Timestamp = ts
	st.workOK = true
}

func accountExists(a, e *ledger.Account) ledger.CreateAccountResult {
	switch {
	case a.Flags != e.Flags:
		return ledger.AccountExistsWithDifferentFlags
	case a.UserData128 != e.UserData128:
		return ledger.AccountExistsWithDifferentUserData128
	case a.UserData64 != e.UserData64:
		return ledger.AccountExistsWithDifferentUserData64
	case a.UserData32 != e.UserData32:
		return ledger.AccountExistsWithDifferentUserData32
	case a.Ledger != e.Ledger:
		return ledger.AccountExistsWithDifferentLedger
	case a.Code != e.Code:
		return ledger.AccountExistsWithDifferentCode
	}
	return ledger.AccountExists
}
