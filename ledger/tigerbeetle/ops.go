package tigerbeetle

import (
	"context"
	"fmt"

	tb "github.com/tigerbeetle/tigerbeetle-go"
	"github.com/tigerbeetle/tigerbeetle-go/pkg/types"

	"github.com/exchange/internal-transfer/ledger"
)

// The five requests this service makes. Each checks what TigerBeetle would
// refuse without a per-event result (batch size, filter), converts in place,
// and runs under call's deadline and slot accounting.

// CreateAccounts creates accounts as one batch and returns the results of the
// events that did not succeed (AccountExists among them: that is success on a
// retry). See Ledger for who owns the batch memory.
func (l *Ledger) CreateAccounts(ctx context.Context, accounts []ledger.Account) ([]ledger.AccountEventResult, error) {
	const what = "create accounts"
	if err := checkBatch(what, len(accounts)); err != nil {
		return nil, err
	}
	events := tbAccounts(accounts)
	res, err := call(l, ctx, what, func(c tb.Client) ([]types.AccountEventResult, error) {
		return c.CreateAccounts(events)
	})
	if err != nil {
		return nil, err
	}
	return fromTBAccountResults(res), nil
}

// CreateTransfers creates transfers as one batch and returns the results of
// the events that did not succeed (TransferExists among them: that is success
// on a retry). See Ledger for who owns the batch memory.
func (l *Ledger) CreateTransfers(ctx context.Context, transfers []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	const what = "create transfers"
	if err := checkBatch(what, len(transfers)); err != nil {
		return nil, err
	}
	events := tbTransfers(transfers)
	res, err := call(l, ctx, what, func(c tb.Client) ([]types.TransferEventResult, error) {
		return c.CreateTransfers(events)
	})
	if err != nil {
		return nil, err
	}
	return fromTBTransferResults(res), nil
}

// LookupAccounts returns the accounts that exist, in the order of ids,
// skipping ids that are not found.
func (l *Ledger) LookupAccounts(ctx context.Context, ids []ledger.Uint128) ([]ledger.Account, error) {
	const what = "look up accounts"
	if err := checkBatch(what, len(ids)); err != nil {
		return nil, err
	}
	events := tbIDs(ids)
	res, err := call(l, ctx, what, func(c tb.Client) ([]types.Account, error) {
		return c.LookupAccounts(events)
	})
	if err != nil {
		return nil, err
	}
	return fromTBAccounts(res), nil
}

// LookupTransfers returns the transfers that exist, in the order of ids,
// skipping ids that are not found.
func (l *Ledger) LookupTransfers(ctx context.Context, ids []ledger.Uint128) ([]ledger.Transfer, error) {
	const what = "look up transfers"
	if err := checkBatch(what, len(ids)); err != nil {
		return nil, err
	}
	events := tbIDs(ids)
	res, err := call(l, ctx, what, func(c tb.Client) ([]types.Transfer, error) {
		return c.LookupTransfers(events)
	})
	if err != nil {
		return nil, err
	}
	return fromTBTransfers(res), nil
}

// GetAccountTransfers returns the transfers of one account in timestamp order
// (reversed with ledger.FilterReversed), at most filter.Limit of them. A
// filter TigerBeetle would answer with nothing because it is invalid is
// refused with ledger.ErrInvalidFilter instead.
func (l *Ledger) GetAccountTransfers(ctx context.Context, filter ledger.AccountFilter) ([]ledger.Transfer, error) {
	const what = "get account transfers"
	f, err := tbFilter(filter)
	if err != nil {
		return nil, fmt.Errorf("cannot %s: %w", what, err)
	}
	res, err := call(l, ctx, what, func(c tb.Client) ([]types.Transfer, error) {
		return c.GetAccountTransfers(f)
	})
	if err != nil {
		return nil, err
	}
	return fromTBTransfers(res), nil
}

// BatchEventsMax is the largest batch TigerBeetle 0.16.78 takes in one
// request: a 1 MiB message holds 8190 events of 128 bytes after its header,
// but since the client started coalescing requests ("multi-batch") one event's
// worth of space carries the batch trailer. tigerbeetle-go's own tests use
// 8189, and so does ledger.BatchEventsMax, which every implementation keeps.
const BatchEventsMax = ledger.BatchEventsMax

// checkBatch refuses a batch TigerBeetle would refuse as a whole, before it
// takes a slot. Empty batches are sent: the cluster answers them like any
// other.
func checkBatch(what string, n int) error {
	if n > BatchEventsMax {
		return fmt.Errorf("cannot %s: %d events, TigerBeetle takes at most %d: %w",
			what, n, BatchEventsMax, ledger.ErrBatchTooLarge)
	}
	return nil
}
