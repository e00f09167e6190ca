// Package settlement finishes what the gateway started: it posts (or voids)
// each held transfer and records the final status, consuming the
// confirmation stream with one actor per assigned Kafka partition, and runs
// the scanner that drives every request stuck in requesting or pending to a
// final state with the ledger as the source of truth.
//
// Every step is idempotent: post and void ids are derived from the hold id
// (ledger.PostID, ledger.VoidID), so a redelivered record, a scanner pass, an
// operator's manual post and a second settlement node racing on one request
// all name the same ledger transfer, and "exists", "already posted" and
// "already voided" are outcomes, not errors. Offsets are committed only once
// the store holds the outcome durably (SettlerOptions.Sync first, when the
// store defers its fsyncs); a crash anywhere re-runs the same steps.
package settlement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// Error codes settlement writes on failed requests, beside the gateway's.
const (
	CodeAccountFrozen       = "ACCOUNT_FROZEN"
	CodeAccountNotFound     = "ACCOUNT_NOT_FOUND"
	CodeInsufficientBalance = "INSUFFICIENT_BALANCE"
	CodePermissionDenied    = "PERMISSION_DENIED"
	// CodeVoided: the hold was found voided and nothing says why (an
	// operator's void, or a crash between a void and its store update).
	CodeVoided = "TRANSFER_VOIDED"
)

// DefaultCallTimeout bounds one ledger or store call.
const DefaultCallTimeout = 5 * time.Second

// Errors callers branch on.
var (
	// ErrNoSuchRequest: a record names a request the store does not know
	// and the ledger holds nothing for it; there is nothing to settle.
	ErrNoSuchRequest = errors.New("settlement: no such request")
	// ErrFinal: an operator action on a request that is already final.
	ErrFinal = errors.New("settlement: request already final")
	// ErrReasonRequired: an operator action without operator or reason.
	ErrReasonRequired = errors.New("settlement: operator and reason are required")
	// ErrLedgerDisagrees: the ledger refused an operator action because the
	// hold already ended the other way; the store now follows the ledger.
	ErrLedgerDisagrees = errors.New("settlement: ledger already settled the hold the other way")
)

// ResultError is a ledger result settlement has no rule for. It is counted,
// logged and retried, never dropped.
type ResultError struct {
	RequestID uint64
	Op        string // "hold", "post" or "void"
	Result    ledger.CreateTransferResult
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("settlement: unexpected ledger result %s for %s of request %d", e.Result, e.Op, e.RequestID)
}

// Is makes a ResultError an ErrUnsettleable: the ledger answers the same
// ids the same way every time.
func (e *ResultError) Is(target error) bool { return target == ErrUnsettleable }

// ErrUnsettleable marks a settlement error that every retry repeats: the
// ledger answered what settlement has no rule for, the request names an
// asset the configuration no longer has, the store cannot read the request
// (store.ErrCorrupt), or a hold exists for a request the store does not have. The partition skips such a
// confirmation (logged, counted in
// internal_transfer_settlement_skipped_records_total)
// instead of stalling every later record behind it; the request stays open,
// counted as pending and then stuck, for an operator (admin reconcile,
// manual post or void), and the scanner keeps re-driving it.
var ErrUnsettleable = errors.New("cannot be settled as configured")

// Publisher publishes a request's confirmation record (stream.Producer).
type Publisher interface {
	Publish(ctx context.Context, req store.Request) error
}

// SettlerOptions configures NewSettler.
type SettlerOptions struct {
	Ledger      ledger.Ledger
	Store       store.Store
	Catalog     *transfers.Catalog
	Publisher   Publisher     // needed by the scanner and Resend only
	CallTimeout time.Duration // per ledger or store call; default DefaultCallTimeout
	Logger      *slog.Logger  // default slog.Default()
	// Sync, when set, makes the store's writes so far durable: the node
	// sets it when the store defers its fsyncs to the ledger's (store/
	// embedded Options.DeferSync). It runs before an offset commit and
	// before an operator's post or void answers, so what those promise
	// ("the store holds the outcome") holds on disk. Nil: every store write
	// is durable when it returns.
	Sync func(context.Context) error
}

// Settler holds the per-request settlement logic shared by the partition
// actors, the scanner and the operator tools. Safe for concurrent use.
type Settler struct {
	ledger      ledger.Ledger
	store       store.Store
	catalog     *transfers.Catalog
	publisher   Publisher
	callTimeout time.Duration
	log         *slog.Logger
	sync        func(context.Context) error // nil: store writes are durable at once

	// afterLedger, when set (tests only), runs after a post or void was
	// applied in the ledger and before the store hears of it.
	afterLedger func(req store.Request)
}

// NewSettler checks opts and returns a Settler.
func NewSettler(opts SettlerOptions) *Settler {
	if opts.Ledger == nil || opts.Store == nil || opts.Catalog == nil {
		panic("BUG: settlement.NewSettler needs Ledger, Store and Catalog")
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Settler{
		ledger: opts.Ledger, store: opts.Store, catalog: opts.Catalog, publisher: opts.Publisher,
		callTimeout: opts.CallTimeout, log: opts.Logger, sync: opts.Sync,
	}
}

// syncStore makes the store's writes so far durable (SettlerOptions.Sync),
// within the call timeout.
func (s *Settler) syncStore(ctx context.Context) error {
	if s.sync == nil {
		return nil
	}
	ctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	if err := s.sync(ctx); err != nil {
		return fmt.Errorf("cannot make the store's outcomes durable: %w", err)
	}
	return nil
}

// SettleRecord settles the request a confirmation names. The store is the
// truth for the request's fields; the record only says which request. A
// request already final is confirmed as it is.
func (s *Settler) SettleRecord(ctx context.Context, c stream.Confirmation) (store.Request, error) {
	req, err := s.SettleRequest(ctx, c.RequestID)
	if !errors.Is(err, store.ErrNotFound) {
		return req, err
	}
	// The gateway writes the request before the hold, so a record without a
	// request is only harmless if nothing is held for it.
	pending, perr := c.PendingIDBytes()
	if perr != nil {
		return store.Request{}, perr
	}
	found, lerr := s.lookup(ctx, ledger.Uint128FromBytes(pending))
	if lerr != nil {
		return store.Request{}, lerr
	}
	if len(found) == 0 {
		return store.Request{}, fmt.Errorf("cannot settle request %d: %w", c.RequestID, ErrNoSuchRequest)
	}
	// The gateway records a request before its hold, so this is lost or
	// foreign data: no retry finds the request, and the hold stays for an
	// operator (itctl verify reports it as a stray transfer).
	return store.Request{}, fmt.Errorf("cannot settle request %d: hold exists but the store has no request: %w: %w", c.RequestID, ErrUnsettleable, err)
}

// SettleRequest drives request id to a final state: a requesting request
// first learns its hold's fate, a pending one is posted, or voided when the
// destination refuses it.
func (s *Settler) SettleRequest(ctx context.Context, id uint64) (store.Request, error) {
	req, err := s.get(ctx, id)
	if err != nil {
		return req, err
	}
	if req.Status.Final() {
		return req, nil
	}
	if req.Status == store.StatusRequesting {
		if req, err = s.resolveHold(ctx, req); err != nil || req.Status.Final() {
			return req, err
		}
	}
	return s.settlePending(ctx, req)
}

func (s *Settler) settlePending(ctx context.Context, req store.Request) (store.Request, error) {
	asset, ok := s.catalog.Asset(req.Asset)
	if !ok {
		return req, fmt.Errorf("cannot settle request %d: asset %q is not configured: %w", req.ID, req.Asset, ErrUnsettleable)
	}
	if !s.catalog.RouteAllowed(req.FromAccountType, req.ToAccountType, req.UserID != req.ToUserID) {
		return s.void(ctx, req, asset.Ledger, store.Outcome{ErrorCode: CodePermissionDenied,
			ErrorMessage: fmt.Sprintf("route %s→%s is no longer allowed", req.FromAccountType, req.ToAccountType)})
	}
	result, err := s.create(ctx, transfers.PostTransfer(req, asset.Ledger))
	if err != nil {
		return req, fmt.Errorf("cannot post hold of request %d: %w", req.ID, err)
	}
	s.hookLedger(req)
	return s.posted(ctx, req, asset.Ledger, result)
}

// posted records what the ledger answered to req's post.
func (s *Settler) posted(ctx context.Context, req store.Request, assetLedger uint32, result ledger.CreateTransferResult) (store.Request, error) {
	switch result {
	case ledger.TransferOK, ledger.TransferExists, ledger.TransferPendingTransferAlreadyPosted:
		return s.finish(ctx, req, store.StatusSuccess, store.Outcome{})
	case ledger.TransferPendingTransferAlreadyVoided:
		return s.finish(ctx, req, store.StatusFailed, store.Outcome{ErrorCode: CodeVoided, ErrorMessage: "the hold was voided"})
	case ledger.TransferCreditAccountAlreadyClosed, ledger.TransferDebitAccountAlreadyClosed:
		return s.void(ctx, req, assetLedger, store.Outcome{ErrorCode: CodeAccountFrozen, ErrorMessage: "account frozen"})
	case ledger.TransferIDAlreadyFailed:
		// An earlier post with this id was refused transiently — an account
		// frozen (closed), the only refusal a post of an existing hold meets —
		// and TigerBeetle pins the id: the hold can only be voided now. (A
		// crash between that refusal and the void lands here on replay.)
		return s.void(ctx, req, assetLedger, store.Outcome{ErrorCode: CodeAccountFrozen, ErrorMessage: "account frozen (post refused earlier)"})
	default:
		tbErrors.Inc()
		return req, &ResultError{RequestID: req.ID, Op: "post", Result: result}
	}
}

// void releases req's hold and records it failed with outcome; a post that
// won a race makes it a success instead. Voids are rare (a refused post, a
// route no longer allowed), so the hold is looked up first: a void of a
// missing hold would be refused transiently and pin the void id for good,
// and with the post id pinned too (a post of that missing hold) the hold,
// once re-placed, could never be released.
func (s *Settler) void(ctx context.Context, req store.Request, assetLedger uint32, outcome store.Outcome) (store.Request, error) {
	req, err := s.placeMissingHold(ctx, req)
	if err != nil || req.Status.Final() {
		return req, err
	}
	result, err := s.create(ctx, transfers.VoidTransfer(req, assetLedger))
	if err != nil {
		return req, fmt.Errorf("cannot void hold of request %d: %w", req.ID, err)
	}
	s.hookLedger(req)
	switch result {
	case ledger.TransferOK, ledger.TransferExists, ledger.TransferPendingTransferAlreadyVoided:
		return s.finish(ctx, req, store.StatusFailed, outcome)
	case ledger.TransferPendingTransferAlreadyPosted:
		return s.finish(ctx, req, store.StatusSuccess, store.Outcome{})
	default:
		tbErrors.Inc()
		return req, &ResultError{RequestID: req.ID, Op: "void", Result: result}
	}
}

// ensureHold makes sure req's hold is in the ledger before a post or void
// that must not meet a missing one. done reports that the request needs
// nothing more (or can get nothing more): the hold was already posted or
// voided (recorded so), or re-placing it decided the request (refused:
// failed, nothing held).
func (s *Settler) ensureHold(ctx context.Context, req store.Request) (_ store.Request, done bool, _ error) {
	st, err := s.ledgerState(ctx, req)
	if err != nil {
		return req, false, err
	}
	switch {
	case st.Posted:
		got, err := s.finish(ctx, req, store.StatusSuccess, store.Outcome{})
		return got, true, err
	case st.Voided:
		got, err := s.finish(ctx, req, store.StatusFailed, store.Outcome{ErrorCode: CodeVoided, ErrorMessage: "the hold was voided"})
		return got, true, err
	case st.PendingFound:
		return req, false, nil
	}
	got, err := s.replaceHold(ctx, req)
	return got, err == nil && got.Status.Final(), err
}

// placeMissingHold re-submits req's hold when the ledger does not have it
// (replaceHold); a request it leaves final had its hold refused: failed,
// nothing held.
func (s *Settler) placeMissingHold(ctx context.Context, req store.Request) (store.Request, error) {
	st, err := s.ledgerState(ctx, req)
	if err != nil || st.PendingFound { // (a post or void of it would have found it)
		return req, err
	}
	return s.replaceHold(ctx, req)
}

// replaceHold re-submits the identical hold of req, which the ledger does
// not have: only a lost ledger write (or a ledger restored from an older
// backup) leaves a request without its hold.
func (s *Settler) replaceHold(ctx context.Context, req store.Request) (store.Request, error) {
	s.log.Error("request has no hold in the ledger; re-submitting it before resolving it", "request_id", req.ID, "status", req.Status.String())
	return s.resolveHold(ctx, req)
}

// finish records the final (or pending) status. A store that already holds
// a different final status keeps it: it is logged, not fought.
func (s *Settler) finish(ctx context.Context, req store.Request, to store.Status, outcome store.Outcome) (store.Request, error) {
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	got, err := s.store.Advance(cctx, req.ID, to, outcome)
	var terr *store.TransitionError
	switch {
	case err == nil:
	case errors.As(err, &terr):
		current, gerr := s.get(ctx, req.ID)
		if gerr != nil {
			return req, gerr
		}
		if to.Final() && current.Status.Final() && current.Status != to {
			s.log.Error("store and ledger disagree on a final request",
				"request_id", req.ID, "store", current.Status.String(), "ledger", to.String())
		}
		return current, nil
	default:
		dbErrors.Inc()
		return req, fmt.Errorf("cannot record request %d as %s: %w", req.ID, to, err)
	}
	if to.Final() && !req.Status.Final() {
		if to == store.StatusSuccess {
			successTotal.Inc()
		} else {
			failedTotal.Inc()
		}
		observeLatency(req.CreatedAt)
	}
	return got, nil
}

func (s *Settler) hookLedger(req store.Request) {
	if s.afterLedger != nil {
		s.afterLedger(req)
	}
}

func (s *Settler) get(ctx context.Context, id uint64) (store.Request, error) {
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	req, err := s.store.Get(cctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			dbErrors.Inc()
		}
		return req, fmt.Errorf("cannot load request %d: %w", id, err)
	}
	return req, nil
}

// create submits one transfer and returns its result. Errors (including
// ledger.ErrOutcomeUnknown) are counted; the caller retries with the same ids.
func (s *Settler) create(ctx context.Context, t ledger.Transfer) (ledger.CreateTransferResult, error) {
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	results, err := s.ledger.CreateTransfers(cctx, []ledger.Transfer{t})
	if err != nil {
		tbErrors.Inc()
		return 0, err
	}
	for _, r := range results {
		if r.Index != 0 {
			panic(fmt.Sprintf("BUG: ledger returned result index %d for a batch of one", r.Index))
		}
		return r.Result, nil
	}
	return ledger.TransferOK, nil
}

// lookup returns the ledger transfers among ids that exist, by id.
func (s *Settler) lookup(ctx context.Context, ids ...ledger.Uint128) (map[ledger.Uint128]ledger.Transfer, error) {
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	found, err := s.ledger.LookupTransfers(cctx, ids)
	if err != nil {
		tbErrors.Inc()
		return nil, fmt.Errorf("cannot look up transfers: %w", err)
	}
	out := make(map[ledger.Uint128]ledger.Transfer, len(found))
	for _, t := range found {
		out[t.ID] = t
	}
	return out, nil
}
