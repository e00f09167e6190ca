package settlement

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// stuckReportMax bounds StuckReport.
const stuckReportMax = 10_000

// Reconciliation compares one request in the store with its hold in the
// ledger.
type Reconciliation struct {
	Request        store.Request
	PendingFound   bool // the hold exists
	Posted         bool // the post transfer exists
	Voided         bool // the void transfer exists
	Agrees         bool // the store's status matches the ledger
	Recommendation string
}

// StuckReport lists the open requests older than the stuck threshold, oldest
// first, at most 10 000 of them.
func (sc *Scanner) StuckReport(ctx context.Context) ([]store.Request, error) {
	q := store.OpenQuery{Before: time.Now().Add(-sc.opts.StuckThreshold), Limit: store.OpenLimitMax}
	var out []store.Request
	for len(out) < stuckReportMax {
		page, err := sc.list(ctx, q)
		if err != nil {
			return out, err
		}
		out = append(out, page.Requests...)
		if page.NextCursor == "" || len(page.Requests) == 0 {
			break
		}
		q.Cursor = page.NextCursor
	}
	if len(out) > stuckReportMax {
		out = out[:stuckReportMax]
	}
	return out, nil
}

// Reconcile compares request id in the store with the ledger and says what
// an operator should do.
func (s *Settler) Reconcile(ctx context.Context, id uint64) (Reconciliation, error) {
	req, err := s.get(ctx, id)
	if err != nil {
		return Reconciliation{}, err
	}
	st, err := s.ledgerState(ctx, req)
	if err != nil {
		return Reconciliation{}, err
	}
	r := Reconciliation{Request: req, PendingFound: st.PendingFound, Posted: st.Posted, Voided: st.Voided}
	switch {
	case st.Posted && st.Voided:
		r.Recommendation = "ledger has both a post and a void for one hold: escalate to engineering"
	case req.Status == store.StatusSuccess:
		r.Agrees = st.Posted
		r.Recommendation = recommend(r.Agrees, "none", "store says success but the hold is not posted: investigate before any action")
	case req.Status == store.StatusFailed:
		r.Agrees = !st.Posted && (st.Voided || !st.PendingFound)
		r.Recommendation = recommend(r.Agrees, "none", "store says failed but the ledger posted the hold: investigate before any action")
	case st.Posted:
		r.Recommendation = "hold posted: run the scanner or Resend to record success"
	case st.Voided:
		r.Recommendation = "hold voided: run the scanner or Resend to record failed"
	case st.PendingFound && req.Status == store.StatusRequesting:
		r.Agrees = true
		r.Recommendation = "hold placed, request not yet recorded as pending: the scanner records and publishes it; Resend hurries it"
	case st.PendingFound:
		r.Agrees = true
		r.Recommendation = "hold open: Resend to let settlement post it; post or void by hand only as the runbook's Stuck transfers step 5 says"
	case req.Status == store.StatusRequesting:
		r.Agrees = true
		r.Recommendation = "no hold yet: the scanner re-submits it after the grace period"
	default:
		r.Recommendation = "store says pending but the ledger has no hold: the scanner re-submits it; investigate"
	}
	return r, nil
}

func recommend(agrees bool, yes, no string) string {
	if agrees {
		return yes
	}
	return no
}

// ManualPost posts request id's hold for operator, with reason (both
// required), using settlement's own post id so a race with settlement is
// harmless. The store follows the ledger: a hold already voided makes the
// request failed and returns ErrLedgerDisagrees.
func (s *Settler) ManualPost(ctx context.Context, id uint64, operator, reason string) (store.Request, error) {
	return s.manualDurable(ctx, id, operator, reason, "post")
}

// ManualVoid voids request id's hold for operator, with reason (both
// required), releasing the funds. A hold already posted makes the request
// success and returns ErrLedgerDisagrees.
func (s *Settler) ManualVoid(ctx context.Context, id uint64, operator, reason string) (store.Request, error) {
	return s.manualDurable(ctx, id, operator, reason, "void")
}

// manualDurable is manual whose outcome, written or found, is on disk
// before the operator hears it (SettlerOptions.Sync).
func (s *Settler) manualDurable(ctx context.Context, id uint64, operator, reason, kind string) (store.Request, error) {
	req, err := s.manual(ctx, id, operator, reason, kind)
	if errors.Is(err, ErrReasonRequired) {
		return req, err
	}
	if serr := s.syncStore(ctx); serr != nil {
		return req, errors.Join(err, serr)
	}
	return req, err
}

func (s *Settler) manual(ctx context.Context, id uint64, operator, reason, kind string) (store.Request, error) {
	if strings.TrimSpace(operator) == "" || strings.TrimSpace(reason) == "" {
		return store.Request{}, ErrReasonRequired
	}
	req, err := s.get(ctx, id)
	if err != nil {
		return req, err
	}
	if req.Status.Final() {
		return req, fmt.Errorf("cannot %s request %d (%s): %w", kind, id, req.Status, ErrFinal)
	}
	asset, ok := s.catalog.Asset(req.Asset)
	if !ok {
		return req, fmt.Errorf("cannot %s request %d: asset %q is not configured: %w", kind, id, req.Asset, ErrUnsettleable)
	}
	// Make sure the hold exists (or learn that it never will): a post or
	// void of a missing hold is refused and pins its id for good, so an
	// operator's try on a pending request whose hold was lost would leave
	// the re-placed hold with one way out, or none.
	if req.Status == store.StatusRequesting {
		// Its hold may not be placed yet: place it (or learn it never
		// will be), as the scanner would.
		req, err = s.resolveHold(ctx, req)
	} else {
		req, err = s.placeMissingHold(ctx, req)
	}
	if err != nil {
		return req, err
	}
	if req.Status.Final() { // its hold was refused: failed, nothing held
		if kind == "void" {
			return req, nil // what a void asks for
		}
		return req, fmt.Errorf("cannot post request %d: its hold was refused (%s): %w", id, req.ErrorCode, ErrLedgerDisagrees)
	}
	if err := s.recordAction(ctx, store.Action{RequestID: id, Kind: kind, Operator: operator, Reason: reason, At: time.Now()}); err != nil {
		return req, err
	}
	got, err := s.manualLedger(ctx, req, asset.Ledger, operator, reason, kind)
	// What came of it, beside what was asked: an auditor reading the
	// actions can tell which of two tries took effect. Best effort: the
	// action itself is recorded, and the ledger and the store agree.
	result := "result: request " + got.Status.String()
	if got.ErrorCode != "" {
		result += " (" + got.ErrorCode + ")"
	}
	if err != nil {
		result = "not done: " + err.Error()
	}
	if rerr := s.recordAction(ctx, store.Action{RequestID: id, Kind: kind + "-result", Operator: operator, Reason: result, At: time.Now()}); rerr != nil {
		s.log.Warn("cannot record the result of a manual action", "request_id", id, "kind", kind, "err", rerr)
	}
	return got, err
}

// manualLedger posts or voids req's hold for an operator and records the
// ledger's answer in the store.
func (s *Settler) manualLedger(ctx context.Context, req store.Request, assetLedger uint32, operator, reason, kind string) (store.Request, error) {
	id := req.ID
	t, want := transfers.PostTransfer(req, assetLedger), store.StatusSuccess
	outcome := store.Outcome{}
	if kind == "void" {
		t, want = transfers.VoidTransfer(req, assetLedger), store.StatusFailed
		outcome = store.Outcome{ErrorCode: CodeVoided, ErrorMessage: fmt.Sprintf("voided by %s: %s", operator, reason)}
	}
	result, err := s.create(ctx, t)
	if err != nil {
		return req, fmt.Errorf("cannot %s hold of request %d: %w", kind, id, err)
	}
	switch result {
	case ledger.TransferOK, ledger.TransferExists:
		return s.finish(ctx, req, want, outcome)
	case ledger.TransferPendingTransferAlreadyPosted:
		got, err := s.finish(ctx, req, store.StatusSuccess, store.Outcome{})
		if err == nil && want != store.StatusSuccess {
			err = fmt.Errorf("cannot void request %d: %w (posted)", id, ErrLedgerDisagrees)
		}
		return got, err
	case ledger.TransferPendingTransferAlreadyVoided:
		if want == store.StatusFailed {
			return s.finish(ctx, req, want, outcome)
		}
		got, err := s.finish(ctx, req, store.StatusFailed, store.Outcome{ErrorCode: CodeVoided, ErrorMessage: "the hold was voided"})
		if err == nil {
			err = fmt.Errorf("cannot post request %d: %w (voided)", id, ErrLedgerDisagrees)
		}
		return got, err
	case ledger.TransferIDAlreadyFailed:
		// An earlier try of this id was refused (a post on a frozen
		// account): the ledger pins it, so only the other action remains.
		return req, fmt.Errorf("cannot %s request %d: an earlier %s of its hold was refused and the ledger keeps refusing it: %w", kind, id, kind, ErrLedgerDisagrees)
	default:
		tbErrors.Inc()
		return req, &ResultError{RequestID: id, Op: kind, Result: result}
	}
}

// Resend re-publishes the confirmation of open request id, so settlement
// posts it.
func (s *Settler) Resend(ctx context.Context, id uint64) error {
	req, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if req.Status.Final() {
		return fmt.Errorf("cannot resend request %d (%s): %w", id, req.Status, ErrFinal)
	}
	if req.Status == store.StatusRequesting {
		if req, err = s.resolveHold(ctx, req); err != nil {
			return err
		}
		if req.Status.Final() {
			return fmt.Errorf("cannot resend request %d (%s): %w", id, req.Status, ErrFinal)
		}
	}
	return s.publish(ctx, req)
}

func (s *Settler) recordAction(ctx context.Context, a store.Action) error {
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	if err := s.store.RecordAction(cctx, a); err != nil {
		dbErrors.Inc()
		return fmt.Errorf("cannot record %s of request %d by %s: %w", a.Kind, a.RequestID, a.Operator, err)
	}
	return nil
}
