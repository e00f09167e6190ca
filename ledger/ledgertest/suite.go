// Package ledgertest is the conformance suite of ledger.Ledger: TigerBeetle
// 0.16's behaviour as this service relies on it. It runs against the
// embedded engine always and against a real TigerBeetle cluster when one is
// configured, so it never assumes an empty ledger or absolute timestamps:
// every run uses fresh random ids (crypto/rand) and a random ledger number,
// and every call carries a deadline.
package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// callTimeout bounds every ledger call of the suite.
const callTimeout = 10 * time.Second

// Run runs the whole suite. open returns a ledger for one top-level case; it
// may return the same cluster every time (cases never assume it is empty)
// and should register its own cleanup.
func Run(t *testing.T, open func(t *testing.T) ledger.Ledger) {
	cases := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"CreateAccounts", testCreateAccounts},
		{"AccountExists", testAccountExists},
		{"LinkedAccounts", testLinkedAccounts},
		{"TransferValidation", testTransferValidation},
		{"SinglePhase", testSinglePhase},
		{"TransferExists", testTransferExists},
		{"BalanceLimits", testBalanceLimits},
		{"IDAlreadyFailed", testIDAlreadyFailed},
		{"LinkedTransfers", testLinkedTransfers},
		{"TwoPhase", testTwoPhase},
		{"PostVoidValidation", testPostVoidValidation},
		{"PostVoidExists", testPostVoidExists},
		{"PendingExpiry", testPendingExpiry},
		{"Balancing", testBalancing},
		{"ClosingAccounts", testClosingAccounts},
		{"FrozenHolds", testFrozenHolds},
		{"ServiceReliedResults", testServiceReliedResults},
		{"ConcurrentOverdraw", testConcurrentOverdraw},
		{"Lookups", testLookups},
		{"GetAccountTransfers", testGetAccountTransfers},
		{"BatchLimits", testBatchLimits},
		{"Timestamps", testTimestamps},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := open(t)
			c.fn(t, &harness{t: t, l: l, ledger: randLedger()})
		})
	}
}

// harness wraps one ledger for one case.
type harness struct {
	t      *testing.T
	l      ledger.Ledger
	ledger uint32 // this case's ledger number
}

// with returns h bound to t, a subtest of h's test: the harness's checks
// must fail, and its cleanups run, through the test that calls them (a
// subtest calling its parent's Fatalf is itself an error).
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// ctx returns a context bounded by callTimeout.
func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	h.t.Cleanup(cancel)
	return ctx
}

// ID returns a fresh random id, never 0 or 2^128-1.
func ID() ledger.Uint128 {
	var b [16]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("BUG: crypto/rand failed: " + err.Error())
		}
		id := ledger.Uint128FromBytes(b)
		if !id.IsZero() && !id.IsMax() {
			return id
		}
	}
}

// randLedger returns a random ledger number, so runs against one shared
// cluster do not meet each other's accounts.
func randLedger() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return 1000 + binary.LittleEndian.Uint32(b[:])%(1<<30)
}

// account returns a valid new account on the case's ledger.
func (h *harness) account(flags uint16) ledger.Account {
	return ledger.Account{ID: ID(), Ledger: h.ledger, Code: 10, Flags: flags}
}

// createAccounts creates accounts and fails the test on any result.
func (h *harness) createAccounts(accounts ...ledger.Account) {
	h.t.Helper()
	res, err := h.l.CreateAccounts(h.ctx(), accounts)
	if err != nil {
		h.t.Fatalf("CreateAccounts: %v", err)
	}
	if len(res) != 0 {
		h.t.Fatalf("CreateAccounts: unexpected results %v", res)
	}
}

// newAccounts creates n accounts with flags and returns their ids.
func (h *harness) newAccounts(n int, flags uint16) []ledger.Uint128 {
	h.t.Helper()
	accounts := make([]ledger.Account, n)
	ids := make([]ledger.Uint128, n)
	for i := range accounts {
		accounts[i] = h.account(flags)
		ids[i] = accounts[i].ID
	}
	h.createAccounts(accounts...)
	return ids
}

// transfer returns a valid single-phase transfer of amount from dr to cr.
func (h *harness) transfer(dr, cr ledger.Uint128, amount uint64) ledger.Transfer {
	return ledger.Transfer{ID: ID(), DebitAccountID: dr, CreditAccountID: cr, Amount: ledger.U128(amount), Ledger: h.ledger, Code: 20}
}

// createTransfers creates transfers and fails the test on any result.
func (h *harness) createTransfers(transfers ...ledger.Transfer) {
	h.t.Helper()
	h.expectTransfers(transfers, nil)
}

// expectTransfers creates transfers and checks the results are exactly want
// (event index → result; events not in want must succeed).
func (h *harness) expectTransfers(transfers []ledger.Transfer, want map[uint32]ledger.CreateTransferResult) {
	h.t.Helper()
	res, err := h.l.CreateTransfers(h.ctx(), transfers)
	if err != nil {
		h.t.Fatalf("CreateTransfers: %v", err)
	}
	got := make(map[uint32]ledger.CreateTransferResult, len(res))
	for _, r := range res {
		got[r.Index] = r.Result
	}
	for i := range transfers {
		if got[uint32(i)] != want[uint32(i)] {
			h.t.Errorf("transfer %d: got %v, want %v", i, got[uint32(i)], want[uint32(i)])
		}
	}
	if len(got) != len(want) {
		h.t.Errorf("CreateTransfers results %v, want %v", got, want)
	}
}

// expectTransfer creates one transfer and checks its result.
func (h *harness) expectTransfer(tr ledger.Transfer, want ledger.CreateTransferResult) {
	h.t.Helper()
	w := map[uint32]ledger.CreateTransferResult{}
	if want != ledger.TransferOK {
		w[0] = want
	}
	h.expectTransfers([]ledger.Transfer{tr}, w)
}

// expectAccount creates one account and checks its result.
func (h *harness) expectAccount(a ledger.Account, want ledger.CreateAccountResult) {
	h.t.Helper()
	res, err := h.l.CreateAccounts(h.ctx(), []ledger.Account{a})
	if err != nil {
		h.t.Fatalf("CreateAccounts: %v", err)
	}
	got := ledger.AccountOK
	if len(res) == 1 && res[0].Index == 0 {
		got = res[0].Result
	} else if len(res) != 0 {
		h.t.Fatalf("CreateAccounts: malformed results %v", res)
	}
	if got != want {
		h.t.Errorf("create account: got %v, want %v", got, want)
	}
}

// lookupAccount returns the account with id, failing the test if missing.
func (h *harness) lookupAccount(id ledger.Uint128) ledger.Account {
	h.t.Helper()
	got, err := h.l.LookupAccounts(h.ctx(), []ledger.Uint128{id})
	if err != nil {
		h.t.Fatalf("LookupAccounts: %v", err)
	}
	if len(got) != 1 || got[0].ID != id {
		h.t.Fatalf("LookupAccounts(%v) = %v, want the account", id, got)
	}
	return got[0]
}

// lookupTransfer returns the transfer with id, failing the test if missing.
func (h *harness) lookupTransfer(id ledger.Uint128) ledger.Transfer {
	h.t.Helper()
	got, err := h.l.LookupTransfers(h.ctx(), []ledger.Uint128{id})
	if err != nil {
		h.t.Fatalf("LookupTransfers: %v", err)
	}
	if len(got) != 1 || got[0].ID != id {
		h.t.Fatalf("LookupTransfers(%v) = %v, want the transfer", id, got)
	}
	return got[0]
}

// balances is an account's four balances, as plain numbers for comparisons.
type balances struct{ debitsPending, debitsPosted, creditsPending, creditsPosted uint64 }

func (h *harness) balances(id ledger.Uint128) balances {
	h.t.Helper()
	a := h.lookupAccount(id)
	return balances{a.DebitsPending.Lo, a.DebitsPosted.Lo, a.CreditsPending.Lo, a.CreditsPosted.Lo}
}

// expectBalances checks an account's balances.
func (h *harness) expectBalances(id ledger.Uint128, want balances) {
	h.t.Helper()
	if got := h.balances(id); got != want {
		h.t.Errorf("balances of %v: got %+v, want %+v", id, got, want)
	}
}

// fund credits amount to each account from a fresh source account.
func (h *harness) fund(amount uint64, ids ...ledger.Uint128) {
	h.t.Helper()
	src := h.newAccounts(1, 0)[0]
	transfers := make([]ledger.Transfer, len(ids))
	for i, id := range ids {
		transfers[i] = h.transfer(src, id, amount)
	}
	h.createTransfers(transfers...)
}
