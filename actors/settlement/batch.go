package settlement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// storeWritersMax bounds the concurrent store writes of one batch.
const storeWritersMax = 16

// batchScratch is the memory one batch needs, kept between batches by the
// partition actor that settles them one at a time (partition.scratch), so a
// busy partition allocates almost nothing per batch.
type batchScratch struct {
	// consumer.handle's: the step's records (partition.peekInto), an error
	// per record, the decoded confirmations and their index in recs.
	recs  []*kgo.Record
	errs  []error
	confs []stream.Confirmation
	at    []int
	// settleBatch's.
	confErrs []error
	byID     map[uint64]error
	posts    []ledger.Transfer
	reqs     []store.Request
	assets   []uint32
	postErrs []error
	results  []ledger.CreateTransferResult
}

// reset empties settleBatch's part of the scratch for a batch of n
// records, dropping what the last one referenced.
func (b *batchScratch) reset(n int) {
	clear(b.reqs)
	clear(b.confErrs)
	clear(b.postErrs)
	if b.byID == nil {
		b.byID = make(map[uint64]error, n)
	}
	clear(b.byID)
	b.posts, b.reqs, b.assets = b.posts[:0], b.reqs[:0], b.assets[:0]
	// Sized for the common batch, where every record is a pending request
	// to post: growing them by appends allocated about twice as much.
	b.posts = slices.Grow(b.posts, n)
	b.reqs = slices.Grow(b.reqs, n)
	b.assets = slices.Grow(b.assets, n)
}

// sized returns s with length n and every element zero, reusing its memory.
func sized[T any](s []T, n int) []T {
	s = slices.Grow(s[:0], n)[:n]
	clear(s)
	return s
}

// SettleBatch settles the requests of confs like SettleRecord, but posts
// every plain pending hold among them in one ledger call (at most
// ledger.BatchEventsMax), so a busy partition pays one ledger round trip per
// batch rather than per record. errs[i] is the outcome of confs[i]; a request
// named twice is settled once.
func (s *Settler) SettleBatch(ctx context.Context, confs []stream.Confirmation) (errs []error) {
	return slices.Clone(s.settleBatch(ctx, confs, &batchScratch{}))
}

// settleBatch is SettleBatch in b's memory; the result is b.confErrs.
func (s *Settler) settleBatch(ctx context.Context, confs []stream.Confirmation, b *batchScratch) []error {
	if len(confs) > ledger.BatchEventsMax {
		panic(fmt.Sprintf("BUG: SettleBatch of %d records, more than %d", len(confs), ledger.BatchEventsMax))
	}
	b.reset(len(confs))
	byID := b.byID
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
		b.posts = append(b.posts, transfers.PostTransfer(req, asset.Ledger))
		b.reqs, b.assets = append(b.reqs, req), append(b.assets, asset.Ledger)
	}
	if len(b.posts) > 0 {
		s.postAll(ctx, b)
	}
	b.confErrs = sized(b.confErrs, len(confs))
	for i, c := range confs {
		b.confErrs[i] = byID[c.RequestID]
	}
	return b.confErrs
}

// postAll submits b.posts in one call and records each outcome in b.byID.
func (s *Settler) postAll(ctx context.Context, b *batchScratch) {
	reqs := b.reqs
	results, err := s.createMany(ctx, b.posts, b.results)
	b.results = results
	if err != nil {
		// The ledger may still read the posts: the batcher keeps a
		// submission whose caller gave up queued until its turn, and a
		// TigerBeetle client may still be sending them. Never reuse them.
		b.posts = nil
		for _, req := range reqs {
			b.byID[req.ID] = fmt.Errorf("cannot post hold of request %d: %w", req.ID, err)
		}
		return
	}
	for _, req := range reqs {
		s.hookLedger(req)
	}
	// Store writes of different requests are independent; running a few
	// at once lets the store group their syncs. Each writer takes the next
	// request by index (a captured copy of a request would be allocated).
	b.postErrs = sized(b.postErrs, len(reqs))
	var next atomic.Int64
	write := func() {
		for i := int(next.Add(1) - 1); i < len(reqs); i = int(next.Add(1) - 1) {
			_, b.postErrs[i] = s.posted(ctx, reqs[i], b.assets[i], results[i])
		}
	}
	// All on goroutines of their own: a panic there ends the process, where
	// on the actor's goroutine it would restart the actor while the other
	// writers still use the scratch.
	var wg sync.WaitGroup
	for range min(len(reqs), storeWritersMax) {
		wg.Go(write)
	}
	wg.Wait()
	for i, req := range reqs {
		b.byID[req.ID] = b.postErrs[i]
	}
}

// createMany submits transfers in one call and returns every event's result,
// in results' memory.
func (s *Settler) createMany(ctx context.Context, ts []ledger.Transfer, results []ledger.CreateTransferResult) ([]ledger.CreateTransferResult, error) {
	cctx, cancel := deadline.Within(ctx, s.callTimeout)
	defer cancel()
	failed, err := s.ledger.CreateTransfers(cctx, ts)
	if err != nil {
		tbErrors.Inc()
		return results, err
	}
	results = sized(results, len(ts)) // TransferOK unless reported
	for _, r := range failed {
		if int(r.Index) >= len(ts) {
			panic(fmt.Sprintf("BUG: ledger returned result index %d for a batch of %d", r.Index, len(ts)))
		}
		results[r.Index] = r.Result
	}
	return results, nil
}
