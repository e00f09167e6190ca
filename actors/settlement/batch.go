package settlement

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// storeWritersMax bounds the concurrent store reads, and then writes, of
// one batch.
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
	ids      []uint64 // the requests named, each once, in record order
	first    []int    // index in confs of each id's first record
	got      []store.Request
	getErrs  []error
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
	b.ids, b.first = b.ids[:0], b.first[:0]
	for i, c := range confs {
		if _, seen := byID[c.RequestID]; !seen {
			byID[c.RequestID] = nil
			b.ids, b.first = append(b.ids, c.RequestID), append(b.first, i)
		}
	}
	b.got, b.getErrs = sized(b.got, len(b.ids)), sized(b.getErrs, len(b.ids))
	s.readAll(ctx, b)
	for k, id := range b.ids {
		c, req, err := confs[b.first[k]], b.got[k], b.getErrs[k]
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, byID[id] = s.SettleRecord(ctx, c)
			continue
		case err != nil:
			byID[id] = err
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
	// at once lets the store group their syncs.
	b.postErrs = sized(b.postErrs, len(reqs))
	eachAtOnce(len(reqs), func(i int) { _, b.postErrs[i] = s.posted(ctx, reqs[i], b.assets[i], results[i]) },
		func(i int, err error) { b.postErrs[i] = err })
	for i, req := range reqs {
		b.byID[req.ID] = b.postErrs[i]
	}
}

// readSequentialMax is how long a batch reads its requests one after
// another before it reads the rest storeWritersMax at once.
const readSequentialMax = time.Millisecond

// readAll reads the requests of b.ids into b.got and b.getErrs. One after
// another while reads are fast (the embedded store answers from memory in
// microseconds, less than starting goroutines costs), then, once they took
// readSequentialMax, the rest a few at once: read one after another, a
// batch's reads from a remote store that slowed down took the whole batch's
// deadline, which failed every record of it, attempt after attempt. A
// panic in a read one after another restarts the partition actor, as one
// anywhere on its goroutine does; in the reads at once it is that record's
// error (eachAtOnce).
func (s *Settler) readAll(ctx context.Context, b *batchScratch) {
	start := time.Now()
	i := 0
	for ; i < len(b.ids) && (i == 0 || time.Since(start) < readSequentialMax); i++ {
		b.got[i], b.getErrs[i] = s.get(ctx, b.ids[i])
	}
	rest := i
	eachAtOnce(len(b.ids)-rest, func(k int) { b.got[rest+k], b.getErrs[rest+k] = s.get(ctx, b.ids[rest+k]) },
		func(k int, err error) { b.getErrs[rest+k] = err })
}

// eachAtOnce calls f(i) for every i in 0..n-1 on up to storeWritersMax
// goroutines of their own, each taking the next index, and returns once all
// are done, so the batch's scratch is free again. A panic in f(i) is
// recovered and given to failed(i, err) as that record's error: the record
// fails and is retried like any other, where the panic, on a goroutine of
// its own, would end the process — and then, its partition moved to another
// node by the rebalance, that node's too.
func eachAtOnce(n int, f func(i int), failed func(i int, err error)) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	call := func(i int) {
		defer func() {
			if r := recover(); r != nil {
				failed(i, fmt.Errorf("BUG: settlement panicked: %v\n%s", r, debug.Stack()))
			}
		}()
		f(i)
	}
	for range min(n, storeWritersMax) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				call(i)
			}
		})
	}
	wg.Wait()
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
