package embedded

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// TestReadsSeeWholeWrites reads while writers drive requests through their
// lives: every read must see a request and its index entries in one state —
// ListOpen never returns a final request, History never a stale copy, and
// statuses never go backwards for a reader.
func TestReadsSeeWholeWrites(t *testing.T) {
	const requests, readers = 150, 4
	s := openTest(t, Options{})
	ctx := context.Background()
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for id := uint64(1); id <= requests; id++ {
			if _, _, err := s.Create(ctx, testRequest(id, "", time.Now())); err != nil {
				t.Error(err)
				return
			}
			for _, to := range []store.Status{store.StatusPending, store.Status(3 + id%2)} {
				if _, err := s.Advance(ctx, id, to, store.Outcome{}); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[uint64]store.Status{}
			for !done.Load() {
				readOnce(t, s, seen)
			}
		}()
	}
	wg.Wait()
}

// readOnce lists open requests and user 7's history once, checking each
// request against what this reader saw before.
func readOnce(t *testing.T, s *Store, seen map[uint64]store.Status) {
	ctx := context.Background()
	open, err := s.ListOpen(ctx, store.OpenQuery{Before: time.Now().Add(time.Hour), Limit: store.OpenLimitMax})
	if err != nil {
		t.Error(err)
		return
	}
	hist, err := s.History(ctx, store.HistoryQuery{UserID: 7, Limit: store.HistoryLimitMax})
	if err != nil {
		t.Error(err)
		return
	}
	for _, r := range open.Requests {
		if r.Status.Final() {
			t.Errorf("ListOpen returned request %d in %s", r.ID, r.Status)
		}
	}
	for _, r := range append(open.Requests, hist.Requests...) {
		if r.Amount != 5 || r.UserID != 7 || r.ToUserID != 8 {
			t.Errorf("request %d read damaged: %+v", r.ID, r)
		}
		if r.Status < seen[r.ID] {
			t.Errorf("request %d went back from %s to %s", r.ID, seen[r.ID], r.Status)
		}
		seen[r.ID] = r.Status
	}
}
