package ledgertest

import (
	"testing"

	"github.com/exchange/internal-transfer/ledger"
)

func testCreateAccounts(t *testing.T, h *harness) {
	a := h.account(ledger.AccountDebitsMustNotExceedCredits | ledger.AccountHistory)
	a.UserData128, a.UserData64, a.UserData32 = ledger.Uint128{Lo: 1, Hi: 2}, 3, 4
	h.createAccounts(a)
	got := h.lookupAccount(a.ID)
	if got.Timestamp == 0 {
		t.Error("created account has no timestamp")
	}
	want := a
	want.Timestamp = got.Timestamp
	if got != want {
		t.Errorf("lookup: got %+v, want %+v", got, want)
	}

	cases := []struct {
		name   string
		mutate func(a *ledger.Account)
		want   ledger.CreateAccountResult
	}{
		{"timestamp", func(a *ledger.Account) { a.Timestamp = 1 }, ledger.AccountTimestampMustBeZero},
		{"reserved field", func(a *ledger.Account) { a.Reserved = 1 }, ledger.AccountReservedField},
		{"reserved flag", func(a *ledger.Account) { a.Flags = 1 << 15 }, ledger.AccountReservedFlag},
		{"id zero", func(a *ledger.Account) { a.ID = ledger.Uint128{} }, ledger.AccountIDMustNotBeZero},
		{"id int max", func(a *ledger.Account) { a.ID = ledger.AmountMax }, ledger.AccountIDMustNotBeIntMax},
		{"exclusive flags", func(a *ledger.Account) {
			a.Flags = ledger.AccountDebitsMustNotExceedCredits | ledger.AccountCreditsMustNotExceedDebits
		}, ledger.AccountFlagsAreMutuallyExclusive},
		{"debits pending", func(a *ledger.Account) { a.DebitsPending = ledger.U128(1) }, ledger.AccountDebitsPendingMustBeZero},
		{"debits posted", func(a *ledger.Account) { a.DebitsPosted = ledger.U128(1) }, ledger.AccountDebitsPostedMustBeZero},
		{"credits pending", func(a *ledger.Account) { a.CreditsPending = ledger.U128(1) }, ledger.AccountCreditsPendingMustBeZero},
		{"credits posted", func(a *ledger.Account) { a.CreditsPosted = ledger.U128(1) }, ledger.AccountCreditsPostedMustBeZero},
		{"ledger zero", func(a *ledger.Account) { a.Ledger = 0 }, ledger.AccountLedgerMustNotBeZero},
		{"code zero", func(a *ledger.Account) { a.Code = 0 }, ledger.AccountCodeMustNotBeZero},
		// Order of checks: the reserved field comes before the id.
		{"reserved before id", func(a *ledger.Account) { a.Reserved, a.ID = 1, ledger.Uint128{} }, ledger.AccountReservedField},
		// Balances before ledger and code.
		{"balances before ledger", func(a *ledger.Account) { a.CreditsPosted, a.Ledger = ledger.U128(1), 0 }, ledger.AccountCreditsPostedMustBeZero},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			a := h.account(0)
			c.mutate(&a)
			h.expectAccount(a, c.want)
			if !a.ID.IsZero() && !a.ID.IsMax() {
				if got, err := h.l.LookupAccounts(h.ctx(), []ledger.Uint128{a.ID}); err != nil || len(got) != 0 {
					t.Errorf("invalid account was stored: %v %v", got, err)
				}
			}
		})
	}
}

func testAccountExists(t *testing.T, h *harness) {
	a := h.account(ledger.AccountDebitsMustNotExceedCredits)
	a.UserData128, a.UserData64, a.UserData32 = ledger.U128(5), 6, 7
	h.createAccounts(a)
	cases := []struct {
		name   string
		mutate func(a *ledger.Account)
		want   ledger.CreateAccountResult
	}{
		{"same", func(*ledger.Account) {}, ledger.AccountExists},
		{"flags", func(a *ledger.Account) { a.Flags = ledger.AccountCreditsMustNotExceedDebits }, ledger.AccountExistsWithDifferentFlags},
		{"user data 128", func(a *ledger.Account) { a.UserData128 = ledger.U128(9) }, ledger.AccountExistsWithDifferentUserData128},
		{"user data 64", func(a *ledger.Account) { a.UserData64 = 9 }, ledger.AccountExistsWithDifferentUserData64},
		{"user data 32", func(a *ledger.Account) { a.UserData32 = 9 }, ledger.AccountExistsWithDifferentUserData32},
		{"ledger", func(a *ledger.Account) { a.Ledger++ }, ledger.AccountExistsWithDifferentLedger},
		{"code", func(a *ledger.Account) { a.Code++ }, ledger.AccountExistsWithDifferentCode},
		// The exists check comes before the balance and ledger checks.
		{"exists before balances", func(a *ledger.Account) { a.DebitsPosted = ledger.U128(1) }, ledger.AccountExists},
		{"flags before user data", func(a *ledger.Account) { a.Flags, a.UserData64 = 0, 1 }, ledger.AccountExistsWithDifferentFlags},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			b := a
			c.mutate(&b)
			h.expectAccount(b, c.want)
		})
	}
	if got := h.lookupAccount(a.ID); got.UserData64 != 6 || got.Flags != a.Flags {
		t.Errorf("a replay changed the account: %+v", got)
	}
}

func testLinkedAccounts(t *testing.T, h *harness) {
	t.Run("all or nothing", func(t *testing.T) {
		h := h.with(t)
		a, b, c := h.account(ledger.AccountLinked), h.account(ledger.AccountLinked), h.account(0)
		c.Code = 0 // breaks the chain
		res, err := h.l.CreateAccounts(h.ctx(), []ledger.Account{a, b, c})
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.AccountEventResult{
			{Index: 0, Result: ledger.AccountLinkedEventFailed},
			{Index: 1, Result: ledger.AccountLinkedEventFailed},
			{Index: 2, Result: ledger.AccountCodeMustNotBeZero},
		}
		if !equalAccountResults(res, want) {
			t.Errorf("results %v, want %v", res, want)
		}
		got, err := h.l.LookupAccounts(h.ctx(), []ledger.Uint128{a.ID, b.ID})
		if err != nil || len(got) != 0 {
			t.Errorf("a failed chain left accounts: %v %v", got, err)
		}
	})
	t.Run("chain open", func(t *testing.T) {
		h := h.with(t)
		a, b := h.account(0), h.account(ledger.AccountLinked)
		res, err := h.l.CreateAccounts(h.ctx(), []ledger.Account{a, b})
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.AccountEventResult{{Index: 1, Result: ledger.AccountLinkedEventChainOpen}}
		if !equalAccountResults(res, want) {
			t.Errorf("results %v, want %v", res, want)
		}
		h.lookupAccount(a.ID) // the unlinked event before the open chain stands
	})
	t.Run("chains succeed together", func(t *testing.T) {
		h := h.with(t)
		a, b, c := h.account(ledger.AccountLinked), h.account(0), h.account(0)
		h.createAccounts(a, b, c)
		for _, id := range []ledger.Uint128{a.ID, b.ID, c.ID} {
			h.lookupAccount(id)
		}
	})
	t.Run("duplicate inside chain", func(t *testing.T) {
		h := h.with(t)
		a := h.account(ledger.AccountLinked)
		b := a
		b.Flags = 0
		res, err := h.l.CreateAccounts(h.ctx(), []ledger.Account{a, b})
		if err != nil {
			t.Fatal(err)
		}
		// b sees a (created earlier in the chain) with other flags; the chain fails.
		want := []ledger.AccountEventResult{
			{Index: 0, Result: ledger.AccountLinkedEventFailed},
			{Index: 1, Result: ledger.AccountExistsWithDifferentFlags},
		}
		if !equalAccountResults(res, want) {
			t.Errorf("results %v, want %v", res, want)
		}
	})
}

func equalAccountResults(a, b []ledger.AccountEventResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
