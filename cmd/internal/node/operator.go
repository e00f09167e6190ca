package node

import (
	"context"
	"errors"
	"fmt"

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

func (o operatorTools) ManualPost(ctx context.Context, id uint64, operator, reason string) (store.Request, error) {
	req, err := o.settler.ManualPost(ctx, id, operator, reason)
	return req, translate(err)
}

func (o operatorTools) ManualVoid(ctx context.Context, id uint64, operator, reason string) (store.Request, error) {
	req, err := o.settler.ManualVoid(ctx, id, operator, reason)
	return req, translate(err)
}

func (o operatorTools) Resend(ctx context.Context, id uint64) error {
	return translate(o.settler.Resend(ctx, id))
}
