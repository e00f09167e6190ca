package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exchange/internal-transfer/actors/settlement"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress"
	"github.com/exchange/internal-transfer/store"
)

// operatorTools gives the admin API the settlement service's operator tools,
// translating their errors into the ones the ingress maps to statuses.
type operatorTools struct {
	settler *settlement.Settler
	scanner *settlement.Scanner
	store   store.Store
	// minAge is the age below which a manual post or void needs force:
	// settlement.stuck_threshold_ms.
	minAge time.Duration
}

var _ ingress.OperatorService = operatorTools{}

// translate maps settlement and store errors to the service errors the
// ingress knows; anything else (backends down) is unavailable.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return transfers.ErrNotFound
	case errors.Is(err, settlement.ErrFinal), errors.Is(err, settlement.ErrReasonRequired),
		errors.Is(err, settlement.ErrLedgerDisagrees),
		// The ledger's definite refusal (a ResultError) or a request the
		// config cannot settle: the same every time, so not "retry later".
		errors.Is(err, settlement.ErrUnsettleable):
		return fmt.Errorf("%w: %v", transfers.ErrInvalid, err)
	}
	return &transfers.RetryableError{Err: fmt.Errorf("%w: %v", transfers.ErrUnavailable, err)}
}

func (o operatorTools) Get(ctx context.Context, id uint64) (store.Request, error) {
	req, err := o.store.Get(ctx, id)
	return req, translate(err)
}

func (o operatorTools) Actions(ctx context.Context, id uint64) ([]store.Action, error) {
	a, err := o.store.Actions(ctx, id)
	return a, translate(err)
}

func (o operatorTools) StuckReport(ctx context.Context) ([]store.Request, error) {
	reqs, err := o.scanner.StuckReport(ctx)
	return reqs, translate(err)
}

func (o operatorTools) Reconcile(ctx context.Context, id uint64) (ingress.Reconciliation, error) {
	r, err := o.settler.Reconcile(ctx, id)
	if err != nil {
		return ingress.Reconciliation{}, translate(err)
	}
	return ingress.Reconciliation{Request: r.Request, PendingFound: r.PendingFound, Posted: r.Posted,
		Voided: r.Voided, Agrees: r.Agrees, Recommendation: r.Recommendation}, nil
}

func (o operatorTools) ManualPost(ctx context.Context, id uint64, operator, reason string, force bool) (store.Request, error) {
	if err := o.stuckEnough(ctx, id, "post", force); err != nil {
		return store.Request{}, err
	}
	req, err := o.settler.ManualPost(ctx, id, operator, reason)
	return req, translate(err)
}

func (o operatorTools) ManualVoid(ctx context.Context, id uint64, operator, reason string, force bool) (store.Request, error) {
	if err := o.stuckEnough(ctx, id, "void", force); err != nil {
		return store.Request{}, err
	}
	req, err := o.settler.ManualVoid(ctx, id, operator, reason)
	return req, translate(err)
}

// stuckEnough refuses a manual action on a request younger than minAge
// unless force: settlement finishes those on its own, and an operator's
// mistyped id would otherwise settle a customer's live transfer.
func (o operatorTools) stuckEnough(ctx context.Context, id uint64, kind string, force bool) error {
	if force || o.minAge <= 0 {
		return nil
	}
	req, err := o.store.Get(ctx, id)
	if err != nil {
		return translate(err)
	}
	if age := time.Since(req.CreatedAt); !req.Status.Final() && age < o.minAge {
		return fmt.Errorf("%w: request %d is %s old: a manual %s is for a request settlement cannot finish, older than settlement.stuck_threshold_ms (%s); to act on it anyway, pass force",
			transfers.ErrInvalid, id, age.Round(time.Second), kind, o.minAge)
	}
	return nil
}

func (o operatorTools) Resend(ctx context.Context, id uint64) error {
	return translate(o.settler.Resend(ctx, id))
}
