package scylla

import (
	"testing"
	"time"
)

func pageRows(n int) []requestRow {
	rows := make([]requestRow, n)
	base := time.UnixMilli(1_764_000_000_000).UTC()
	for i := range rows {
		rows[i] = requestRow{RequestID: int64(100 + i), Status: "pending", CreatedAt: base.Add(time.Duration(i) * time.Second)}
	}
	return rows
}

// TestPageCursors checks how pages end: one row more than the limit means
// a cursor at the last row returned; fewer means the last page; a history
// scan stopped by its budget resumes after the last row it read.
func TestPageCursors(t *testing.T) {
	t.Run("open: more rows than the limit", func(t *testing.T) {
		rows := pageRows(4)
		p, err := openPage(rows, 3)
		if err != nil || len(p.Requests) != 3 {
			t.Fatalf("page = %d requests, %v", len(p.Requests), err)
		}
		c, ok, err := decodeCursor(p.NextCursor, cursorOpen)
		if err != nil || !ok || c.requestID != rows[2].RequestID || c.createdMs != rows[2].CreatedAt.UnixMilli() {
			t.Fatalf("cursor %+v (%v, %v), want the third row", c, ok, err)
		}
	})
	t.Run("open: last page", func(t *testing.T) {
		if p, err := openPage(pageRows(3), 3); err != nil || len(p.Requests) != 3 || p.NextCursor != "" {
			t.Fatalf("page = %d requests, cursor %q, %v; want 3 and none", len(p.Requests), p.NextCursor, err)
		}
	})
	t.Run("history: budget stop resumes after the last row read", func(t *testing.T) {
		rows := pageRows(2)
		h := historyScan{want: 6, rows: rows, last: key{rows[1].CreatedAt.UnixMilli() + 5000, 7}, stopped: true}
		p, err := h.page(5)
		if err != nil || len(p.Requests) != 2 {
			t.Fatalf("page = %d requests, %v", len(p.Requests), err)
		}
		c, ok, err := decodeCursor(p.NextCursor, cursorHistory)
		if err != nil || !ok || c.requestID != 7 || c.createdMs != h.last.ms {
			t.Fatalf("cursor %+v (%v, %v), want the last row read", c, ok, err)
		}
	})
	t.Run("history: full page", func(t *testing.T) {
		rows := pageRows(3)
		h := historyScan{want: 3, rows: rows, last: rowKey(&rows[2])}
		p, err := h.page(2)
		if err != nil || len(p.Requests) != 2 || p.Requests[1].ID != uint64(rows[1].RequestID) {
			t.Fatalf("page = %+v, %v", p.Requests, err)
		}
		if c, _, _ := decodeCursor(p.NextCursor, cursorHistory); c.requestID != rows[1].RequestID {
			t.Fatalf("cursor at %d, want %d", c.requestID, rows[1].RequestID)
		}
	})
	t.Run("history: end", func(t *testing.T) {
		h := historyScan{want: 3, rows: pageRows(2)}
		if p, err := h.page(2); err != nil || p.NextCursor != "" || len(p.Requests) != 2 {
			t.Fatalf("page = %d requests, cursor %q, %v", len(p.Requests), p.NextCursor, err)
		}
	})
	t.Run("corrupt row", func(t *testing.T) {
		rows := pageRows(1)
		rows[0].Status = "settled"
		p, err := openPage(rows, 1)
		if err != nil || len(p.Requests) != 0 || len(p.Unreadable) != 1 || p.Unreadable[0] != uint64(rows[0].RequestID) {
			t.Fatalf("page %+v, %v: want the row in an unknown status named unreadable, not returned", p, err)
		}
	})
}
