package ledgertest

import (
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// pending returns a pending transfer of amount from dr to cr.
func (h *harness) pending(dr, cr ledger.Uint128, amount uint64) ledger.Transfer {
	tr := h.transfer(dr, cr, amount)
	tr.Flags = ledger.TransferPending
	return tr
}

// post returns a transfer posting amount of pending p (ledger.AmountMax: all).
func post(p ledger.Transfer, amount ledger.Uint128) ledger.Transfer {
	return ledger.Transfer{ID: ID(), PendingID: p.ID, Amount: amount, Flags: ledger.TransferPostPendingTransfer}
}

// void returns a transfer voiding pending p.
func void(p ledger.Transfer) ledger.Transfer {
	return ledger.Transfer{ID: ID(), PendingID: p.ID, Flags: ledger.TransferVoidPendingTransfer}
}

func testTwoPhase(t *testing.T, h *harness) {
	user := h.newAccounts(1, ledger.AccountDebitsMustNotExceedCredits)[0]
	dest := h.newAccounts(1, 0)[0]
	h.fund(100, user)

	t.Run("post full", func(t *testing.T) {
		h := h.with(t)
		p := h.pending(user, dest, 30)
		p.UserData64 = 77
		h.createTransfers(p)
		h.expectBalances(user, balances{debitsPending: 30, creditsPosted: 100})
		ps := post(p, ledger.AmountMax)
		h.createTransfers(ps)
		h.expectBalances(user, balances{debitsPosted: 30, creditsPosted: 100})
		h.expectBalances(dest, balances{creditsPosted: 30})
		got := h.lookupTransfer(ps.ID)
		if got.Amount != ledger.U128(30) || got.DebitAccountID != user || got.CreditAccountID != dest ||
			got.Ledger != h.ledger || got.Code != p.Code || got.UserData64 != 77 || got.PendingID != p.ID {
			t.Errorf("stored post: %+v", got)
		}
		h.expectTransfer(post(p, ledger.AmountMax), ledger.TransferPendingTransferAlreadyPosted)
		h.expectTransfer(void(p), ledger.TransferPendingTransferAlreadyPosted)
		// The pending transfer itself never changes.
		if got := h.lookupTransfer(p.ID); got.Amount != ledger.U128(30) || got.Flags != ledger.TransferPending {
			t.Errorf("pending transfer changed: %+v", got)
		}
	})
	t.Run("post partial", func(t *testing.T) {
		h := h.with(t)
		p := h.pending(user, dest, 20)
		h.createTransfers(p)
		h.createTransfers(post(p, ledger.U128(5)))
		// The rest of the hold is released, not kept.
		h.expectBalances(user, balances{debitsPosted: 35, creditsPosted: 100})
	})
	t.Run("void", func(t *testing.T) {
		h := h.with(t)
		p := h.pending(user, dest, 40)
		h.createTransfers(p)
		v := void(p)
		h.createTransfers(v)
		h.expectBalances(user, balances{debitsPosted: 35, creditsPosted: 100})
		if got := h.lookupTransfer(v.ID); got.Amount != ledger.U128(40) {
			t.Errorf("stored void amount %v, want 40", got.Amount)
		}
		h.expectTransfer(void(p), ledger.TransferPendingTransferAlreadyVoided)
		h.expectTransfer(post(p, ledger.AmountMax), ledger.TransferPendingTransferAlreadyVoided)
	})
	t.Run("pending and post in one batch", func(t *testing.T) {
		h := h.with(t)
		p := h.pending(user, dest, 5)
		h.createTransfers(p, post(p, ledger.AmountMax))
		h.expectBalances(user, balances{debitsPosted: 40, creditsPosted: 100})
	})
	t.Run("hold blocks overdraw", func(t *testing.T) {
		h := h.with(t)
		p := h.pending(user, dest, 60)
		h.createTransfers(p)
		h.expectTransfer(h.transfer(user, dest, 1), ledger.TransferExceedsCredits)
		h.createTransfers(void(p))
		h.createTransfers(h.transfer(user, dest, 1))
	})
}

func testPostVoidValidation(t *testing.T, h *harness) {
	ids := h.newAccounts(3, 0)
	p := h.pending(ids[0], ids[1], 10)
	single := h.transfer(ids[0], ids[1], 10)
	h.createTransfers(p, single)
	cases := []struct {
		name string
		tr   func() ledger.Transfer
		want ledger.CreateTransferResult
	}{
		{"post and void", func() ledger.Transfer {
			tr := post(p, ledger.AmountMax)
			tr.Flags |= ledger.TransferVoidPendingTransfer
			return tr
		}, ledger.TransferFlagsAreMutuallyExclusive},
		{"post pending", func() ledger.Transfer {
			tr := post(p, ledger.AmountMax)
			tr.Flags |= ledger.TransferPending
			return tr
		}, ledger.TransferFlagsAreMutuallyExclusive},
		{"void balancing", func() ledger.Transfer {
			tr := void(p)
			tr.Flags |= ledger.TransferBalancingDebit
			return tr
		}, ledger.TransferFlagsAreMutuallyExclusive},
		{"pending id zero", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.PendingID = ledger.Uint128{}; return tr }, ledger.TransferPendingIDMustNotBeZero},
		{"pending id int max", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.PendingID = ledger.AmountMax; return tr }, ledger.TransferPendingIDMustNotBeIntMax},
		{"pending id is id", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.PendingID = tr.ID; return tr }, ledger.TransferPendingIDMustBeDifferent},
		{"timeout", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.Timeout = 1; return tr }, ledger.TransferTimeoutReservedForPendingTransfer},
		{"not found", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.PendingID = ID(); return tr }, ledger.TransferPendingTransferNotFound},
		{"not pending", func() ledger.Transfer { return post(single, ledger.AmountMax) }, ledger.TransferPendingTransferNotPending},
		{"debit account", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.DebitAccountID = ids[2]; return tr }, ledger.TransferPendingTransferHasDifferentDebitAccountID},
		{"credit account", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.CreditAccountID = ids[2]; return tr }, ledger.TransferPendingTransferHasDifferentCreditAccountID},
		{"ledger", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.Ledger = h.ledger + 1; return tr }, ledger.TransferPendingTransferHasDifferentLedger},
		{"code", func() ledger.Transfer { tr := post(p, ledger.AmountMax); tr.Code = 99; return tr }, ledger.TransferPendingTransferHasDifferentCode},
		{"post too much", func() ledger.Transfer { return post(p, ledger.U128(11)) }, ledger.TransferExceedsPendingTransferAmount},
		{"void less", func() ledger.Transfer { tr := void(p); tr.Amount = ledger.U128(9); return tr }, ledger.TransferPendingTransferHasDifferentAmount},
		{"void more", func() ledger.Transfer { tr := void(p); tr.Amount = ledger.U128(11); return tr }, ledger.TransferExceedsPendingTransferAmount},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { h.with(t).expectTransfer(c.tr(), c.want) })
	}
	// Matching fields may be given explicitly.
	tr := post(p, ledger.U128(10))
	tr.DebitAccountID, tr.CreditAccountID, tr.Ledger, tr.Code = ids[0], ids[1], h.ledger, p.Code
	h.createTransfers(tr)
	h.expectBalances(ids[0], balances{debitsPosted: 20})
}

func testPostVoidExists(t *testing.T, h *harness) {
	ids := h.newAccounts(3, 0)
	p := h.pending(ids[0], ids[1], 10)
	p.UserData32 = 5
	h.createTransfers(p)
	ps := post(p, ledger.U128(7))
	h.createTransfers(ps)
	cases := []struct {
		name   string
		mutate func(tr *ledger.Transfer)
		want   ledger.CreateTransferResult
	}{
		{"same", func(*ledger.Transfer) {}, ledger.TransferExists},
		{"same with pending's fields", func(tr *ledger.Transfer) {
			tr.DebitAccountID, tr.CreditAccountID, tr.UserData32, tr.Ledger, tr.Code = ids[0], ids[1], 5, h.ledger, p.Code
		}, ledger.TransferExists},
		{"flags", func(tr *ledger.Transfer) { tr.Flags = ledger.TransferVoidPendingTransfer }, ledger.TransferExistsWithDifferentFlags},
		{"pending id", func(tr *ledger.Transfer) { tr.PendingID = ID() }, ledger.TransferExistsWithDifferentPendingID},
		{"amount", func(tr *ledger.Transfer) { tr.Amount = ledger.U128(8) }, ledger.TransferExistsWithDifferentAmount},
		{"full amount", func(tr *ledger.Transfer) { tr.Amount = ledger.AmountMax }, ledger.TransferExistsWithDifferentAmount},
		{"debit account", func(tr *ledger.Transfer) { tr.DebitAccountID = ids[2] }, ledger.TransferExistsWithDifferentDebitAccountID},
		{"user data 32", func(tr *ledger.Transfer) { tr.UserData32 = 6 }, ledger.TransferExistsWithDifferentUserData32},
		{"code", func(tr *ledger.Transfer) { tr.Code = 99 }, ledger.TransferExistsWithDifferentCode},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			b := ps
			c.mutate(&b)
			h.expectTransfer(b, c.want)
		})
	}
	h.expectBalances(ids[0], balances{debitsPosted: 7})
}

func testPendingExpiry(t *testing.T, h *harness) {
	user := h.newAccounts(1, ledger.AccountDebitsMustNotExceedCredits)[0]
	dest := h.newAccounts(1, 0)[0]
	h.fund(100, user)
	p := h.pending(user, dest, 70)
	p.Timeout = 1 // second
	keep := h.pending(user, dest, 10)
	start := time.Now()
	h.createTransfers(p, keep)
	// Both held, unless a slow disk took the whole timeout already.
	if got, want := h.balances(user), (balances{debitsPending: 80, creditsPosted: 100}); got != want && time.Since(start) < time.Second {
		t.Errorf("balances right after the holds: got %+v, want %+v", got, want)
	}
	// The hold is released once the timeout passes, without any request.
	deadline := time.Now().Add(8 * time.Second)
	for h.balances(user).debitsPending != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("pending transfer did not expire: %+v", h.balances(user))
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.expectBalances(dest, balances{creditsPending: 10})
	h.expectTransfer(post(p, ledger.AmountMax), ledger.TransferPendingTransferExpired)
	h.expectTransfer(void(p), ledger.TransferPendingTransferExpired)
	h.createTransfers(post(keep, ledger.AmountMax)) // no timeout: never expires
	h.expectBalances(user, balances{debitsPosted: 10, creditsPosted: 100})
}

func testBalancing(t *testing.T, h *harness) {
	user := h.newAccounts(1, ledger.AccountDebitsMustNotExceedCredits)[0]
	dest := h.newAccounts(1, 0)[0]
	h.fund(100, user)
	h.createTransfers(h.transfer(user, dest, 30))
	b := h.transfer(user, dest, 1000)
	b.Flags = ledger.TransferBalancingDebit
	h.createTransfers(b)
	if got := h.lookupTransfer(b.ID); got.Amount != ledger.U128(70) {
		t.Errorf("balancing debit moved %v, want 70", got.Amount)
	}
	h.expectBalances(user, balances{debitsPosted: 100, creditsPosted: 100})
	// A replay with an amount still covering what moved is "exists".
	h.expectTransfer(b, ledger.TransferExists)
	b2 := b
	b2.Amount = ledger.U128(69)
	h.expectTransfer(b2, ledger.TransferExistsWithDifferentAmount)
	// Nothing left: a balancing transfer moves 0, which is allowed.
	z := h.transfer(user, dest, 5)
	z.Flags = ledger.TransferBalancingDebit
	h.createTransfers(z)
	if got := h.lookupTransfer(z.ID); !got.Amount.IsZero() {
		t.Errorf("balancing debit on an empty account moved %v", got.Amount)
	}
	c := h.transfer(dest, user, ledger.AmountMax.Lo)
	c.Amount = ledger.AmountMax
	c.Flags = ledger.TransferBalancingCredit // credit user up to its debits (100) minus credits (100)
	h.createTransfers(c)
	if got := h.lookupTransfer(c.ID); !got.Amount.IsZero() {
		t.Errorf("balancing credit moved %v, want 0", got.Amount)
	}
}

func testClosingAccounts(t *testing.T, h *harness) {
	ids := h.newAccounts(3, 0)
	acct, other, opr := ids[0], ids[1], ids[2]
	h.createTransfers(h.transfer(opr, acct, 50))
	closing := h.pending(acct, opr, 0)
	closing.Flags |= ledger.TransferClosingDebit
	h.createTransfers(closing)
	if got := h.lookupAccount(acct); got.Flags&ledger.AccountClosed == 0 {
		t.Fatalf("closing transfer did not close the account: flags %b", got.Flags)
	}
	h.expectTransfer(h.transfer(acct, other, 1), ledger.TransferDebitAccountAlreadyClosed)
	h.expectTransfer(h.transfer(other, acct, 1), ledger.TransferCreditAccountAlreadyClosed)
	h.expectTransfer(h.pending(other, acct, 1), ledger.TransferCreditAccountAlreadyClosed)
	// Posting the closing transfer is not allowed; voiding it reopens.
	h.expectTransfer(post(closing, ledger.AmountMax), ledger.TransferDebitAccountAlreadyClosed)
	h.createTransfers(void(closing))
	if got := h.lookupAccount(acct); got.Flags&ledger.AccountClosed != 0 {
		t.Fatalf("voiding the closing transfer did not reopen: flags %b", got.Flags)
	}
	h.createTransfers(h.transfer(acct, other, 1))
	h.expectBalances(acct, balances{debitsPosted: 1, creditsPosted: 50})

	t.Run("closing credit", func(t *testing.T) {
		h := h.with(t)
		c := h.pending(other, acct, 0)
		c.Flags |= ledger.TransferClosingCredit
		h.createTransfers(c)
		h.expectTransfer(h.transfer(opr, acct, 1), ledger.TransferCreditAccountAlreadyClosed)
		// Pending transfers into a closed account may still be voided.
		h.createTransfers(void(c))
		h.createTransfers(h.transfer(opr, acct, 1))
	})
}

// testFrozenHolds is what settlement relies on when a user's account is
// frozen (a closing transfer) while holds of theirs are open: an already
// posted hold answers "already posted" to a void (not "already closed"); a
// replayed hold answers "exists"; an ordinary hold may be voided; a post
// refused for the frozen account pins its id, so it stays refused after the
// account is unfrozen.
func testFrozenHolds(t *testing.T, h *harness) {
	ids := h.newAccounts(3, 0)
	acct, dest, opr := ids[0], ids[1], ids[2]
	posted, voided, refused := h.pending(acct, dest, 1), h.pending(acct, dest, 1), h.pending(acct, dest, 1)
	h.createTransfers(posted, voided, refused)
	h.createTransfers(post(posted, ledger.AmountMax))
	freeze := h.pending(acct, opr, 0)
	freeze.Flags |= ledger.TransferClosingDebit
	h.createTransfers(freeze)

	h.expectTransfer(void(posted), ledger.TransferPendingTransferAlreadyPosted)
	h.expectTransfer(voided, ledger.TransferExists)
	postRefused := post(refused, ledger.AmountMax)
	h.expectTransfer(postRefused, ledger.TransferDebitAccountAlreadyClosed)
	h.createTransfers(void(voided))
	h.createTransfers(void(freeze)) // unfreeze
	h.expectTransfer(postRefused, ledger.TransferIDAlreadyFailed)
	h.expectBalances(acct, balances{debitsPending: 1, debitsPosted: 1})
}

// testServiceReliedResults pins results the service's own code reads
// meaning into (actors/transfers accounts.go and resolveHold, the
// settler's id_already_failed), so a ledger that answers them otherwise
// fails here rather than in production.
func testServiceReliedResults(t *testing.T, h *harness) {
	t.Run("recreating a frozen account differs in flags", func(t *testing.T) {
		h := h.with(t)
		acct := h.account(ledger.AccountDebitsMustNotExceedCredits)
		opr := h.newAccounts(1, 0)[0]
		h.createAccounts(acct)
		freeze := h.pending(acct.ID, opr, 0)
		freeze.Flags |= ledger.TransferClosingDebit
		h.createTransfers(freeze)
		// The stored flags carry closed: accounts.go takes this as "exists".
		h.expectAccount(acct, ledger.AccountExistsWithDifferentFlags)
		h.createTransfers(void(freeze))
		h.expectAccount(acct, ledger.AccountExists)
	})
	t.Run("a post before its hold pins the post's id", func(t *testing.T) {
		h := h.with(t)
		ids := h.newAccounts(2, 0)
		p := h.pending(ids[0], ids[1], 5)
		ps := post(p, ledger.AmountMax)
		h.expectTransfer(ps, ledger.TransferPendingTransferNotFound)
		h.createTransfers(p)
		h.expectTransfer(ps, ledger.TransferIDAlreadyFailed)
		h.expectBalances(ids[0], balances{debitsPending: 5})
	})
	t.Run("a hold refused on a closed account pins its id", func(t *testing.T) {
		h := h.with(t)
		ids := h.newAccounts(3, 0)
		acct, dest, opr := ids[0], ids[1], ids[2]
		freeze := h.pending(acct, opr, 0)
		freeze.Flags |= ledger.TransferClosingDebit
		h.createTransfers(freeze)
		hold := h.pending(acct, dest, 1)
		h.expectTransfer(hold, ledger.TransferDebitAccountAlreadyClosed)
		h.createTransfers(void(freeze))
		h.expectTransfer(hold, ledger.TransferIDAlreadyFailed)
		h.expectBalances(acct, balances{})
	})
	t.Run("a hold already posted or voided still answers exists", func(t *testing.T) {
		h := h.with(t)
		ids := h.newAccounts(2, 0)
		posted, voided := h.pending(ids[0], ids[1], 3), h.pending(ids[0], ids[1], 4)
		h.createTransfers(posted, voided)
		h.createTransfers(post(posted, ledger.AmountMax), void(voided))
		h.expectTransfers([]ledger.Transfer{posted, voided}, map[uint32]ledger.CreateTransferResult{
			0: ledger.TransferExists, 1: ledger.TransferExists})
		h.expectBalances(ids[0], balances{debitsPosted: 3})
	})
}
