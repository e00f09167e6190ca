package ledgertest

import (
	"testing"

	"github.com/exchange/internal-transfer/ledger"
)

func testTransferValidation(t *testing.T, h *harness) {
	ids := h.newAccounts(2, 0)
	dr, cr := ids[0], ids[1]
	other := ledger.Account{ID: ID(), Ledger: h.ledger + 1, Code: 10}
	h.createAccounts(other)
	missing := ID()
	cases := []struct {
		name   string
		mutate func(tr *ledger.Transfer)
		want   ledger.CreateTransferResult
	}{
		{"timestamp", func(tr *ledger.Transfer) { tr.Timestamp = 1 }, ledger.TransferTimestampMustBeZero},
		{"reserved flag", func(tr *ledger.Transfer) { tr.Flags = 1 << 15 }, ledger.TransferReservedFlag},
		{"id zero", func(tr *ledger.Transfer) { tr.ID = ledger.Uint128{} }, ledger.TransferIDMustNotBeZero},
		{"id int max", func(tr *ledger.Transfer) { tr.ID = ledger.AmountMax }, ledger.TransferIDMustNotBeIntMax},
		{"debit zero", func(tr *ledger.Transfer) { tr.DebitAccountID = ledger.Uint128{} }, ledger.TransferDebitAccountIDMustNotBeZero},
		{"debit int max", func(tr *ledger.Transfer) { tr.DebitAccountID = ledger.AmountMax }, ledger.TransferDebitAccountIDMustNotBeIntMax},
		{"credit zero", func(tr *ledger.Transfer) { tr.CreditAccountID = ledger.Uint128{} }, ledger.TransferCreditAccountIDMustNotBeZero},
		{"credit int max", func(tr *ledger.Transfer) { tr.CreditAccountID = ledger.AmountMax }, ledger.TransferCreditAccountIDMustNotBeIntMax},
		{"same accounts", func(tr *ledger.Transfer) { tr.CreditAccountID = tr.DebitAccountID }, ledger.TransferAccountsMustBeDifferent},
		{"pending id", func(tr *ledger.Transfer) { tr.PendingID = ID() }, ledger.TransferPendingIDMustBeZero},
		{"timeout", func(tr *ledger.Transfer) { tr.Timeout = 1 }, ledger.TransferTimeoutReservedForPendingTransfer},
		{"closing not pending", func(tr *ledger.Transfer) { tr.Flags = ledger.TransferClosingDebit }, ledger.TransferClosingTransferMustBePending},
		{"ledger zero", func(tr *ledger.Transfer) { tr.Ledger = 0 }, ledger.TransferLedgerMustNotBeZero},
		{"code zero", func(tr *ledger.Transfer) { tr.Code = 0 }, ledger.TransferCodeMustNotBeZero},
		{"debit not found", func(tr *ledger.Transfer) { tr.DebitAccountID = missing }, ledger.TransferDebitAccountNotFound},
		{"credit not found", func(tr *ledger.Transfer) { tr.CreditAccountID = missing }, ledger.TransferCreditAccountNotFound},
		{"accounts ledgers", func(tr *ledger.Transfer) { tr.CreditAccountID = other.ID }, ledger.TransferAccountsMustHaveTheSameLedger},
		{"transfer ledger", func(tr *ledger.Transfer) { tr.Ledger = h.ledger + 1 }, ledger.TransferTransferMustHaveTheSameLedgerAsAccounts},
		// Order of checks.
		{"id before accounts", func(tr *ledger.Transfer) { tr.ID, tr.DebitAccountID = ledger.Uint128{}, ledger.Uint128{} }, ledger.TransferIDMustNotBeZero},
		{"accounts before ledger", func(tr *ledger.Transfer) { tr.CreditAccountID, tr.Ledger = dr, 0 }, ledger.TransferAccountsMustBeDifferent},
		{"code before existence", func(tr *ledger.Transfer) { tr.Code, tr.DebitAccountID = 0, missing }, ledger.TransferCodeMustNotBeZero},
		{"debit before credit", func(tr *ledger.Transfer) { tr.DebitAccountID, tr.CreditAccountID = missing, ID() }, ledger.TransferDebitAccountNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			tr := h.transfer(dr, cr, 5)
			c.mutate(&tr)
			h.expectTransfer(tr, c.want)
		})
	}
	h.expectBalances(dr, balances{})
	h.expectBalances(cr, balances{})
}

func testSinglePhase(t *testing.T, h *harness) {
	ids := h.newAccounts(2, 0)
	dr, cr := ids[0], ids[1]
	tr := h.transfer(dr, cr, 123)
	tr.UserData128, tr.UserData64, tr.UserData32 = ledger.U128(1), 2, 3
	h.createTransfers(tr)
	got := h.lookupTransfer(tr.ID)
	if got.Timestamp == 0 {
		t.Error("transfer has no timestamp")
	}
	want := tr
	want.Timestamp = got.Timestamp
	if got != want {
		t.Errorf("lookup: got %+v, want %+v", got, want)
	}
	h.expectBalances(dr, balances{debitsPosted: 123})
	h.expectBalances(cr, balances{creditsPosted: 123})

	t.Run("amount zero", func(t *testing.T) {
		h := h.with(t)
		h.createTransfers(h.transfer(dr, cr, 0))
		h.expectBalances(dr, balances{debitsPosted: 123})
	})
	t.Run("replay", func(t *testing.T) {
		h := h.with(t)
		h.expectTransfer(tr, ledger.TransferExists)
		h.expectBalances(dr, balances{debitsPosted: 123})
	})
	t.Run("many in one batch", func(t *testing.T) {
		h := h.with(t)
		batch := make([]ledger.Transfer, 100)
		for i := range batch {
			batch[i] = h.transfer(cr, dr, 1)
		}
		h.createTransfers(batch...)
		h.expectBalances(dr, balances{debitsPosted: 123, creditsPosted: 100})
	})
}

func testTransferExists(t *testing.T, h *harness) {
	ids := h.newAccounts(3, 0)
	tr := h.transfer(ids[0], ids[1], 50)
	tr.UserData128, tr.UserData64, tr.UserData32 = ledger.U128(1), 2, 3
	h.createTransfers(tr)
	cases := []struct {
		name   string
		mutate func(tr *ledger.Transfer)
		want   ledger.CreateTransferResult
	}{
		{"same", func(*ledger.Transfer) {}, ledger.TransferExists},
		{"flags", func(tr *ledger.Transfer) { tr.Flags = ledger.TransferPending }, ledger.TransferExistsWithDifferentFlags},
		{"pending id", func(tr *ledger.Transfer) { tr.PendingID = ID() }, ledger.TransferExistsWithDifferentPendingID},
		{"timeout", func(tr *ledger.Transfer) { tr.Timeout = 9 }, ledger.TransferExistsWithDifferentTimeout},
		{"debit account", func(tr *ledger.Transfer) { tr.DebitAccountID = ids[2] }, ledger.TransferExistsWithDifferentDebitAccountID},
		{"credit account", func(tr *ledger.Transfer) { tr.CreditAccountID = ids[2] }, ledger.TransferExistsWithDifferentCreditAccountID},
		{"amount", func(tr *ledger.Transfer) { tr.Amount = ledger.U128(51) }, ledger.TransferExistsWithDifferentAmount},
		{"user data 128", func(tr *ledger.Transfer) { tr.UserData128 = ledger.U128(9) }, ledger.TransferExistsWithDifferentUserData128},
		{"user data 64", func(tr *ledger.Transfer) { tr.UserData64 = 9 }, ledger.TransferExistsWithDifferentUserData64},
		{"user data 32", func(tr *ledger.Transfer) { tr.UserData32 = 9 }, ledger.TransferExistsWithDifferentUserData32},
		{"ledger", func(tr *ledger.Transfer) { tr.Ledger++ }, ledger.TransferExistsWithDifferentLedger},
		{"code", func(tr *ledger.Transfer) { tr.Code++ }, ledger.TransferExistsWithDifferentCode},
		// The exists check comes before every account check.
		{"exists before accounts", func(tr *ledger.Transfer) { tr.CreditAccountID = tr.DebitAccountID }, ledger.TransferExistsWithDifferentCreditAccountID},
		{"user data before ledger", func(tr *ledger.Transfer) { tr.UserData32, tr.Ledger = 8, 1 }, ledger.TransferExistsWithDifferentUserData32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			b := tr
			c.mutate(&b)
			h.expectTransfer(b, c.want)
		})
	}
	h.expectBalances(ids[0], balances{debitsPosted: 50})
}

func testBalanceLimits(t *testing.T, h *harness) {
	t.Run("debits must not exceed credits", func(t *testing.T) {
		h := h.with(t)
		user := h.newAccounts(1, ledger.AccountDebitsMustNotExceedCredits)[0]
		sink := h.newAccounts(1, 0)[0]
		h.fund(100, user)
		h.expectTransfer(h.transfer(user, sink, 101), ledger.TransferExceedsCredits)
		h.createTransfers(h.transfer(user, sink, 60))
		// Pending debits count against the limit too.
		p := h.transfer(user, sink, 30)
		p.Flags = ledger.TransferPending
		h.createTransfers(p)
		h.expectTransfer(h.transfer(user, sink, 11), ledger.TransferExceedsCredits)
		h.createTransfers(h.transfer(user, sink, 10))
		h.expectBalances(user, balances{debitsPending: 30, debitsPosted: 70, creditsPosted: 100})
	})
	t.Run("credits must not exceed debits", func(t *testing.T) {
		h := h.with(t)
		acct := h.newAccounts(1, ledger.AccountCreditsMustNotExceedDebits)[0]
		other := h.newAccounts(1, 0)[0]
		h.expectTransfer(h.transfer(other, acct, 1), ledger.TransferExceedsDebits)
		h.createTransfers(h.transfer(acct, other, 40))
		h.createTransfers(h.transfer(other, acct, 40))
		h.expectTransfer(h.transfer(other, acct, 1), ledger.TransferExceedsDebits)
		h.expectBalances(acct, balances{debitsPosted: 40, creditsPosted: 40})
	})
	t.Run("overflow", func(t *testing.T) {
		h := h.with(t)
		half := ledger.Uint128{Lo: 1, Hi: 1 << 63} // 2^127 + 1: two of them overflow 128 bits
		big := func(dr, cr ledger.Uint128, flags uint16, amount ledger.Uint128) ledger.Transfer {
			tr := h.transfer(dr, cr, 0)
			tr.Flags, tr.Amount = flags, amount
			return tr
		}
		posted := h.newAccounts(3, 0)
		h.createTransfers(big(posted[0], posted[1], 0, half))
		h.expectTransfer(big(posted[0], posted[1], 0, half), ledger.TransferOverflowsDebitsPosted)
		h.expectTransfer(big(posted[2], posted[1], 0, half), ledger.TransferOverflowsCreditsPosted)
		pending := h.newAccounts(3, 0)
		h.createTransfers(big(pending[0], pending[1], ledger.TransferPending, half))
		h.expectTransfer(big(pending[0], pending[1], ledger.TransferPending, half), ledger.TransferOverflowsDebitsPending)
		h.expectTransfer(big(pending[2], pending[1], ledger.TransferPending, half), ledger.TransferOverflowsCreditsPending)
		// pending + posted overflow together though neither does alone.
		h.expectTransfer(big(pending[0], pending[2], 0, ledger.Uint128{Hi: 1 << 63}), ledger.TransferOverflowsDebits)
		h.expectTransfer(big(pending[2], pending[1], 0, ledger.Uint128{Hi: 1 << 63}), ledger.TransferOverflowsCredits)
	})
}

func testIDAlreadyFailed(t *testing.T, h *harness) {
	user := h.newAccounts(1, ledger.AccountDebitsMustNotExceedCredits)[0]
	sink := h.newAccounts(1, 0)[0]
	tr := h.transfer(user, sink, 10)
	h.expectTransfer(tr, ledger.TransferExceedsCredits)
	h.fund(100, user)
	// exceeds_credits is transient: the id is pinned even though it would now succeed.
	h.expectTransfer(tr, ledger.TransferIDAlreadyFailed)
	h.expectBalances(user, balances{creditsPosted: 100})

	t.Run("account not found pins", func(t *testing.T) {
		h := h.with(t)
		tr := h.transfer(ID(), sink, 1)
		h.expectTransfer(tr, ledger.TransferDebitAccountNotFound)
		h.expectTransfer(tr, ledger.TransferIDAlreadyFailed)
	})
	t.Run("validation errors do not pin", func(t *testing.T) {
		h := h.with(t)
		tr := h.transfer(user, sink, 10)
		tr.Code = 0
		h.expectTransfer(tr, ledger.TransferCodeMustNotBeZero)
		tr.Code = 20
		h.createTransfers(tr)
	})
	t.Run("linked event failed does not pin", func(t *testing.T) {
		h := h.with(t)
		a := h.transfer(user, sink, 1)
		a.Flags = ledger.TransferLinked
		b := h.transfer(user, sink, 1000) // exceeds_credits: b is pinned, a is not
		h.expectTransfers([]ledger.Transfer{a, b}, map[uint32]ledger.CreateTransferResult{
			0: ledger.TransferLinkedEventFailed, 1: ledger.TransferExceedsCredits,
		})
		a.Flags = 0
		h.createTransfers(a)
		b.Amount = ledger.U128(1)
		h.expectTransfer(b, ledger.TransferIDAlreadyFailed)
	})
}

func testLinkedTransfers(t *testing.T, h *harness) {
	user := h.newAccounts(1, ledger.AccountDebitsMustNotExceedCredits)[0]
	ids := h.newAccounts(2, 0)
	h.fund(100, user)
	t.Run("failure rolls back the chain", func(t *testing.T) {
		h := h.with(t)
		a, b, c := h.transfer(user, ids[0], 60), h.transfer(user, ids[1], 60), h.transfer(ids[0], ids[1], 1)
		a.Flags = ledger.TransferLinked
		h.expectTransfers([]ledger.Transfer{a, b, c}, map[uint32]ledger.CreateTransferResult{
			0: ledger.TransferLinkedEventFailed, 1: ledger.TransferExceedsCredits,
		})
		h.expectBalances(user, balances{creditsPosted: 100})
		h.expectBalances(ids[1], balances{creditsPosted: 1})
		if got, err := h.l.LookupTransfers(h.ctx(), []ledger.Uint128{a.ID, b.ID}); err != nil || len(got) != 0 {
			t.Errorf("rolled-back transfers were stored: %v %v", got, err)
		}
	})
	t.Run("events after a broken link fail", func(t *testing.T) {
		h := h.with(t)
		a, b, c, d := h.transfer(user, ids[0], 1000), h.transfer(user, ids[0], 1), h.transfer(user, ids[0], 1), h.transfer(user, ids[0], 2)
		a.Flags, b.Flags = ledger.TransferLinked, ledger.TransferLinked
		h.expectTransfers([]ledger.Transfer{a, b, c, d}, map[uint32]ledger.CreateTransferResult{
			0: ledger.TransferExceedsCredits, 1: ledger.TransferLinkedEventFailed, 2: ledger.TransferLinkedEventFailed,
		})
		h.expectBalances(user, balances{debitsPosted: 2, creditsPosted: 100})
	})
	t.Run("chain open", func(t *testing.T) {
		h := h.with(t)
		a, b := h.transfer(user, ids[0], 1), h.transfer(user, ids[0], 1)
		a.Flags, b.Flags = ledger.TransferLinked, ledger.TransferLinked
		h.expectTransfers([]ledger.Transfer{a, b}, map[uint32]ledger.CreateTransferResult{
			0: ledger.TransferLinkedEventFailed, 1: ledger.TransferLinkedEventChainOpen,
		})
		h.expectBalances(user, balances{debitsPosted: 2, creditsPosted: 100})
	})
	t.Run("successful chain", func(t *testing.T) {
		h := h.with(t)
		a, b := h.transfer(user, ids[0], 50), h.transfer(ids[0], ids[1], 50)
		a.Flags = ledger.TransferLinked
		h.createTransfers(a, b)
		h.expectBalances(user, balances{debitsPosted: 52, creditsPosted: 100})
	})
	t.Run("chain sees its own events", func(t *testing.T) {
		h := h.with(t)
		a := h.transfer(user, ids[0], 1)
		a.Flags = ledger.TransferLinked
		dup := a
		dup.Flags = 0
		h.expectTransfers([]ledger.Transfer{a, dup}, map[uint32]ledger.CreateTransferResult{
			0: ledger.TransferLinkedEventFailed, 1: ledger.TransferExistsWithDifferentFlags,
		})
	})
}
