package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
)

// oldBase returns a random creation time a few hours back, earlier than
// every other test's requests, so the open-list checks can tell the suite's
// rows from foreign ones by time.
func oldBase(t *testing.T, hoursBack int) time.Time {
	jitter := time.Duration(randID(t)%600_000) * time.Millisecond // < 10 min
	return now().Add(-time.Duration(hoursBack)*time.Hour + jitter)
}

func (s suite) testListOpen(t *testing.T) {
	st := s.store(t)
	base := oldBase(t, 3)
	var want []store.Request
	for i := range 14 {
		r := mustCreate(t, st, newRequest(t, randID(t), randID(t), base.Add(time.Duration(i/2)*time.Millisecond)))
		switch i % 4 {
		case 1:
			want = append(want, mustAdvance(t, st, r.ID, store.StatusPending))
		case 2:
			mustAdvance(t, st, r.ID, statuses[2+i%8/4])
		default:
			want = append(want, r)
		}
	}
	cutoff := base.Add(5 * time.Millisecond)
	late := mustCreate(t, st, newRequest(t, randID(t), randID(t), base.Add(10*time.Millisecond)))
	sortOldestFirst(want)
	var inCutoff []store.Request
	for _, r := range want {
		if r.CreatedAt.Before(cutoff) {
			inCutoff = append(inCutoff, r)
		}
	}
	t.Run("pages oldest first, final and young left out", func(t *testing.T) {
		for _, limit := range []int{1, 3, store.OpenLimitMax} {
			got := ours(collectOpen(t, st, store.OpenQuery{Before: cutoff, Limit: limit}), want, late)
			if diff := cmp.Diff(ids(inCutoff), ids(got)); diff != "" {
				t.Errorf("limit %d: ids (-want +got):\n%s", limit, diff)
			}
		}
	})
	t.Run("later cut-off takes the young", func(t *testing.T) {
		got := ours(collectOpen(t, st, store.OpenQuery{Before: late.CreatedAt.Add(time.Millisecond), Limit: 5}), want, late)
		if diff := cmp.Diff(append(ids(want), late.ID), ids(got)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
	t.Run("a busy minute pages whole and in order", func(t *testing.T) {
		// Enough open requests in one minute that a page ends inside it
		// and a sharded store's shards fill their reads; some share a
		// created_at, so ties go by id.
		minute := oldBase(t, 4).Truncate(time.Minute)
		var busy []store.Request
		for i := range 150 {
			busy = append(busy, mustCreate(t, st, newRequest(t, randID(t), randID(t), minute.Add(time.Duration(i/3)*time.Second))))
		}
		sortOldestFirst(busy)
		for _, limit := range []int{1, 7, 64, store.OpenLimitMax} {
			got := ours(collectOpen(t, st, store.OpenQuery{Before: minute.Add(time.Minute), Limit: limit}), busy)
			if diff := cmp.Diff(ids(busy), ids(got)); diff != "" {
				t.Errorf("limit %d: ids (-want +got):\n%s", limit, diff)
			}
		}
	})
	t.Run("limits and cursors are validated", func(t *testing.T) {
		for _, limit := range []int{-1, 0, store.OpenLimitMax + 1} {
			_, err := st.ListOpen(ctx(t), store.OpenQuery{Before: cutoff, Limit: limit})
			wantErr(t, fmt.Sprintf("ListOpen(limit %d)", limit), err, store.ErrInvalid)
		}
		_, err := st.ListOpen(ctx(t), store.OpenQuery{Before: cutoff, Limit: 10, Cursor: "!!not a cursor!!"})
		wantErr(t, "ListOpen(bad cursor)", err, store.ErrInvalid)
	})
}

// ours keeps the requests of got that the test created, in got's order.
func ours(got []store.Request, created []store.Request, more ...store.Request) []store.Request {
	mine := map[uint64]bool{}
	for _, r := range append(append([]store.Request(nil), created...), more...) {
		mine[r.ID] = true
	}
	var out []store.Request
	for _, r := range got {
		if mine[r.ID] {
			out = append(out, r)
		}
	}
	return out
}

func sortOldestFirst(rs []store.Request) {
	newestFirst(rs)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
}

// collectOpen pages through q to the end, checking every returned request
// (the suite's or not) is open, older than the cut-off, in order and new.
func collectOpen(t *testing.T, st store.Store, q store.OpenQuery) []store.Request {
	t.Helper()
	var out []store.Request
	seen := map[uint64]bool{}
	for range pagesMax {
		page, err := st.ListOpen(ctx(t), q)
		if err != nil {
			t.Fatalf("ListOpen(%+v): %v", q, err)
		}
		if len(page.Requests) > q.Limit || len(page.Requests) < q.Limit && page.NextCursor != "" {
			t.Fatalf("page of %d requests (limit %d) with cursor %q", len(page.Requests), q.Limit, page.NextCursor)
		}
		for _, r := range page.Requests {
			if seen[r.ID] || r.Status.Final() || !r.CreatedAt.Before(q.Before) {
				t.Fatalf("ListOpen returned request %d (%s, created %s, seen %v) for cut-off %s", r.ID, r.Status, r.CreatedAt, seen[r.ID], q.Before)
			}
			if n := len(out); n > 0 && (r.CreatedAt.Before(out[n-1].CreatedAt) ||
				r.CreatedAt.Equal(out[n-1].CreatedAt) && r.ID < out[n-1].ID) {
				t.Fatalf("ListOpen out of order: %d after %d", r.ID, out[n-1].ID)
			}
			seen[r.ID] = true
			out = append(out, r)
		}
		if page.NextCursor == "" {
			return out
		}
		q.Cursor = page.NextCursor
	}
	t.Fatalf("ListOpen did not end within %d pages", pagesMax)
	return nil
}

// testCountOpen checks what the suite's own requests add to the counts.
func (s suite) testCountOpen(t *testing.T) {
	st := s.store(t)
	old := oldBase(t, 6)
	stuckBefore := old.Add(time.Hour)
	count := func() store.OpenCounts {
		c, err := st.CountOpen(ctx(t), stuckBefore)
		if err != nil {
			t.Fatalf("CountOpen: %v", err)
		}
		return c
	}
	before := count()
	create := func(created time.Time, to store.Status) {
		r := mustCreate(t, st, newRequest(t, randID(t), randID(t), created))
		if to != store.StatusRequesting {
			mustAdvance(t, st, r.ID, to)
		}
	}
	// Old (stuck when open): 2 requesting, 1 pending, 1 success, 1 failed.
	// Young: 3 requesting, 2 pending, 1 success.
	for _, to := range []store.Status{1, 1, 2, 3, 4} {
		create(old, to)
	}
	for _, to := range []store.Status{1, 1, 1, 2, 2, 3} {
		create(now(), to)
	}
	after := count()
	got := store.OpenCounts{
		Requesting: after.Requesting - before.Requesting,
		Pending:    after.Pending - before.Pending,
		Stuck:      after.Stuck - before.Stuck,
	}
	if want := (store.OpenCounts{Requesting: 5, Pending: 3, Stuck: 3}); got != want {
		t.Errorf("counts grew by %+v, want %+v", got, want)
	}
}
