package verify

import (
	"context"
	"fmt"
	"math/big"

	"github.com/exchange/internal-transfer/ledger"
)

// lookupAccounts reads the accounts of ids in batches of BatchEventsMax.
func (c *checker) lookupAccounts(ctx context.Context, ids []ledger.Uint128) ([]ledger.Account, error) {
	var out []ledger.Account
	for len(ids) > 0 {
		n := min(len(ids), ledger.BatchEventsMax)
		cctx, cancel := c.call(ctx)
		found, err := c.opts.Ledger.LookupAccounts(cctx, ids[:n])
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cannot look up accounts: %w", err)
		}
		out = append(out, found...)
		ids = ids[n:]
	}
	return out, nil
}

// checkBalances: per asset the listed users' accounts and the operator
// account sum to zero, posted and pending; no user account is negative.
func (c *checker) checkBalances(ctx context.Context) error {
	for _, asset := range c.opts.Catalog.Assets() {
		ids := []ledger.Uint128{ledger.OperatorAccountID(asset.Ledger)}
		for _, u := range c.sortedUsers() {
			for _, t := range c.opts.Catalog.AccountTypes() {
				id := ledger.UserAccountID(u, t.Code, asset.Ledger)
				ids = append(ids, id)
				c.owners[id] = u
			}
		}
		found, err := c.lookupAccounts(ctx, ids)
		if err != nil {
			return err
		}
		posted, pending := new(big.Int), new(big.Int)
		for _, a := range found {
			c.accounts[a.ID] = a
			c.rep.Accounts++
			if a.Ledger != asset.Ledger {
				c.rep.add(Violation{Check: "account-ledger", User: c.owners[a.ID],
					Detail: fmt.Sprintf("account %s of %s is on ledger %d", a.ID, asset.Name, a.Ledger)})
			}
			posted.Add(posted, a.CreditsPosted.BigInt()).Sub(posted, a.DebitsPosted.BigInt())
			pending.Add(pending, a.CreditsPending.BigInt()).Sub(pending, a.DebitsPending.BigInt())
			if u, isUser := c.owners[a.ID]; isUser {
				c.userAccounts++
				c.checkNotNegative(u, asset.Name, a)
			}
		}
		if posted.Sign() != 0 {
			c.rep.add(Violation{Check: "sum-posted", Detail: fmt.Sprintf("%s: credits_posted - debits_posted over users and operator = %s, want 0", asset.Name, posted)})
		}
		if pending.Sign() != 0 {
			c.rep.add(Violation{Check: "sum-pending", Detail: fmt.Sprintf("%s: credits_pending - debits_pending over users and operator = %s, want 0", asset.Name, pending)})
		}
	}
	return nil
}

// checkNotNegative: debits (posted, and posted plus pending — what
// debits_must_not_exceed_credits promises) never exceed posted credits.
func (c *checker) checkNotNegative(user uint64, asset string, a ledger.Account) {
	if a.Flags&ledger.AccountDebitsMustNotExceedCredits == 0 {
		c.rep.add(Violation{Check: "account-flags", User: user,
			Detail: fmt.Sprintf("%s account %s lacks debits_must_not_exceed_credits (flags %#x)", asset, a.ID, a.Flags)})
	}
	debits, overflow := a.DebitsPosted.Add(a.DebitsPending)
	if overflow || debits.Cmp(a.CreditsPosted) > 0 {
		c.rep.add(Violation{Check: "negative-balance", User: user,
			Detail: fmt.Sprintf("%s account %s: debits posted %s + pending %s exceed credits posted %s",
				asset, a.ID, a.DebitsPosted, a.DebitsPending, a.CreditsPosted)})
	}
}

// balanceOf is credits_posted - debits_posted of an account (zero when the
// account does not exist).
func (c *checker) balanceOf(id ledger.Uint128) (posted, pending *big.Int) {
	a, ok := c.accounts[id]
	if !ok {
		return new(big.Int), new(big.Int)
	}
	posted = new(big.Int).Sub(a.CreditsPosted.BigInt(), a.DebitsPosted.BigInt())
	pending = new(big.Int).Add(a.CreditsPending.BigInt(), a.DebitsPending.BigInt())
	return posted, pending
}
