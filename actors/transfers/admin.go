package transfers

import (
	"context"
	"fmt"
	"strconv"

	"github.com/exchange/internal-transfer/ledger"
)

// freezeGenerationsMax bounds how many times one account can be frozen; each
// freeze is a new pending closing transfer, each unfreeze voids it.
const freezeGenerationsMax = 256

// Admin is the operator's side of the ledger: deposits and withdrawals
// against the per-asset operator accounts, and freezing accounts.
type Admin struct {
	ledger  ledger.Ledger
	catalog *Catalog
	retry   func(error) error
}

// NewAdmin returns the admin operations over l (the batcher).
func NewAdmin(l ledger.Ledger, c *Catalog, svc *Service) *Admin {
	return &Admin{ledger: l, catalog: c, retry: svc.retryable}
}

func (a *Admin) accounts(ctx context.Context, user uint64, accountType, asset string) (userAcct ledger.Uint128, operator ledger.Uint128, assetLedger uint32, err error) {
	id, err := a.catalog.AccountID(user, accountType, asset)
	if err != nil {
		return ledger.Uint128{}, ledger.Uint128{}, 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	as, _ := a.catalog.Asset(asset)
	if err := ensureUserAccounts(ctx, a.ledger, a.catalog, user); err != nil {
		tbErrors.Inc()
		return ledger.Uint128{}, ledger.Uint128{}, 0, a.retry(ErrUnavailable)
	}
	return id, ledger.OperatorAccountID(as.Ledger), as.Ledger, nil
}

// Deposit credits user's account from the operator account. key makes the
// deposit idempotent; without one each call is a new deposit.
func (a *Admin) Deposit(ctx context.Context, user uint64, accountType, asset string, amount uint64, key string) error {
	return a.move(ctx, "deposit", user, accountType, asset, amount, key, true)
}

// Withdraw debits user's account to the operator account; the ledger refuses
// it when the available balance is short.
func (a *Admin) Withdraw(ctx context.Context, user uint64, accountType, asset string, amount uint64, key string) error {
	return a.move(ctx, "withdraw", user, accountType, asset, amount, key, false)
}

func (a *Admin) move(ctx context.Context, kind string, user uint64, accountType, asset string, amount uint64, key string, deposit bool) error {
	acct, op, lg, err := a.accounts(ctx, user, accountType, asset)
	if err != nil {
		return err
	}
	if amount == 0 {
		return fmt.Errorf("%w: amount must be positive", ErrInvalid)
	}
	if key == "" {
		key = NewOperationKey()
	}
	t := ledger.Transfer{
		ID:     ledger.OperationID(kind, strconv.FormatUint(user, 10)+"/"+key),
		Amount: ledger.U128(amount), UserData64: user, Ledger: lg,
		DebitAccountID: acct, CreditAccountID: op, Code: ledger.CodeWithdrawal,
	}
	if deposit {
		t.DebitAccountID, t.CreditAccountID, t.Code = op, acct, ledger.CodeDeposit
	}
	results, err := a.ledger.CreateTransfers(ctx, []ledger.Transfer{t})
	if err != nil {
		tbErrors.Inc()
		return a.retry(ErrOutcomeUnknown) // a timed-out call may have been applied
	}
	if len(results) == 0 {
		return nil
	}
	switch r := results[0].Result; r {
	case ledger.TransferExists:
		return nil
	case ledger.TransferExceedsCredits:
		return ErrInsufficientBalance
	case ledger.TransferIDAlreadyFailed:
		// Refused before (a frozen account, a short balance): the answer
		// to the first try said why; the accounts may have changed since.
		return ErrKeyRefused
	case ledger.TransferDebitAccountAlreadyClosed, ledger.TransferCreditAccountAlreadyClosed:
		return ErrAccountFrozen
	default:
		if r.ExistsWithDifferent() {
			return ErrIdempotencyConflict
		}
		return fmt.Errorf("%w: %s", errOperation, r)
	}
}

func freezeID(acct ledger.Uint128, generation int) ledger.Uint128 {
	return ledger.OperationID("freeze", acct.String()+"/"+strconv.Itoa(generation))
}

// freezeState finds the account's freeze transfers: the first unused
// generation and the newest freeze that has not been voided (-1 if none).
func (a *Admin) freezeState(ctx context.Context, acct ledger.Uint128) (next, open int, err error) {
	ids := make([]ledger.Uint128, 0, 2*freezeGenerationsMax)
	for g := 0; g < freezeGenerationsMax; g++ {
		f := freezeID(acct, g)
		ids = append(ids, f, ledger.VoidID(f))
	}
	found, err := a.ledger.LookupTransfers(ctx, ids)
	if err != nil {
		tbErrors.Inc()
		return 0, 0, a.retry(ErrUnavailable)
	}
	exists := make(map[ledger.Uint128]bool, len(found))
	for _, t := range found {
		exists[t.ID] = true
	}
	next, open = freezeGenerationsMax, -1
	for g := 0; g < freezeGenerationsMax; g++ {
		f := freezeID(acct, g)
		if !exists[f] {
			next = g
			break
		}
		if !exists[ledger.VoidID(f)] {
			open = g
		}
	}
	return next, open, nil
}

// Freeze closes user's account with a pending closing transfer: the ledger
// then refuses every transfer touching it until Unfreeze voids that hold.
// Freezing a frozen account changes nothing.
func (a *Admin) Freeze(ctx context.Context, user uint64, accountType, asset string) error {
	acct, op, lg, err := a.accounts(ctx, user, accountType, asset)
	if err != nil {
		return err
	}
	next, open, err := a.freezeState(ctx, acct)
	if err != nil || open >= 0 {
		return err
	}
	if next >= freezeGenerationsMax {
		return fmt.Errorf("%w: account was frozen %d times; no generations left", errOperation, freezeGenerationsMax)
	}
	t := ledger.Transfer{ID: freezeID(acct, next), DebitAccountID: acct, CreditAccountID: op,
		UserData64: user, Ledger: lg, Code: ledger.CodeFreeze,
		Flags: ledger.TransferPending | ledger.TransferClosingDebit}
	return a.apply(ctx, t)
}

// Unfreeze voids the account's open freeze. Unfreezing an account that is
// not frozen changes nothing.
func (a *Admin) Unfreeze(ctx context.Context, user uint64, accountType, asset string) error {
	acct, _, lg, err := a.accounts(ctx, user, accountType, asset)
	if err != nil {
		return err
	}
	_, open, err := a.freezeState(ctx, acct)
	if err != nil || open < 0 {
		return err
	}
	f := freezeID(acct, open)
	t := ledger.Transfer{ID: ledger.VoidID(f), PendingID: f, UserData64: user, Ledger: lg,
		Code: ledger.CodeFreeze, Flags: ledger.TransferVoidPendingTransfer}
	return a.apply(ctx, t)
}

// apply creates a freeze or its void. A failed call may still have been
// applied (a timed-out TigerBeetle request can land later), so it is an
// unknown outcome, not "nothing happened": the same call again, whose ids
// are the same, learns it.
func (a *Admin) apply(ctx context.Context, t ledger.Transfer) error {
	results, err := a.ledger.CreateTransfers(ctx, []ledger.Transfer{t})
	if err != nil {
		tbErrors.Inc()
		return a.retry(ErrOutcomeUnknown)
	}
	if len(results) > 0 && results[0].Result != ledger.TransferExists {
		return fmt.Errorf("%w: %s", errOperation, results[0].Result)
	}
	return nil
}

// Balances returns user's balances (the admin view of the same data).
func (a *Admin) Balances(ctx context.Context, user uint64) ([]Balance, error) {
	return balances(ctx, a.ledger, a.catalog, user, a.retry)
}
