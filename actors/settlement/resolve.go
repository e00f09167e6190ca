package settlement

import (
	"context"
	"errors"
	"fmt"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// Drive moves one open request along using the ledger as the source of
// truth, as the scanner does: a requesting request re-submits its identical
// hold to learn its fate (and is published once pending); a pending request
// looks up its hold, post and void. A hold that is neither posted nor voided
// is re-published for settlement to post: nothing is ever voided because of
// age alone.
func (s *Settler) Drive(ctx context.Context, req store.Request) (store.Request, error) {
	return s.drive(ctx, req, nil)
}

// drive is Drive whose publishing mayPublish, when not nil, can decline
// (the scanner's throttle): the request is left as it is, open.
func (s *Settler) drive(ctx context.Context, req store.Request, mayPublish func(id uint64) bool) (store.Request, error) {
	publish := func(got store.Request) error {
		if mayPublish != nil && !mayPublish(got.ID) {
			return nil
		}
		return s.publish(ctx, got)
	}
	switch req.Status {
	case store.StatusSuccess, store.StatusFailed:
		return req, nil
	case store.StatusRequesting:
		got, err := s.resolveHold(ctx, req)
		if err != nil || got.Status != store.StatusPending {
			return got, err
		}
		return got, publish(got)
	case store.StatusPending:
		got, republish, err := s.resolvePending(ctx, req)
		if err != nil || !republish {
			return got, err
		}
		return got, publish(got)
	}
	panic(fmt.Sprintf("BUG: request %d has invalid status %d", req.ID, req.Status))
}

// resolveHold re-submits req's hold (the identical event the gateway sent,
// so it cannot create a second one) and records what the answer means:
// created or exists → pending; refused → failed with the reason.
func (s *Settler) resolveHold(ctx context.Context, req store.Request) (store.Request, error) {
	hold, err := s.catalog.HoldTransfer(req)
	if err != nil {
		return req, fmt.Errorf("cannot rebuild hold of request %d: %w: %w", req.ID, ErrUnsettleable, err)
	}
	result, err := s.create(ctx, hold)
	if err != nil {
		return req, fmt.Errorf("cannot re-submit hold of request %d: %w", req.ID, err)
	}
	switch result {
	case ledger.TransferOK, ledger.TransferExists:
		return s.finish(ctx, req, store.StatusPending, store.Outcome{})
	case ledger.TransferExceedsCredits:
		return s.finish(ctx, req, store.StatusFailed, store.Outcome{ErrorCode: CodeInsufficientBalance, ErrorMessage: "insufficient balance"})
	case ledger.TransferDebitAccountNotFound, ledger.TransferCreditAccountNotFound:
		return s.finish(ctx, req, store.StatusFailed, store.Outcome{ErrorCode: CodeAccountNotFound, ErrorMessage: "account not found"})
	case ledger.TransferDebitAccountAlreadyClosed, ledger.TransferCreditAccountAlreadyClosed:
		return s.finish(ctx, req, store.StatusFailed, store.Outcome{ErrorCode: CodeAccountFrozen, ErrorMessage: "account frozen"})
	}
	if result.ExistsWithDifferent() || result == ledger.TransferIDAlreadyFailed {
		// Decided as the gateway decides it: another request's transfer
		// holds the id (its key reused after expiry) → failed; else an
		// operator's case. An id pinned by an earlier refusal → failed,
		// its reason re-derived from the accounts.
		cctx, cancel := deadline.Within(ctx, s.callTimeout)
		status, outcome, err := transfers.ResolveHoldResult(cctx, s.ledger, req, hold, result)
		cancel()
		if errors.Is(err, transfers.ErrHoldMismatch) {
			err = fmt.Errorf("%w: %w", ErrUnsettleable, err)
		}
		if err != nil {
			tbErrors.Inc()
			return req, err
		}
		return s.finish(ctx, req, status, outcome)
	}
	tbErrors.Inc()
	return req, &ResultError{RequestID: req.ID, Op: "hold", Result: result}
}

// ledgerState is what the ledger knows of a request's hold.
type ledgerState struct {
	PendingFound, Posted, Voided bool
}

func (s *Settler) ledgerState(ctx context.Context, req store.Request) (ledgerState, error) {
	pending := ledger.Uint128FromBytes(req.PendingID)
	if pending.IsZero() {
		return ledgerState{}, nil
	}
	found, err := s.lookup(ctx, pending, ledger.PostID(pending), ledger.VoidID(pending))
	if err != nil {
		return ledgerState{}, fmt.Errorf("cannot look up hold of request %d: %w", req.ID, err)
	}
	hold, p := found[pending]
	if p && hold.UserData64 != req.ID {
		// Another request's hold under this id (its key reused after the
		// store forgot it): nothing of this request is in the ledger.
		return ledgerState{}, nil
	}
	_, posted := found[ledger.PostID(pending)]
	_, voided := found[ledger.VoidID(pending)]
	return ledgerState{PendingFound: p, Posted: posted, Voided: voided}, nil
}

// resolvePending settles a pending request from the ledger's record alone
// (a hold posted or voided is recorded so; a hold missing, which only a
// lost ledger write leaves, is re-submitted: see ensureHold). republish
// reports a hold still open: only settlement posts it.
func (s *Settler) resolvePending(ctx context.Context, req store.Request) (got store.Request, republish bool, err error) {
	got, done, err := s.ensureHold(ctx, req)
	return got, err == nil && !done && got.Status == store.StatusPending, err
}

// errRepublish marks a failed re-publish, which the scanner takes as the
// stream being down for the rest of its pass.
var errRepublish = errors.New("cannot re-publish")

func (s *Settler) publish(ctx context.Context, req store.Request) error {
	if s.publisher == nil {
		return errors.New("cannot publish: settler has no publisher")
	}
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	if err := s.publisher.Publish(cctx, req); err != nil {
		streamErrors.Inc()
		return fmt.Errorf("%w request %d: %w", errRepublish, req.ID, err)
	}
	return nil
}
