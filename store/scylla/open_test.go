package scylla

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exchange/internal-transfer/store"
)

// TestOpenShardLayout pins where open rows live. The shard of a request is
// part of the stored data: a changed hash would leave every open row of a
// running keyspace in a shard the scanner no longer derives for it (the
// delete of a final request would miss it). The ids are laid out as
// transfers.IDGenerator makes them, one a millisecond from one node: the
// sequence bits are all zero, and the shards must still be used evenly.
func TestOpenShardLayout(t *testing.T) {
	for id, want := range map[uint64]int{0: 0, 1: 9, 1 << 22: 6, 0x0123_4567_89ab_cdef: 0, math.MaxInt64: 14} {
		if got := openShard(id); got != want {
			t.Errorf("openShard(%#x) = %d, want %d (the layout must never change)", id, got, want)
		}
	}
	const ids = 160_000
	var per [openShards]int
	start := uint64(60_000_000_000) // ms since the id epoch
	for ms := range uint64(ids) {
		id := (start+ms)<<22 | 7<<12 // node 7, sequence 0
		shard := openShard(id)
		if shard < 0 || shard >= openShards {
			t.Fatalf("openShard(%#x) = %d, outside 0..%d", id, shard, openShards-1)
		}
		per[shard]++
	}
	even := ids / openShards
	for shard, n := range per {
		if n < even*3/4 || n > even*5/4 {
			t.Errorf("shard %d holds %d of %d ids, want about %d: %v", shard, n, ids, even, per)
		}
	}
}

// shardModel is open_transfer_requests for one minute: each shard's rows in
// key order, read as stmtOpenPage reads them.
type shardModel struct {
	shards [openShards][]requestRow
	fail   int // shard whose reads fail (-1: none)
}

func (m *shardModel) read(_ context.Context, shard int, lower key, per int, page *[]requestRow) error {
	if shard == m.fail {
		return errors.New("read timed out")
	}
	rows := m.shards[shard]
	i, _ := slices.BinarySearchFunc(rows, lower, func(r requestRow, k key) int {
		if rowKey(&r).less(k) || rowKey(&r) == k {
			return -1
		}
		return 1
	})
	*page = append([]requestRow(nil), rows[i:min(len(rows), i+per)]...)
	return nil
}

// newShardModel spreads n open rows of one minute over the shards, by
// openShard or all into one shard (skewed), with created_at ties.
func newShardModel(rng *rand.Rand, n int, skewed bool) (*shardModel, []requestRow) {
	m := &shardModel{fail: -1}
	var all []requestRow
	base := time.UnixMilli(1_764_000_000_000).UTC()
	for range n {
		row := requestRow{RequestID: int64(rng.Uint64() >> 1), CreatedAt: base.Add(time.Duration(rng.IntN(500)) * time.Millisecond)}
		shard := openShard(uint64(row.RequestID))
		if skewed {
			shard = 5
		}
		m.shards[shard] = append(m.shards[shard], row)
		all = append(all, row)
	}
	byKey := func(a, b requestRow) int { return rowKey(&a).compare(rowKey(&b)) }
	for i := range m.shards {
		slices.SortFunc(m.shards[i], byKey)
	}
	slices.SortFunc(all, byKey)
	return m, all
}

func rowIDs(rows []requestRow) []int64 {
	out := make([]int64, len(rows))
	for i := range rows {
		out[i] = rows[i].RequestID
	}
	return out
}

// TestMergeShardsPagesLikeOnePartition checks openRows' merge against the
// minute read as one sorted partition: every page is exactly the next limit
// rows in key order, and paging from the last row returned visits every
// row once, whatever the spread over the shards and the limit.
func TestMergeShardsPagesLikeOnePartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := key{1_764_000_000_000 - 1, math.MaxInt64}
	for _, n := range []int{0, 1, 15, 16, 17, 200, 1500} {
		for _, skewed := range []bool{false, true} {
			for _, limit := range []int{1, 2, 7, 64, 1001} {
				t.Run(fmt.Sprintf("rows=%d/skewed=%v/limit=%d", n, skewed, limit), func(t *testing.T) {
					m, all := newShardModel(rng, n, skewed)
					var got []requestRow
					lower := start
					for pages := 0; ; pages++ {
						if pages > n+1 {
							t.Fatalf("no end after %d pages", pages)
						}
						page, err := mergeShards(context.Background(), lower, limit, m.read)
						if err != nil {
							t.Fatal(err)
						}
						rest := all[len(got):]
						if want := rest[:min(limit, len(rest))]; !slices.Equal(rowIDs(page), rowIDs(want)) {
							t.Fatalf("page %d after %d rows:\n%s", pages, len(got), cmp.Diff(rowIDs(want), rowIDs(page)))
						}
						got = append(got, page...)
						if len(page) < limit {
							break
						}
						lower = rowKey(&page[len(page)-1])
					}
					if len(got) != n {
						t.Fatalf("paged %d rows of %d", len(got), n)
					}
				})
			}
		}
	}
}

// TestMergeShardsReadsEvenShares checks the cost: with rows spread by
// openShard, a page of the scanner's size costs one round (a read of each
// shard) nearly always, and asks each shard for far fewer rows than the page.
func TestMergeShardsReadsEvenShares(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const pages, limit = 20, 1001
	var (
		mu           sync.Mutex // the reads of a round run at once
		reads, asked int
	)
	for range pages {
		m, _ := newShardModel(rng, 5*limit, false)
		counted := func(ctx context.Context, shard int, lower key, per int, page *[]requestRow) error {
			mu.Lock()
			reads, asked = reads+1, max(asked, per)
			mu.Unlock()
			return m.read(ctx, shard, lower, per, page)
		}
		got, err := mergeShards(context.Background(), key{0, 0}, limit, counted)
		if err != nil || len(got) != limit {
			t.Fatalf("page of %d rows, %v; want %d", len(got), err, limit)
		}
	}
	if rounds := float64(reads) / openShards / pages; rounds > 1.2 {
		t.Errorf("%.2f rounds a page on average, want about 1", rounds)
	}
	if asked > 2*limit/openShards+2 {
		t.Errorf("asked a shard for %d rows, want about %d", asked, 2*limit/openShards)
	}
}

// TestMergeShardsFailsWithAnyShard: a page is never made of the shards
// that answered; one failed shard fails the read.
func TestMergeShardsFailsWithAnyShard(t *testing.T) {
	m, _ := newShardModel(rand.New(rand.NewPCG(5, 6)), 100, false)
	m.fail = 11
	if rows, err := mergeShards(context.Background(), key{0, 0}, 10, m.read); err == nil {
		t.Fatalf("read with shard 11 failing returned %d rows and no error", len(rows))
	}
}

// TestOpenPageNamesUnreadableRows: a damaged open row (a status no version
// writes) takes its place in the page by id instead of failing the page,
// and the cursor still follows the page's last row.
func TestOpenPageNamesUnreadableRows(t *testing.T) {
	base := time.UnixMilli(1_764_000_000_000).UTC()
	var rows []requestRow
	for i := range 4 {
		rows = append(rows, requestRow{RequestID: int64(10 + i), Status: "pending", CreatedAt: base.Add(time.Duration(i) * time.Millisecond)})
	}
	rows[1].Status = "settled"
	p, err := openPage(rows, 3)
	if err != nil {
		t.Fatal(err)
	}
	var listed []uint64
	for _, r := range p.Requests {
		listed = append(listed, r.ID)
	}
	if !slices.Equal(listed, []uint64{10, 12}) || !slices.Equal(p.Unreadable, []uint64{11}) {
		t.Fatalf("listed %v, unreadable %v; want [10 12] and [11]", listed, p.Unreadable)
	}
	c, ok, err := decodeCursor(p.NextCursor, cursorOpen)
	if err != nil || !ok || c.requestID != 12 {
		t.Fatalf("cursor %+v, %v, %v; want one after request 12", c, ok, err)
	}
}

// countModel is a minute's open rows by shard, as stmtOpenCount reads them.
type countModel struct {
	shards [openShards][]requestRow
	fail   int // shard whose read fails after its first row (-1: none)
}

func (m *countModel) rows(_ context.Context, shard int, row func(string, time.Time) bool) error {
	for i, r := range m.shards[shard] {
		if shard == m.fail && i == 1 {
			return errors.New("read timed out")
		}
		if !row(r.Status, r.CreatedAt) {
			break
		}
	}
	return nil
}

// TestCountShards: a minute's shards, counted at once, give the counts of
// the minute read whole; the limit bounds the rows read by all shards
// together; a damaged row takes a place in the limit but no count; a failed
// shard fails the count and leaves lower bounds.
func TestCountShards(t *testing.T) {
	base := time.UnixMilli(1_764_000_000_000).UTC()
	stuckBefore := base.Add(30 * time.Second)
	m := &countModel{fail: -1}
	var want store.OpenCounts
	for i := range 300 {
		r := requestRow{RequestID: int64(i + 1), Status: "pending", CreatedAt: base.Add(time.Duration(i) * 100 * time.Millisecond)}
		switch {
		case i%3 == 0:
			r.Status = "requesting"
			want.Requesting++
		case i%97 == 0:
			r.Status = "settled" // damaged
		default:
			want.Pending++
		}
		if r.Status != "settled" && r.CreatedAt.Before(stuckBefore) {
			want.Stuck++
		}
		m.shards[openShard(uint64(r.RequestID))] = append(m.shards[openShard(uint64(r.RequestID))], r)
	}
	got, read, err := countShards(context.Background(), 1_000, stuckBefore, m.rows)
	if err != nil || got != want || read != 300 {
		t.Fatalf("whole minute: %+v, %d rows read, %v; want %+v and 300", got, read, err, want)
	}
	for _, limit := range []int{1, 7, 150, 299} {
		got, read, err := countShards(context.Background(), limit, stuckBefore, m.rows)
		if n := got.Requesting + got.Pending; err != nil || read != limit || n > limit || n < limit-2 {
			t.Fatalf("limit %d: %+v, %d rows read, %v; want %d rows read and counted (but the damaged)", limit, got, read, err, limit)
		}
	}
	m.fail = 3
	if got, _, err := countShards(context.Background(), 1_000, stuckBefore, m.rows); err == nil ||
		got.Requesting > want.Requesting || got.Pending > want.Pending || got.Requesting+got.Pending == 0 {
		t.Fatalf("a failed shard: %+v, %v; want an error and lower bounds", got, err)
	}
}
