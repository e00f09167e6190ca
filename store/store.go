// Package store keeps every transfer request a user made: its status, who
// asked and when, and the idempotency keys that make client retries safe.
//
// Two implementations share one conformance suite (package store/storetest):
// the embedded store on Pebble (package store/embedded) and ScyllaDB through
// gocqlx (package store/scylla). The store records outcomes; it never decides
// them — the ledger does — so concurrent writers of a final status always
// write the same value and the writes are designed to converge.
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Status is where a request stands: requesting → pending → success | failed.
type Status uint8

// Statuses, in the only order they may be reached.
const (
	StatusRequesting Status = 1
	StatusPending    Status = 2
	StatusSuccess    Status = 3
	StatusFailed     Status = 4
)

// String returns the status as the API spells it.
func (s Status) String() string {
	switch s {
	case StatusRequesting:
		return "requesting"
	case StatusPending:
		return "pending"
	case StatusSuccess:
		return "success"
	case StatusFailed:
		return "failed"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseStatus is the inverse of String.
func ParseStatus(s string) (Status, error) {
	switch s {
	case "requesting":
		return StatusRequesting, nil
	case "pending":
		return StatusPending, nil
	case "success":
		return StatusSuccess, nil
	case "failed":
		return StatusFailed, nil
	}
	return 0, fmt.Errorf("unknown status %q", s)
}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool { return s >= StatusRequesting && s <= StatusFailed }

// Final reports whether s is terminal (success or failed).
func (s Status) Final() bool { return s == StatusSuccess || s == StatusFailed }

// CanAdvance reports whether a request in status from may move to status to.
// Moving to the status it already has is allowed (a no-op); requesting may go
// straight to failed (refused hold) or, on recovery, to any later status.
func CanAdvance(from, to Status) bool {
	if !from.Valid() || !to.Valid() {
		return false
	}
	if from == to {
		return true
	}
	if from.Final() {
		return false
	}
	return to > from
}

// Request is one transfer request. Amount is in the asset's smallest unit.
type Request struct {
	ID              uint64 // request_id, unique, roughly time-ordered
	UserID          uint64 // the debited user (the token's subject)
	ToUserID        uint64 // the credited user (UserID for own-account moves)
	FromAccountType string
	ToAccountType   string
	Asset           string
	Amount          uint64
	IdempotencyKey  string   // client key, "" when the client gave none
	Fingerprint     string   // digest of the request body, to detect key reuse
	PendingID       [16]byte // the ledger's pending transfer id (big-endian u128)
	Status          Status
	ErrorCode       string // for failed: e.g. INSUFFICIENT_BALANCE, ACCOUNT_FROZEN
	ErrorMessage    string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Outcome is what accompanies a status change.
type Outcome struct {
	ErrorCode    string
	ErrorMessage string
}

// HistoryQuery selects a user's requests (as sender or receiver), newest first.
type HistoryQuery struct {
	UserID uint64
	Status Status    // 0: any
	From   time.Time // inclusive; zero: unbounded
	To     time.Time // exclusive; zero: unbounded
	Limit  int       // 1..HistoryLimitMax
	Cursor string    // opaque, from the previous page; "" for the first
}

// HistoryLimitMax is the largest page of history.
const HistoryLimitMax = 100

// HistoryPage is one page of history; NextCursor is "" on the last page.
type HistoryPage struct {
	Requests   []Request
	NextCursor string
}

// OpenQuery selects non-final requests created before Before, oldest first,
// for the scanner.
type OpenQuery struct {
	Before time.Time
	Limit  int    // 1..OpenLimitMax
	Cursor string // opaque; "" for the first page
}

// OpenLimitMax is the largest page of open requests.
const OpenLimitMax = 1000

// OpenPage is one page of open requests; NextCursor is "" on the last page.
// Unreadable holds the ids of open requests whose stored rows cannot be read
// (ErrCorrupt, or an open entry without its request): they take their
// places in the page (Limit counts them) instead of failing it, so a scan
// goes on past them, and the caller reports them to an operator.
type OpenPage struct {
	Requests   []Request
	Unreadable []uint64
	NextCursor string
}

// OpenCounts counts non-final requests.
type OpenCounts struct {
	Requesting int
	Pending    int
	Stuck      int // non-final and created before the stuckBefore given
	// Partial says the store stopped counting before the end (too many open
	// rows to read within its bounds): the figures are lower bounds. A store
	// that counts in memory is never partial.
	Partial bool
}

// Action is an operator's intervention on a request (manual post or void,
// re-send), kept with the request for audit.
type Action struct {
	RequestID uint64
	Kind      string // "post", "void", "resend", ...
	Operator  string
	Reason    string
	At        time.Time
}

// Errors callers branch on.
var (
	ErrNotFound          = errors.New("store: not found")
	ErrIllegalTransition = errors.New("store: illegal status transition")
	ErrInvalid           = errors.New("store: invalid argument")
	ErrClosed            = errors.New("store: closed")
	// ErrIDExists: Create was given the id of a request already stored
	// (wrapped together with ErrInvalid). Nothing was written.
	ErrIDExists = errors.New("store: request id exists")
	// ErrNodeClaimed: another running node holds the node id (ClaimNode).
	ErrNodeClaimed = errors.New("store: node id held by another running node")
	// ErrCorrupt: a stored value no version of the store writes (damaged
	// data, or a foreign writer). Reading it again gives the same answer.
	ErrCorrupt = errors.New("store: corrupt value")
	// ErrNothingWritten marks a Create error after which the store has
	// certainly written nothing, now or later (it refused before its first
	// write: a closed store, a deadline already past, an invalid request,
	// a failed read); see NothingWritten. Any other Create error may leave
	// the request written.
	ErrNothingWritten = errors.New("store: nothing written")
)

// NothingWritten wraps err, a Create error raised before any write, with
// ErrNothingWritten.
func NothingWritten(err error) error {
	if err == nil || errors.Is(err, ErrNothingWritten) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, ErrNothingWritten)
}

// TransitionError reports a refused status change; it matches
// ErrIllegalTransition with errors.Is.
type TransitionError struct {
	RequestID uint64
	From, To  Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("store: request %d cannot move from %s to %s", e.RequestID, e.From, e.To)
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// Store is what the gateway, settlement and the scanner need.
type Store interface {
	// Create records req in status requesting. When req.IdempotencyKey is set
	// and (req.UserID, key) is already held by a live (unexpired) request,
	// nothing is written and that request is returned with created == false;
	// the caller compares Fingerprints to tell a retry from a conflict.
	Create(ctx context.Context, req Request) (stored Request, created bool, err error)
	// Advance moves request id to status to with outcome. Repeating the status
	// it has is a no-op that returns it; an illegal move returns a
	// *TransitionError; an unknown id returns ErrNotFound.
	Advance(ctx context.Context, id uint64, to Status, outcome Outcome) (Request, error)
	// Get returns request id, or ErrNotFound.
	Get(ctx context.Context, id uint64) (Request, error)
	// History returns a page of the requests where q.UserID is either side.
	History(ctx context.Context, q HistoryQuery) (HistoryPage, error)
	// ListOpen returns a page of requests still requesting or pending.
	ListOpen(ctx context.Context, q OpenQuery) (OpenPage, error)
	// CountOpen counts requests still requesting or pending.
	CountOpen(ctx context.Context, stuckBefore time.Time) (OpenCounts, error)
	// RecordAction appends an operator action to request a.RequestID.
	RecordAction(ctx context.Context, a Action) error
	// Actions returns the operator actions of request id, oldest first.
	Actions(ctx context.Context, id uint64) ([]Action, error)
	// ClaimNode claims node id for owner until ttl from now. Request ids
	// are unique only per node id, so two running nodes must never share
	// one. It succeeds when the id is free, expired or already owner's
	// (the claim is then renewed); otherwise it returns the holder and an
	// error wrapping ErrNodeClaimed. ttl counts in whole seconds (rounded
	// up; ScyllaDB may end a claim up to a second early); ValidateClaim
	// gives the bounds. A claim lives only while its holder runs: the
	// embedded store, which one process opens at a time, drops every
	// claim when it opens.
	ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) (holder string, err error)
	// ReleaseNode ends owner's claim on node id, if owner holds it; a
	// claim of another owner is left as it is. Nothing to release is fine.
	ReleaseNode(ctx context.Context, node int, owner string) error
	Close() error
}

// Bounds of a node claim (ClaimNode).
const (
	ClaimOwnerMax = 256            // bytes of an owner name
	ClaimTTLMax   = 24 * time.Hour // longest claim
)

// ValidateClaim refuses, wrapping ErrInvalid, a claim no implementation's
// ClaimNode may store: a bad node id or owner (ValidateOwner), a ttl under
// a second or over ClaimTTLMax.
func ValidateClaim(node int, owner string, ttl time.Duration) error {
	if err := ValidateOwner(node, owner); err != nil {
		return err
	}
	if ttl < time.Second || ttl > ClaimTTLMax {
		return fmt.Errorf("node %d: claim ttl %s, want 1s..%s: %w", node, ttl, ClaimTTLMax, ErrInvalid)
	}
	return nil
}

// ValidateOwner refuses, wrapping ErrInvalid, the node id and owner of a
// ClaimNode or ReleaseNode no implementation takes: a node id outside
// 0..MaxInt32, an empty or over-long owner.
func ValidateOwner(node int, owner string) error {
	switch {
	case node < 0 || node > math.MaxInt32:
		return fmt.Errorf("node %d: out of range: %w", node, ErrInvalid)
	case owner == "" || len(owner) > ClaimOwnerMax:
		return fmt.Errorf("node %d: owner of %d bytes, want 1..%d: %w", node, len(owner), ClaimOwnerMax, ErrInvalid)
	}
	return nil
}

// ClaimSeconds is ttl in whole seconds, rounded up, as a claim keeps it.
func ClaimSeconds(ttl time.Duration) int {
	return int((ttl + time.Second - 1) / time.Second)
}

// IdempotencyKeyMax bounds the length of an idempotency key, in bytes.
const IdempotencyKeyMax = 1024

// CreatedAheadMax bounds how far past the store's clock a request's
// creation time may be: a day of clock skew is already a fault. (ScyllaDB
// refuses write timestamps more than 3 days ahead by default, and the
// ScyllaDB store writes at the creation time.)
const CreatedAheadMax = 24 * time.Hour

// ValidateNew refuses, wrapping ErrInvalid, what no implementation's Create
// may store: a zero id or user, an idempotency key longer than
// IdempotencyKeyMax, a creation time outside what int64 nanoseconds since
// 1970 hold or more than CreatedAheadMax past now. (Create sets a zero
// CreatedAt to now before it checks.)
func ValidateNew(req *Request, now time.Time) error {
	switch {
	case req.CreatedAt.After(now.Add(CreatedAheadMax)):
		return fmt.Errorf("cannot create request %d: created at %s, more than %s ahead of this clock: %w",
			req.ID, req.CreatedAt, CreatedAheadMax, ErrInvalid)
	case req.ID == 0:
		return fmt.Errorf("cannot create request: zero id: %w", ErrInvalid)
	case req.UserID == 0:
		return fmt.Errorf("cannot create request %d: zero user id: %w", req.ID, ErrInvalid)
	case req.CreatedAt.Before(time.Unix(0, math.MinInt64)) || req.CreatedAt.After(time.Unix(0, math.MaxInt64)):
		return fmt.Errorf("cannot create request %d: created at %s out of range: %w", req.ID, req.CreatedAt, ErrInvalid)
	case len(req.IdempotencyKey) > IdempotencyKeyMax:
		return fmt.Errorf("cannot create request %d: idempotency key of %d bytes, more than %d: %w",
			req.ID, len(req.IdempotencyKey), IdempotencyKeyMax, ErrInvalid)
	}
	return nil
}
