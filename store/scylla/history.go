package scylla

import (
	"cmp"
	"context"
	"fmt"
	"math"

	"github.com/exchange/internal-transfer/store"
)

// key is a (created_at in milliseconds, request_id) clustering key.
type key struct{ ms, id int64 }

func (a key) less(b key) bool { return a.compare(b) < 0 }

func (a key) compare(b key) int {
	if c := cmp.Compare(a.ms, b.ms); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

func rowKey(row *requestRow) key { return key{row.CreatedAt.UnixMilli(), row.RequestID} }

// Page sizes of the bucket walks.
const (
	daysChunk         = 32  // days read from transfer_history_days per query
	historyPageRows   = 500 // rows fetched per round trip when a filter skips rows
	bucketsChunk      = 256 // minutes read from open_transfer_buckets per query
	countRowsMax      = 1_000_000
	countPageRows     = 5000
	actionsPerRequest = 1000
)

// History returns a page of the requests where q.UserID is either side,
// newest first; see store.Store.
//
// It walks the user's active days (transfer_history_days) from the newest
// that the page can reach down to q.From's day, reading each day partition
// newest first between the page's bounds. The walk is bounded twice: it
// visits only days that have rows, and it reads at most HistoryScanRowsMax
// rows. Without a status filter every row read is returned, so the second
// bound only matters when a status filter skips more rows than that: the
// call then returns the matches found so far (possibly fewer than Limit)
// with a cursor that resumes the walk where it stopped.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	if err := s.enter(ctx); err != nil {
		return store.HistoryPage{}, err
	}
	if q.Limit < 1 || q.Limit > store.HistoryLimitMax {
		return store.HistoryPage{}, fmt.Errorf("cannot read history: limit %d outside 1..%d: %w", q.Limit, store.HistoryLimitMax, store.ErrInvalid)
	}
	if q.Status != 0 && !q.Status.Valid() {
		return store.HistoryPage{}, fmt.Errorf("cannot read history: status %s: %w", q.Status, store.ErrInvalid)
	}
	c, resume, err := decodeCursor(q.Cursor, cursorHistory)
	if err != nil {
		return store.HistoryPage{}, fmt.Errorf("cannot read history: %w", err)
	}
	upper, lower := key{math.MaxInt64, math.MinInt64}, key{math.MinInt64, math.MinInt64}
	if !q.To.IsZero() {
		upper = key{ceilMillis(q.To), math.MinInt64} // created_at < To
	}
	if resume && (key{c.createdMs, c.requestID}).less(upper) {
		upper = key{c.createdMs, c.requestID}
	}
	if !q.From.IsZero() {
		lower = key{ceilMillis(q.From), math.MinInt64} // created_at >= From
	}
	h := historyScan{want: q.Limit + 1, budget: s.set.HistoryScanRowsMax}
	if q.Status != 0 {
		h.status = q.Status.String()
	}
	if lower.less(upper) {
		if err := s.walkDays(ctx, int64(q.UserID), upper, lower, &h); err != nil {
			return store.HistoryPage{}, fmt.Errorf("cannot read history of user %d: %w", q.UserID, err)
		}
	}
	return h.page(q.Limit)
}

// historyScan accumulates one History call.
type historyScan struct {
	want    int    // Limit+1: one more than the page, to know whether more follow
	status  string // "" for any
	budget  int    // rows left to read
	rows    []requestRow
	last    key  // key of the last row read, matching or not
	stopped bool // the budget ran out
}

func (h *historyScan) full() bool { return len(h.rows) >= h.want || h.stopped }

func (h *historyScan) page(limit int) (store.HistoryPage, error) {
	var p store.HistoryPage
	next := h.last
	switch {
	case len(h.rows) > limit:
		h.rows = h.rows[:limit]
		next = rowKey(&h.rows[limit-1])
		fallthrough
	case h.stopped:
		p.NextCursor = cursor{kind: cursorHistory, bucket: floorDiv(next.ms, dayMillis), createdMs: next.ms, requestID: next.id}.encode()
	}
	p.Requests = make([]store.Request, 0, len(h.rows))
	for i := range h.rows {
		r, err := h.rows[i].request()
		if err != nil {
			return store.HistoryPage{}, fmt.Errorf("cannot read history: %w", err)
		}
		p.Requests = append(p.Requests, r)
	}
	return p, nil
}

// walkDays visits the owner's days from upper's down to lower's, newest
// first, until h is full.
func (s *Store) walkDays(ctx context.Context, owner int64, upper, lower key, h *historyScan) error {
	newest, oldest := floorDiv(upper.ms, dayMillis), floorDiv(lower.ms, dayMillis)
	for !h.full() && newest >= oldest {
		var days []int64
		err := s.query(ctx, stmtDaysList, map[string]any{
			"owner_id": owner, "newest": newest, "oldest": oldest, "limit": daysChunk,
		}).SelectRelease(&days)
		if err != nil {
			return fmt.Errorf("cannot list days: %w", err)
		}
		for _, day := range days {
			if h.full() {
				return nil
			}
			if err := s.scanDay(ctx, owner, day, upper, lower, h); err != nil {
				return err
			}
		}
		if len(days) < daysChunk {
			return nil
		}
		newest = days[len(days)-1] - 1
	}
	return nil
}

// scanDay reads one day partition newest first between the bounds.
func (s *Store) scanDay(ctx context.Context, owner, day int64, upper, lower key, h *historyScan) error {
	// The LIMIT is what the scan may still read from this day: the rows
	// still wanted, or with a status filter the rows left in its budget.
	// Without it gocql would prefetch a next page nobody reads.
	pageRows, limit := h.want-len(h.rows), h.want-len(h.rows)
	if h.status != "" {
		pageRows, limit = historyPageRows, max(h.budget, 1)
	}
	iter := s.query(ctx, stmtHistoryPage, map[string]any{
		"owner_id": owner, "day_bucket": day,
		"upper[0]": upper.ms, "upper[1]": upper.id, "lower[0]": lower.ms, "lower[1]": lower.id,
		"limit": limit,
	}).PageSize(pageRows).Iter()
	var row requestRow
	for !h.full() && iter.StructScan(&row) {
		h.budget--
		h.last = rowKey(&row)
		if h.status == "" || row.Status == h.status {
			h.rows = append(h.rows, row)
		}
		if h.budget <= 0 && len(h.rows) < h.want {
			h.stopped = true
		}
		row = requestRow{}
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("cannot read day %d: %w", day, err)
	}
	return nil
}
