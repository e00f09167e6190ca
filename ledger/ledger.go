// Package ledger is the double-entry ledger every balance lives in.
//
// The types and results mirror TigerBeetle's (tigerbeetle-go v0.16.78) field
// for field and value for value, so the same code runs against a TigerBeetle
// cluster (package ledger/tigerbeetle) or the embedded engine (package
// ledger/embedded) that keeps TigerBeetle's rules on a Pebble store. The
// ledger alone decides whether money moves: overdrafts are refused by
// account flags, never by check-then-act in callers.
package ledger

import (
	"context"
	"errors"
)

// BatchEventsMax is the largest number of events in one create or lookup call.
// A 1 MiB TigerBeetle message holds 8190 events of 128 bytes, but since the
// 0.16 clients batch several requests into one message, one slot carries that
// message's bookkeeping: tigerbeetle-go v0.16.78 accepts 8189 (its own tests'
// BATCH_MAX). Every implementation keeps the limit of the strictest backend.
const BatchEventsMax = 8189

// Account flags, with TigerBeetle's bit positions.
const (
	AccountLinked                     uint16 = 1 << 0
	AccountDebitsMustNotExceedCredits uint16 = 1 << 1
	AccountCreditsMustNotExceedDebits uint16 = 1 << 2
	AccountHistory                    uint16 = 1 << 3
	AccountImported                   uint16 = 1 << 4
	AccountClosed                     uint16 = 1 << 5
)

// Transfer flags, with TigerBeetle's bit positions.
const (
	TransferLinked              uint16 = 1 << 0
	TransferPending             uint16 = 1 << 1
	TransferPostPendingTransfer uint16 = 1 << 2
	TransferVoidPendingTransfer uint16 = 1 << 3
	TransferBalancingDebit      uint16 = 1 << 4
	TransferBalancingCredit     uint16 = 1 << 5
	TransferClosingDebit        uint16 = 1 << 6
	TransferClosingCredit       uint16 = 1 << 7
	TransferImported            uint16 = 1 << 8
)

// Account filter flags for GetAccountTransfers, with TigerBeetle's bit positions.
const (
	FilterDebits   uint32 = 1 << 0
	FilterCredits  uint32 = 1 << 1
	FilterReversed uint32 = 1 << 2
)

// AmountMax is the sentinel amount TigerBeetle uses for "post the full pending
// amount" and for balancing transfers.
var AmountMax = Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}

// Account is a TigerBeetle account. Its memory layout is TigerBeetle's (128
// bytes, little-endian), so the adapter can pass slices through unchanged.
type Account struct {
	ID             Uint128
	DebitsPending  Uint128
	DebitsPosted   Uint128
	CreditsPending Uint128
	CreditsPosted  Uint128
	UserData128    Uint128
	UserData64     uint64
	UserData32     uint32
	Reserved       uint32
	Ledger         uint32
	Code           uint16
	Flags          uint16
	Timestamp      uint64
}

// Transfer is a TigerBeetle transfer, with TigerBeetle's 128-byte layout.
// Timeout is in seconds and applies to pending transfers only.
type Transfer struct {
	ID              Uint128
	DebitAccountID  Uint128
	CreditAccountID Uint128
	Amount          Uint128
	PendingID       Uint128
	UserData128     Uint128
	UserData64      uint64
	UserData32      uint32
	Timeout         uint32
	Ledger          uint32
	Code            uint16
	Flags           uint16
	Timestamp       uint64
}

// AccountEventResult is the result of the event at Index in a create_accounts
// batch. Like TigerBeetle, only events that did not succeed are reported.
type AccountEventResult struct {
	Index  uint32
	Result CreateAccountResult
}

// TransferEventResult is the result of the event at Index in a
// create_transfers batch. Only events that did not succeed are reported.
type TransferEventResult struct {
	Index  uint32
	Result CreateTransferResult
}

// AccountFilter selects the transfers of one account, as TigerBeetle's
// get_account_transfers does. TimestampMin/Max are inclusive, zero means
// unbounded; Limit must be in 1..BatchEventsMax; Flags are Filter* bits and
// must include FilterDebits, FilterCredits or both.
type AccountFilter struct {
	AccountID    Uint128
	TimestampMin uint64
	TimestampMax uint64
	Limit        uint32
	Flags        uint32
}

// Sentinel errors. A call that returns an error applied nothing, except
// ErrOutcomeUnknown, after which the batch may or may not have been applied:
// retry it with the same ids ("exists" then means it was).
var (
	// ErrOutcomeUnknown: the call did not answer within its deadline.
	ErrOutcomeUnknown = errors.New("ledger: outcome unknown (deadline exceeded); retry with the same ids")
	// ErrClosed: the ledger was closed.
	ErrClosed = errors.New("ledger: closed")
	// ErrBatchTooLarge: more than BatchEventsMax events.
	ErrBatchTooLarge = errors.New("ledger: batch exceeds BatchEventsMax events")
	// ErrInvalidFilter: an AccountFilter TigerBeetle would reject.
	ErrInvalidFilter = errors.New("ledger: invalid account filter")
)

// Ledger is the set of TigerBeetle requests this service uses. Every call takes
// a context whose deadline bounds the wait (TigerBeetle's client has none of
// its own); create calls apply each batch atomically and in order, and return
// results only for events that did not succeed.
type Ledger interface {
	CreateAccounts(ctx context.Context, accounts []Account) ([]AccountEventResult, error)
	CreateTransfers(ctx context.Context, transfers []Transfer) ([]TransferEventResult, error)
	// LookupAccounts returns the accounts that exist, in the order of ids,
	// skipping ids that are not found.
	LookupAccounts(ctx context.Context, ids []Uint128) ([]Account, error)
	// LookupTransfers returns the transfers that exist, in the order of ids,
	// skipping ids that are not found.
	LookupTransfers(ctx context.Context, ids []Uint128) ([]Transfer, error)
	// GetAccountTransfers returns the transfers of one account in timestamp
	// order (reversed with FilterReversed), at most filter.Limit of them.
	GetAccountTransfers(ctx context.Context, filter AccountFilter) ([]Transfer, error)
	Close() error
}
