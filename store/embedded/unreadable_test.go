package embedded

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/store"
)

// TestListOpenPassesOverUnreadableRequests: an open request whose row is
// damaged, or missing beside its open entry, is listed by id in
// OpenPage.Unreadable, in its place, instead of failing every page from it
// on (which stalled the scanner on it for ever, leaving every later open
// request undriven).
func TestListOpenPassesOverUnreadableRequests(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	for i := range uint64(6) {
		if _, _, err := s.Create(ctx, testRequest(i+1, "", base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Set(appendRequestKey(nil, 2), []byte{0xde, 0xad}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Delete(appendRequestKey(nil, 3), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 2, 4, store.OpenLimitMax} {
		var listed, unreadable []uint64
		q := store.OpenQuery{Before: time.Now(), Limit: limit}
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatalf("limit %d: no end after %d pages", limit, page)
			}
			p, err := s.ListOpen(ctx, q)
			if err != nil {
				t.Fatalf("limit %d, page %d: %v", limit, page, err)
			}
			if n := len(p.Requests) + len(p.Unreadable); n > limit || n < limit && p.NextCursor != "" {
				t.Fatalf("limit %d: page of %d entries with cursor %q", limit, n, p.NextCursor)
			}
			for _, r := range p.Requests {
				listed = append(listed, r.ID)
			}
			unreadable = append(unreadable, p.Unreadable...)
			if p.NextCursor == "" {
				break
			}
			q.Cursor = p.NextCursor
		}
		if !slices.Equal(listed, []uint64{1, 4, 5, 6}) || !slices.Equal(unreadable, []uint64{2, 3}) {
			t.Errorf("limit %d: listed %v, unreadable %v; want [1 4 5 6] and [2 3]", limit, listed, unreadable)
		}
	}
}
