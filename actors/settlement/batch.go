package settlement

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// storeWritersMax bounds the concurrent store writes of one batch.
const storeWritersMax = 16

// SettleBatch settles the requests of confs like SettleRecord, but posts
// every plain pending hold among them in one ledger call (at most
// ledger.BatchEventsMax), so a busy partition pays one ledger round trip per
// batch rather than per record. errs[i] is the outcome of confs[i]; a request
// named twice is settled once.
func (s *Settler) SettleBatch(ctx context.Context, confs []stream.Confirmation) (errs []error) {
	if len(confs) > ledger.BatchEventsMax {
		panic(fmt.Sprintf("BUG: SettleBatch of %d records, more than %d", len(confs), ledger.BatchEventsMax))
	}
	errs = make([]error, len(confs))
	byID := make(map[uint64]error, len(confs))
	// Sized for the common batch, where every record is a pending request
	// to post: growing them by appends allocated about twice as much.
	posts := make([]ledger.Transfer, 0, len(confs))
	postReqs := make([]store.Request, 0, len(confs))
	assets := make([]uint32, 0, len(confs))
	for _, c := range confs {
		if _, seen := byID[c.RequestID]; seen {
			continue
		}
		byID[c.RequestID] = nil
		req, err := s.get(ctx, c.RequestID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, byID[c.RequestID] = s.SettleRecord(ctx, c)
			continue
		case err != nil:
			byID[c.RequestID] = err
			continue
		case req.Status.Final():
			continue
		}
		asset, ok := s.catalog.Asset(req.Asset)
		if req.Status != store.StatusPending || !ok ||
			!s.catalog.RouteAllowed(req.FromAccountType, req.ToAccountType, req.UserID != req.ToUserID) {
			_, byID[c.RequestID] = s.SettleRequest(ctx, c.RequestID) // the rare paths, one by one
			continue
		}
		posts = append(posts, transfers.PostTransfer(req, asset.Ledger))
		postReqs, assets = append(postReqs, req), append(assets, asset.Ledger)
	}
	if len(posts) > 0 {
		s.postAll(ctx, posts, postReqs, assets, byID)
	}
	for i, c := range confs {
		errs[i] = byID[c.RequestID]
	}
	return errs
}

// postAll submits posts in one call and records each outcome in byID.
func (s *Settler) postAll(ctx context.Context, posts []ledger.Transfer, reqs []store.Request, assets []uint32, byID map[uint64]error) {
	results, err := s.createMany(ctx, posts)
	if err != nil {
		for _, req := range reqs {
			byID[req.ID] = fmt.Errorf("cannot post hold of request %d: %w", req.ID, err)
		}
		return
	}
	for _, req := range reqs {
		s.hookLedger(req)
	}
	// Store writes of different requests are independent; running a few
	// at once lets the store group their syncs.
	errs := make([]error, len(reqs))
	sem := make(chan struct{}, storeWritersMax)
	var wg sync.WaitGroup
	for i := range reqs { // by index: a captured copy of each request would be allocated
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, errs[i] = s.posted(ctx, reqs[i], assets[i], results[i])
		}()
	}
	wg.Wait()
	for i, req := range reqs {
		byID[req.ID] = errs[i]
	}
}

// createMany submits transfers in one call and returns every event's result.
func (s *Settler) createMany(ctx context.Context, ts []ledger.Transfer) ([]ledger.CreateTransferResult, error) {
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	failed, err := s.ledger.CreateTransfers(cctx, ts)
	if err != nil {
		tbErrors.Inc()
		return nil, err
	}
	results := make([]ledger.CreateTransferResult, len(ts)) // TransferOK unless reported
	for _, r := range failed {
		if int(r.Index) >= len(ts) {
			panic(fmt.Sprintf("BUG: ledger returned result index %d for a batch of %d", r.Index, len(ts)))
		}
		results[r.Index] = r.Result
	}
	return results, nil
}
