package transfers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/exchange/internal-transfer/ledger"
)

// userAccounts lists user's ledger accounts, one per (account type, asset),
// in a stable order. User accounts may never go below zero: TigerBeetle's
// debits_must_not_exceed_credits makes the ledger refuse overdrafts.
func userAccounts(c *Catalog, user uint64) []ledger.Account {
	types, assets := c.AccountTypes(), c.Assets()
	sort.Slice(types, func(i, j int) bool { return types[i].Code < types[j].Code })
	sort.Slice(assets, func(i, j int) bool { return assets[i].Ledger < assets[j].Ledger })
	out := make([]ledger.Account, 0, len(types)*len(assets))
	for _, t := range types {
		for _, a := range assets {
			out = append(out, ledger.Account{
				ID:         ledger.UserAccountID(user, t.Code, a.Ledger),
				UserData64: user,
				UserData32: uint32(t.Code),
				Ledger:     a.Ledger,
				Code:       ledger.CodeUserAccount,
				Flags:      ledger.AccountDebitsMustNotExceedCredits | ledger.AccountHistory,
			})
		}
	}
	return out
}

// operatorAccounts lists the per-asset operator accounts deposits and
// withdrawals move against; they carry no limit, so each asset sums to zero.
func operatorAccounts(c *Catalog) []ledger.Account {
	out := make([]ledger.Account, 0, len(c.assets))
	for _, a := range c.Assets() {
		out = append(out, ledger.Account{ID: ledger.OperatorAccountID(a.Ledger), Ledger: a.Ledger, Code: ledger.CodeOperatorAccount})
	}
	return out
}

// createAccounts creates accounts; "exists" counts as success, and so does
// exists_with_different_flags when the only difference is the closed flag a
// freeze sets. Any other refusal is an error: our definitions never change.
func createAccounts(ctx context.Context, l ledger.Ledger, accounts []ledger.Account) error {
	results, err := l.CreateAccounts(ctx, accounts)
	if err != nil {
		return fmt.Errorf("cannot create accounts: %w", err)
	}
	for _, r := range results {
		switch r.Result {
		case ledger.AccountOK, ledger.AccountExists:
		case ledger.AccountExistsWithDifferentFlags:
			want := accounts[r.Index]
			found, err := l.LookupAccounts(ctx, []ledger.Uint128{want.ID})
			if err != nil {
				return fmt.Errorf("cannot look up account %s: %w", want.ID, err)
			}
			if len(found) != 1 || found[0].Flags&^ledger.AccountClosed != want.Flags {
				return fmt.Errorf("cannot create account %s: %s", want.ID, r.Result)
			}
		default:
			return fmt.Errorf("cannot create account %s: %s", accounts[r.Index].ID, r.Result)
		}
	}
	return nil
}

// ensureUserAccounts makes sure every ledger account of user exists.
func ensureUserAccounts(ctx context.Context, l ledger.Ledger, c *Catalog, user uint64) error {
	want := userAccounts(c, user)
	// Look first: a returning user's accounts all exist, and a lookup is a
	// read where a create is a ledger write (an fsync) for nothing. Only
	// the missing ones, or ones that look wrong, go to createAccounts,
	// which decides what a difference means.
	byID, err := lookupAccounts(ctx, l, want)
	if err != nil {
		return createAccounts(ctx, l, want)
	}
	missing := want[:0:0]
	for _, w := range want {
		if a, ok := byID[w.ID]; !ok || !sameAccount(a, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return createAccounts(ctx, l, missing)
}

// lookupAccounts reads the accounts of want from the ledger, by id; the
// ones not created yet are absent.
func lookupAccounts(ctx context.Context, l ledger.Ledger, want []ledger.Account) (map[ledger.Uint128]ledger.Account, error) {
	ids := make([]ledger.Uint128, len(want))
	for i, a := range want {
		ids[i] = a.ID
	}
	found, err := l.LookupAccounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[ledger.Uint128]ledger.Account, len(found))
	for _, a := range found {
		byID[a.ID] = a
	}
	return byID, nil
}

// sameAccount reports whether found is the account want defines; the
// closed flag a freeze sets is not a difference.
func sameAccount(found, want ledger.Account) bool {
	return found.Ledger == want.Ledger && found.Code == want.Code && found.UserData64 == want.UserData64 &&
		found.UserData32 == want.UserData32 && found.Flags&^ledger.AccountClosed == want.Flags
}

// EnsureOperatorAccounts creates the operator accounts of every asset.
func EnsureOperatorAccounts(ctx context.Context, l ledger.Ledger, c *Catalog) error {
	return createAccounts(ctx, l, operatorAccounts(c))
}

// balances reads user's accounts from the ledger. Accounts not created yet
// read as zero.
func balances(ctx context.Context, l ledger.Ledger, c *Catalog, user uint64, retryable func(error) error) ([]Balance, error) {
	want := userAccounts(c, user)
	byID, err := lookupAccounts(ctx, l, want)
	if err != nil {
		tbErrors.Inc()
		return nil, retryable(ErrUnavailable)
	}
	typeName := map[uint16]string{}
	for _, t := range c.AccountTypes() {
		typeName[t.Code] = t.Name
	}
	assetName := map[uint32]string{}
	for _, a := range c.Assets() {
		assetName[a.Ledger] = a.Name
	}
	out := make([]Balance, 0, len(want))
	for _, w := range want {
		b := Balance{AccountType: typeName[uint16(w.UserData32)], Asset: assetName[w.Ledger]}
		if a, ok := byID[w.ID]; ok {
			b.Held, b.Incoming = a.DebitsPending, a.CreditsPending
			avail, borrow := a.CreditsPosted.Sub(a.DebitsPosted)
			avail, borrow2 := avail.Sub(a.DebitsPending)
			if borrow || borrow2 {
				panic(fmt.Sprintf("BUG: account %s is below zero despite debits_must_not_exceed_credits", a.ID))
			}
			b.Available = avail
			b.Frozen = a.Flags&ledger.AccountClosed != 0
		}
		out = append(out, b)
	}
	return out, nil
}

// NewOperationKey is a random key for an admin operation the operator gave
// no key for (32 hex digits).
func NewOperationKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("BUG: crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

var errOperation = errors.New("ledger refused the operation")
