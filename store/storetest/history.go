package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
)

// pagesMax bounds every paging loop of the suite, so a store whose cursor
// never ends fails instead of hanging.
const pagesMax = 1000

func (s suite) testHistory(t *testing.T) {
	st := s.store(t)
	// Times in the last half hour keep these requests out of the open-list
	// tests, which look hours back.
	base := now().Add(-20 * time.Minute)
	t.Run("pages newest first without gaps or duplicates", func(t *testing.T) {
		user := randID(t)
		var want []store.Request
		for i := range 25 {
			// Pairs share a creation time, so the id must break the tie.
			want = append(want, mustCreate(t, st, newRequest(t, user, randID(t), base.Add(time.Duration(i/2)*time.Millisecond))))
		}
		newestFirst(want)
		for _, limit := range []int{1, 7, 25, 100} {
			got := collectHistory(t, st, store.HistoryQuery{UserID: user, Limit: limit})
			if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
				t.Errorf("limit %d: ids (-want +got):\n%s", limit, diff)
			}
		}
		wantRequest(t, collectHistory(t, st, store.HistoryQuery{UserID: user, Limit: 3})[0], want[0], store.StatusRequesting)
	})
	t.Run("both sides of a cross-user transfer, a self-transfer once", func(t *testing.T) {
		a, b := randID(t), randID(t)
		cross := mustCreate(t, st, newRequest(t, a, b, base))
		self := mustCreate(t, st, newRequest(t, a, a, base.Add(time.Millisecond)))
		gotA := collectHistory(t, st, store.HistoryQuery{UserID: a, Limit: 10})
		if diff := cmp.Diff([]uint64{self.ID, cross.ID}, ids(gotA)); diff != "" {
			t.Errorf("sender's history (-want +got):\n%s", diff)
		}
		mustAdvance(t, st, cross.ID, store.StatusSuccess)
		gotB := collectHistory(t, st, store.HistoryQuery{UserID: b, Limit: 10})
		if len(gotB) != 1 || gotB[0].ID != cross.ID || gotB[0].Status != store.StatusSuccess {
			t.Errorf("receiver's history = %v, want only %d in success", gotB, cross.ID)
		}
	})
	t.Run("the requesting filter finds both sides until the request moves on", func(t *testing.T) {
		a, b := randID(t), randID(t)
		cross := mustCreate(t, st, newRequest(t, a, b, base))
		find := func(user uint64, status store.Status) []uint64 {
			return ids(collectHistory(t, st, store.HistoryQuery{UserID: user, Status: status, Limit: 10}))
		}
		for _, u := range []uint64{a, b} {
			if diff := cmp.Diff([]uint64{cross.ID}, find(u, store.StatusRequesting)); diff != "" {
				t.Errorf("user %d in requesting (-want +got):\n%s", u, diff)
			}
		}
		mustAdvance(t, st, cross.ID, store.StatusPending)
		for _, u := range []uint64{a, b} {
			if got := find(u, store.StatusRequesting); len(got) != 0 {
				t.Errorf("user %d in requesting after the advance: %v, want none", u, got)
			}
			if diff := cmp.Diff([]uint64{cross.ID}, find(u, store.StatusPending)); diff != "" {
				t.Errorf("user %d in pending (-want +got):\n%s", u, diff)
			}
		}
	})
	t.Run("status filter follows advances", func(t *testing.T) {
		testHistoryStatus(t, st, base)
	})
	t.Run("time range is [From, To)", func(t *testing.T) {
		testHistoryRange(t, st, base)
	})
	t.Run("limits and cursors are validated", func(t *testing.T) {
		user := randID(t)
		for _, limit := range []int{-1, 0, store.HistoryLimitMax + 1} {
			_, err := st.History(ctx(t), store.HistoryQuery{UserID: user, Limit: limit})
			wantErr(t, fmt.Sprintf("History(limit %d)", limit), err, store.ErrInvalid)
		}
		_, err := st.History(ctx(t), store.HistoryQuery{UserID: user, Limit: 10, Cursor: "!!not a cursor!!"})
		wantErr(t, "History(bad cursor)", err, store.ErrInvalid)
		page, err := st.History(ctx(t), store.HistoryQuery{UserID: user, Limit: store.HistoryLimitMax})
		if err != nil || len(page.Requests) != 0 || page.NextCursor != "" {
			t.Errorf("empty history = %d requests, cursor %q, err %v", len(page.Requests), page.NextCursor, err)
		}
	})
}

func testHistoryStatus(t *testing.T, st store.Store, base time.Time) {
	user := randID(t)
	byStatus := map[store.Status][]store.Request{}
	for i := range 12 {
		r := mustCreate(t, st, newRequest(t, user, user, base.Add(time.Duration(i)*time.Millisecond)))
		to := statuses[i%4]
		if to != store.StatusRequesting {
			r = mustAdvance(t, st, r.ID, to)
		}
		byStatus[to] = append(byStatus[to], r)
	}
	for _, status := range statuses {
		want := byStatus[status]
		newestFirst(want)
		got := collectHistory(t, st, store.HistoryQuery{UserID: user, Status: status, Limit: 2})
		if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
			t.Errorf("status %s: ids (-want +got):\n%s", status, diff)
		}
		for _, r := range got {
			if r.Status != status {
				t.Errorf("status %s filter returned %d in %s", status, r.ID, r.Status)
			}
		}
	}
}

func testHistoryRange(t *testing.T, st store.Store, base time.Time) {
	user := randID(t)
	var all []store.Request
	for i := range 20 {
		all = append(all, mustCreate(t, st, newRequest(t, user, user, base.Add(time.Duration(i)*time.Millisecond))))
	}
	at := func(i int) time.Time { return all[i].CreatedAt }
	cases := []struct {
		name     string
		from, to time.Time
		want     []store.Request
	}{
		{"both ends", at(5), at(15), all[5:15]},
		{"from only", at(12), time.Time{}, all[12:]},
		{"to only", time.Time{}, at(3), all[:3]},
		{"empty", at(7), at(7), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := append([]store.Request(nil), c.want...)
			newestFirst(want)
			got := collectHistory(t, st, store.HistoryQuery{UserID: user, From: c.from, To: c.to, Limit: 4})
			if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

// collectHistory pages through q to the end, checking the page contract: no
// page beyond Limit, a short page is the last, no id twice.
func collectHistory(t *testing.T, st store.Store, q store.HistoryQuery) []store.Request {
	t.Helper()
	var out []store.Request
	seen := map[uint64]bool{}
	for range pagesMax {
		page, err := st.History(ctx(t), q)
		if err != nil {
			t.Fatalf("History(%+v): %v", q, err)
		}
		if len(page.Requests) > q.Limit {
			t.Fatalf("page of %d requests, limit %d", len(page.Requests), q.Limit)
		}
		for _, r := range page.Requests {
			if seen[r.ID] {
				t.Fatalf("request %d returned twice", r.ID)
			}
			seen[r.ID] = true
			out = append(out, r)
		}
		if page.NextCursor == "" {
			return out
		}
		q.Cursor = page.NextCursor
	}
	t.Fatalf("history did not end within %d pages", pagesMax)
	return nil
}
