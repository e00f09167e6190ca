// Package transfers is the transfer service: a per-user actor serialises each
// user's requests (idempotency check → requesting → ledger hold → pending →
// confirmation record), and a pooled batcher turns many single ledger events
// into few large ledger batches.
//
// The ingress calls it through the small interfaces it declares; this file
// holds the values crossing that boundary and the errors callers branch on.
package transfers

import (
	"errors"
	"fmt"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// Command is a validated transfer request, copied out of the HTTP request.
// Amount is in the asset's smallest unit and already checked against the
// configured limits; the account types, asset and route are known valid.
type Command struct {
	UserID          uint64 // the debited user: the token's subject, never the body's
	ToUserID        uint64 // the credited user (UserID for own-account moves)
	FromAccountType string
	ToAccountType   string
	Asset           string
	Amount          uint64
	IdempotencyKey  string // client_transfer_id or Idempotency-Key; "" for none
	Fingerprint     string // digest of the canonical body, to detect key reuse
	Received        time.Time
}

// Balance is one account of a user, in the asset's smallest unit.
type Balance struct {
	AccountType string
	Asset       string
	// 128-bit, as in the ledger: one transfer moves at most 2^64-1 smallest
	// units, but an account can hold more (with 18 decimals, 2^64 units
	// are only about 18.4 whole units).
	Available ledger.Uint128 // credits_posted - debits_posted - debits_pending
	Held      ledger.Uint128 // debits_pending: funds reserved by pending transfers
	Incoming  ledger.Uint128 // credits_pending: pending credits not yet posted
	Frozen    bool
}

// Errors the ingress turns into HTTP statuses and codes.
var (
	ErrInsufficientBalance = errors.New("insufficient balance")
	ErrAccountFrozen       = errors.New("account frozen")
	ErrAccountNotFound     = errors.New("destination account not found")
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrKeyRefused: an admin operation's key names an operation the
	// ledger refused before. Its id is spent (the ledger keeps failed ids),
	// so the same key can never succeed; why it was refused is not kept.
	ErrKeyRefused  = errors.New("this idempotency key's operation was refused before, for good: use a new key")
	ErrOverloaded  = errors.New("overloaded")
	ErrUnavailable = errors.New("backend unavailable")
	// ErrOutcomeUnknown: the request may be recorded and its hold placed,
	// but no answer says so; the scanner drives it to a final state. The
	// request returned with it carries its id, for the client to look up.
	ErrOutcomeUnknown = errors.New("outcome of the request not known yet")
	// ErrHoldMismatch: the ledger holds a request's hold in another form
	// than the request's (its ledger form changed since, an asset
	// renumbered); only an operator can settle it.
	ErrHoldMismatch = errors.New("the ledger holds this request's hold in another form; settle it by hand")
	ErrNotFound     = errors.New("not found")
	ErrInvalid      = errors.New("invalid request")
)

// RetryableError is ErrOverloaded, ErrUnavailable or ErrOutcomeUnknown with
// the time after which the client may retry.
type RetryableError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *RetryableError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.RetryAfter)
}

// Unwrap lets errors.Is see the error it carries.
func (e *RetryableError) Unwrap() error { return e.Err }
