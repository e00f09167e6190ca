package verify

import (
	"context"
	"fmt"
	"sort"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// accountPagesMax bounds the transfer walk of one account (BatchEventsMax a page).
const accountPagesMax = 10_000

// checkLedgerTransfers walks every transfer touching a listed user's
// accounts: each must be explained — a hold of a known request, the post or
// void of one under its deterministic id, or an operator's deposit,
// withdrawal or freeze. A transfer the store knows nothing about is money
// moved outside the service's rules (or a second ledger transfer for one
// request).
func (c *checker) checkLedgerTransfers(ctx context.Context) error {
	seen := map[ledger.Uint128]bool{}
	ids := make([]ledger.Uint128, 0, len(c.accounts))
	for id := range c.accounts {
		if _, isUser := c.owners[id]; isUser {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Cmp(ids[j]) < 0 })
	for _, id := range ids {
		if err := c.walkAccount(ctx, id, seen); err != nil {
			return err
		}
	}
	c.rep.LedgerTransfers = len(seen)
	return nil
}

func (c *checker) walkAccount(ctx context.Context, account ledger.Uint128, seen map[ledger.Uint128]bool) error {
	filter := ledger.AccountFilter{AccountID: account, Limit: ledger.BatchEventsMax,
		Flags: ledger.FilterDebits | ledger.FilterCredits}
	if c.opts.Grace > 0 {
		// Against a live ledger, a transfer younger than the grace may be
		// the hold of a request created after the histories were read:
		// only what is older is judged, as for the requests.
		filter.TimestampMax = uint64(c.now.Add(-c.opts.Grace).UnixNano())
	}
	for page := 0; page < accountPagesMax; page++ {
		cctx, cancel := c.call(ctx)
		ts, err := c.opts.Ledger.GetAccountTransfers(cctx, filter)
		cancel()
		if err != nil {
			return fmt.Errorf("cannot read the transfers of account %s: %w", account, err)
		}
		for _, t := range ts {
			if !seen[t.ID] {
				seen[t.ID] = true
				c.explain(account, t)
			}
		}
		// Only an empty page ends the walk: a TigerBeetle cluster run with a
		// smaller --limit-request answers fewer than Limit transfers a page
		// even when more follow, so a short page proves nothing.
		if len(ts) == 0 {
			return nil
		}
		last := ts[len(ts)-1].Timestamp
		if filter.TimestampMax != 0 && last >= filter.TimestampMax {
			return nil // nothing later is judged (a next filter would be min > max)
		}
		filter.TimestampMin = last + 1
	}
	return fmt.Errorf("cannot walk the transfers of account %s: more than %d pages", account, accountPagesMax)
}

// explain reports t unless a request or an operator operation accounts for it.
func (c *checker) explain(account ledger.Uint128, t ledger.Transfer) {
	user := c.owners[account]
	stray := func(format string, args ...any) {
		c.rep.add(Violation{Check: "stray-transfer", User: user, RequestID: t.UserData64,
			Detail: fmt.Sprintf("transfer %s (code %d, flags %#x, amount %s): ", t.ID, t.Code, t.Flags, t.Amount) + fmt.Sprintf(format, args...)})
	}
	resolves := t.Flags&(ledger.TransferPostPendingTransfer|ledger.TransferVoidPendingTransfer) != 0
	switch t.Code {
	case ledger.CodeInternalTransfer:
		if resolves {
			req, known := c.holds[t.PendingID]
			switch {
			case !known:
				stray("resolves pending %s, the hold of no request", t.PendingID)
			case t.ID != ledger.PostID(t.PendingID) && t.ID != ledger.VoidID(t.PendingID):
				stray("resolves the hold of request %d under a non-deterministic id", req)
			case t.Flags&ledger.TransferPostPendingTransfer != 0 && t.ID != ledger.PostID(t.PendingID):
				stray("posts the hold of request %d under its void id", req)
			case t.Flags&ledger.TransferVoidPendingTransfer != 0 && t.ID != ledger.VoidID(t.PendingID):
				stray("voids the hold of request %d under its post id", req)
			}
			return
		}
		req, known := c.holds[t.ID]
		switch {
		case !known:
			stray("internal transfer that is the hold of no request")
		case t.Flags&ledger.TransferPending == 0:
			stray("the id of request %d's hold, but not a pending transfer", req)
		case c.requests[req].ID != 0 && t.UserData64 != req:
			stray("hold of request %d carries user_data_64 %d", req, t.UserData64)
		}
	case ledger.CodeManual:
		if _, known := c.holds[t.PendingID]; !resolves || !known {
			stray("manual transfer that resolves no known hold")
		}
	case ledger.CodeDeposit, ledger.CodeWithdrawal, ledger.CodeFreeze:
		// Operator operations: the zero-sum and expectation checks account
		// for their amounts; here, that they run between a user and the
		// operator account of their ledger, as the admin API makes them.
		c.explainOperation(t, resolves, stray)
	default:
		stray("unknown transfer code")
	}
}

// explainOperation reports an operator-coded transfer that is not one the
// admin API makes: a deposit from the operator account of its ledger to a
// user, a withdrawal the other way, a freeze (a pending transfer from a
// user to the operator account) or the void of a freeze under its
// deterministic id.
func (c *checker) explainOperation(t ledger.Transfer, resolves bool, stray func(format string, args ...any)) {
	op := ledger.OperatorAccountID(t.Ledger)
	debitOwner, debitUser := c.owners[t.DebitAccountID]
	creditOwner, creditUser := c.owners[t.CreditAccountID]
	switch {
	case resolves:
		if t.Code != ledger.CodeFreeze || t.Flags&ledger.TransferVoidPendingTransfer == 0 || t.ID != ledger.VoidID(t.PendingID) {
			stray("resolves pending %s, which only the void of a freeze may", t.PendingID)
		}
	case t.Code == ledger.CodeDeposit && (t.DebitAccountID != op || !creditUser):
		stray("a deposit not from the operator account of ledger %d to a user", t.Ledger)
	case t.Code == ledger.CodeWithdrawal && (t.CreditAccountID != op || !debitUser):
		stray("a withdrawal not from a user to the operator account of ledger %d", t.Ledger)
	case t.Code == ledger.CodeFreeze && (t.CreditAccountID != op || !debitUser || t.Flags&ledger.TransferPending == 0):
		stray("a freeze that is not a pending transfer from a user to the operator account of ledger %d", t.Ledger)
	// A deposit or withdrawal moves its amount at once; a freeze holds
	// nothing, never times out and closes the account. Any other shape
	// would hold user funds that no request and no freeze explains.
	case (t.Code == ledger.CodeDeposit || t.Code == ledger.CodeWithdrawal) && t.Flags != 0:
		stray("an operator operation with flags %#x; the admin API sets none", t.Flags)
	case t.Code == ledger.CodeFreeze && (t.Flags != ledger.TransferPending|ledger.TransferClosingDebit || !t.Amount.IsZero() || t.Timeout != 0):
		stray("a freeze with flags %#x, amount %s, timeout %d; the admin API makes a closing pending transfer of 0 that never times out", t.Flags, t.Amount, t.Timeout)
	// The admin API names the user in user_data: an operation for one user
	// that moved another's money is not one it makes.
	case t.Code == ledger.CodeDeposit && creditOwner != t.UserData64:
		stray("a deposit for user %d credited to user %d's account", t.UserData64, creditOwner)
	case (t.Code == ledger.CodeWithdrawal || t.Code == ledger.CodeFreeze) && debitOwner != t.UserData64:
		stray("an operation for user %d that debits user %d's account", t.UserData64, debitOwner)
	}
}

// sortByID orders requests by id.
func sortByID(rs []store.Request) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
}
