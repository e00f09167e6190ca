package embedded

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
)

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testRequest(id uint64, key string, created time.Time) store.Request {
	return store.Request{ID: id, UserID: 7, ToUserID: 8, Asset: "ETH", Amount: 5, IdempotencyKey: key, CreatedAt: created}
}

func TestSweepDeletesExpiredKeysOnly(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := openTest(t, Options{IdempotencyTTL: time.Hour, Now: clock.now, SweepInterval: time.Hour})
	ctx := context.Background()
	for i := range uint64(10) {
		if _, _, err := s.Create(ctx, testRequest(i+1, "old"+string(rune('a'+i)), time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	clock.add(30 * time.Minute)
	if _, _, err := s.Create(ctx, testRequest(100, "young", time.Time{})); err != nil {
		t.Fatal(err)
	}
	clock.add(31 * time.Minute) // the ten are expired, "young" is not
	// Reclaim one expired key before the sweep: its new holder must survive.
	if got, created, err := s.Create(ctx, testRequest(200, "olda", time.Time{})); err != nil || !created || got.ID != 200 {
		t.Fatalf("reclaim expired key: %d %v %v", got.ID, created, err)
	}
	n, err := s.sweepExpired(4)
	if err != nil || n != 4 {
		t.Fatalf("bounded sweep removed %d, err %v; want 4", n, err)
	}
	n, err = s.sweepExpired(100)
	if err != nil || n != 5 {
		t.Fatalf("second sweep removed %d, err %v; want the 5 left (9 expired entries in all)", n, err)
	}
	for key, holder := range map[string]uint64{"olda": 200, "young": 100, "oldb": 0, "oldj": 0} {
		v, found, err := get(s.db, idemKey(7, key))
		id, _, _ := decodeIdemValue(v)
		if err != nil || found != (holder != 0) || id != holder {
			t.Errorf("key %s: found %v holder %d err %v; want holder %d", key, found, id, err, holder)
		}
	}
	if got := countPrefix(t, s, prefixIdemAge); got != 2 {
		t.Errorf("%d age entries left, want 2 (young, olda reclaimed)", got)
	}
}

func countPrefix(t *testing.T, s *Store, p byte) int {
	n := 0
	forEach(t, s.db, p, func(_, _ []byte) { n++ })
	return n
}

// countsDataset creates requests 1..9 an hour old, a minute apart, in
// statuses by i%4 (i = id-1): 0,4,8 requesting; 1,5 pending; the others
// final. It returns the CountOpen cut-off that makes 0, 1 and 4 stuck, and
// the counts CountOpen must return for it.
func countsDataset(t *testing.T, s *Store) (time.Time, store.OpenCounts) {
	t.Helper()
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	for i := range uint64(9) {
		if _, _, err := s.Create(ctx, testRequest(i+1, "", base.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if to := store.Status(1 + i%4); to != store.StatusRequesting {
			if _, err := s.Advance(ctx, i+1, to, store.Outcome{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return base.Add(4*time.Minute + time.Second), store.OpenCounts{Requesting: 3, Pending: 2, Stuck: 3}
}

func TestReopenRebuildsCounts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	stuckBefore, want := countsDataset(t, s)
	before, err := s.CountOpen(ctx, stuckBefore)
	if err != nil {
		t.Fatal(err)
	}
	if before != want {
		t.Errorf("counts %+v, want %+v", before, want)
	}
	wantRequesting(t, s, "before reopen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Dir: dir})
	after, err := s.CountOpen(ctx, stuckBefore)
	if err != nil || after != want {
		t.Errorf("after reopen: counts %+v, err %v; want %+v", after, err, want)
	}
	// History filtered to requesting answers from the rebuilt per-user
	// counts for users with none: both sides of the open ones still list them.
	wantRequesting(t, s, "after reopen")
}

// TestBrokenCountsFallBackToTheIndex: a counter driven below zero (a bug)
// neither panics nor lies. It is logged once, and until the store is
// reopened CountOpen counts the open index and History filtered to
// requesting reads it, so both still answer right.
func TestBrokenCountsFallBackToTheIndex(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	var logged []string
	s.counts.logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	stuckBefore, want := countsDataset(t, s)
	r9, err := s.Get(context.Background(), 9)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 { // request 9 leaves requesting four times: below zero
		s.counts.move(&r9, store.StatusRequesting, 0)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "BUG") {
		t.Fatalf("logged %q, want the bug once", logged)
	}
	got, err := s.CountOpen(context.Background(), stuckBefore)
	if err != nil || got != want {
		t.Errorf("counts with broken counters %+v, err %v; want %+v", got, err, want)
	}
	wantRequesting(t, s, "with broken counters")
}

// wantRequesting checks History filtered to requesting for both sides of
// TestReopenRebuildsCounts' requests (9, 5 and 1 are in requesting) and for
// a user with none.
func wantRequesting(t *testing.T, s *Store, when string) {
	t.Helper()
	for user, want := range map[uint64][]uint64{7: {9, 5, 1}, 8: {9, 5, 1}, 9: nil} {
		page, err := s.History(context.Background(), store.HistoryQuery{UserID: user, Status: store.StatusRequesting, Limit: 10})
		if err != nil {
			t.Fatalf("%s: history of %d: %v", when, user, err)
		}
		var got []uint64
		for _, r := range page.Requests {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: user %d's requests in requesting %v, want %v", when, user, got, want)
		}
	}
}

// TestDeferSyncNeedsASharedDatabase: a store on its own database has no
// ledger fsync to lean on, so DeferSync there is refused.
func TestDeferSyncNeedsASharedDatabase(t *testing.T) {
	if _, err := Open(Options{Dir: t.TempDir(), DeferSync: true}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Open with DeferSync and no DB: %v, want ErrInvalid", err)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	checks := map[string]error{
		"Close": s.Close(),
	}
	_, _, checks["Create"] = s.Create(ctx, testRequest(1, "", time.Now()))
	_, checks["Advance"] = s.Advance(ctx, 1, store.StatusPending, store.Outcome{})
	_, checks["Get"] = s.Get(ctx, 1)
	_, checks["History"] = s.History(ctx, store.HistoryQuery{UserID: 7, Limit: 1})
	_, checks["ListOpen"] = s.ListOpen(ctx, store.OpenQuery{Before: time.Now(), Limit: 1})
	_, checks["CountOpen"] = s.CountOpen(ctx, time.Now())
	checks["RecordAction"] = s.RecordAction(ctx, store.Action{RequestID: 1})
	_, checks["Actions"] = s.Actions(ctx, 1)
	checks["Sync"] = s.Sync(ctx)
	for op, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", op, err)
		}
	}
}

func TestCreateDefaultsAndCancellation(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)}
	s := openTest(t, Options{Now: clock.now})
	got, _, err := s.Create(context.Background(), testRequest(1, "", time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(clock.now()) || !got.UpdatedAt.Equal(clock.now()) {
		t.Errorf("CreatedAt %s UpdatedAt %s, want the clock's %s", got.CreatedAt, got.UpdatedAt, clock.now())
	}
	if again, err := s.Get(context.Background(), 1); err != nil || again != got {
		t.Errorf("Get = %+v, %v; want exactly what Create returned, %+v", again, err, got)
	}
	long := testRequest(3, string(make([]byte, IdempotencyKeyMax+1)), time.Time{})
	if _, _, err := s.Create(context.Background(), long); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Create with a %d-byte key: err = %v, want ErrInvalid", len(long.IdempotencyKey), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Create(ctx, testRequest(2, "", time.Time{})); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with cancelled ctx: %v", err)
	}
	if _, err := s.Get(context.Background(), 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("request of a cancelled Create: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Advance(ctx, 1, store.StatusPending, store.Outcome{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Advance with cancelled ctx: %v", err)
	}
	r, _ := s.Get(context.Background(), 1)
	if diff := cmp.Diff(got, r); diff != "" {
		t.Errorf("cancelled Advance changed the request:\n%s", diff)
	}
}

// TestOpenCacheBounded checks the open-request cache stops growing at its
// bound, forgets final requests, and that Advance reads Pebble when a request
// is not cached.
func TestOpenCacheBounded(t *testing.T) {
	s := openTest(t, Options{})
	s.cache.max = 2
	ctx := context.Background()
	for id := uint64(1); id <= 4; id++ {
		if _, _, err := s.Create(ctx, testRequest(id, "", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.cache.size.Load(); n != 2 {
		t.Fatalf("cache holds %d, want its bound 2", n)
	}
	for id := uint64(1); id <= 4; id++ {
		_, cached := s.cache.get(id)
		if cached != (id <= 2) {
			t.Errorf("request %d cached %v", id, cached)
		}
		for _, to := range []store.Status{store.StatusPending, store.StatusSuccess} {
			got, err := s.Advance(ctx, id, to, store.Outcome{})
			if err != nil || got.Status != to || got.Amount != 5 {
				t.Fatalf("Advance(%d, %s) = %s amount %d, %v", id, to, got.Status, got.Amount, err)
			}
		}
	}
	if n := s.cache.size.Load(); n != 0 {
		t.Errorf("cache holds %d after every request is final, want 0", n)
	}
}

// TestQueryTimesOutsideRange checks bounds beyond what a key can encode
// (the zero time, year 3000) select by their meaning instead of failing.
func TestQueryTimesOutsideRange(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	if _, _, err := s.Create(ctx, testRequest(1, "", time.Now())); err != nil {
		t.Fatal(err)
	}
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	var zero time.Time
	open := func(before time.Time) int {
		page, err := s.ListOpen(ctx, store.OpenQuery{Before: before, Limit: 10})
		if err != nil {
			t.Fatalf("ListOpen(%s): %v", before, err)
		}
		return len(page.Requests)
	}
	stuck := func(before time.Time) int {
		c, err := s.CountOpen(ctx, before)
		if err != nil {
			t.Fatalf("CountOpen(%s): %v", before, err)
		}
		return c.Stuck
	}
	history := func(from, to time.Time) int {
		page, err := s.History(ctx, store.HistoryQuery{UserID: 7, From: from, To: to, Limit: 10})
		if err != nil {
			t.Fatalf("History(%s, %s): %v", from, to, err)
		}
		return len(page.Requests)
	}
	checks := []struct {
		name      string
		got, want int
	}{
		{"ListOpen before zero", open(zero), 0},
		{"ListOpen before year 3000", open(far), 1},
		{"CountOpen stuck before zero", stuck(zero), 0},
		{"CountOpen stuck before year 3000", stuck(far), 1},
		{"History from year 3000", history(far, zero), 0},
		{"History to year 3000", history(zero, far), 1},
		{"History to year 1", history(zero, time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d requests, want %d", c.name, c.got, c.want)
		}
	}
}

// TestBlockCacheCaches guards the cache sizing: Pebble charges memtables to
// the block cache, and a cache no larger than them holds no block at all.
func TestBlockCacheCaches(t *testing.T) {
	s := openTest(t, Options{CacheSizeBytes: 1 << 20, MemTableSizeBytes: 1 << 20})
	// Memtables start at 256 KiB and double as they fill, up to 1 MiB: write
	// several MiB so the reservation reaches its full size.
	reqs := make([]store.Request, 20_000)
	for i := range reqs {
		reqs[i] = testRequest(uint64(i+1), "", time.Now())
	}
	bulkLoad(t, s, reqs) // flushes, so reads go to tables
	for range 3 {        // from Pebble: Get would find it in the open-request cache
		if _, err := s.getRequest(s.db, 100); err != nil {
			t.Fatal(err)
		}
	}
	if m := s.db.Metrics().BlockCache; m.Hits == 0 || m.Count == 0 {
		t.Errorf("block cache %+v: repeated reads of one key never hit", m)
	}
}

// TestSweepLoopCatchesUp checks the background sweep runs by itself and,
// when a tick's bound leaves a backlog, returns without waiting a full
// interval until every expired key is gone.
func TestSweepLoopCatchesUp(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := openTest(t, Options{IdempotencyTTL: time.Minute, Now: clock.now,
		SweepInterval: time.Second, SweepKeysMax: 3})
	ctx := context.Background()
	for i := range uint64(10) {
		if _, _, err := s.Create(ctx, testRequest(i+1, "k"+string(rune('a'+i)), time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	clock.add(2 * time.Minute)
	// Ten keys at three a tick: 1 s, then three 100 ms backlog pauses (not
	// three more 1 s intervals).
	deadline := time.Now().Add(2500 * time.Millisecond)
	for countPrefix(t, s, prefixIdemKey) != 0 || countPrefix(t, s, prefixIdemAge) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys, %d age entries left after 2.5 s", countPrefix(t, s, prefixIdemKey), countPrefix(t, s, prefixIdemAge))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Get answers a recent open request from the open-request cache, as the
// store holds it, and never waits for a write holding the request's stripe:
// then it reads Pebble.
func TestGetDoesNotWaitForAWrite(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	req := testRequest(1, "", time.Now())
	if _, _, err := s.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	advanced, err := s.Advance(ctx, req.ID, store.StatusPending, store.Outcome{})
	if err != nil {
		t.Fatal(err)
	}
	same := func(how string, got store.Request) {
		t.Helper()
		if got.ID != advanced.ID || got.Status != advanced.Status || !got.UpdatedAt.Equal(advanced.UpdatedAt) ||
			got.Amount != advanced.Amount || got.Fingerprint != advanced.Fingerprint {
			t.Fatalf("%s: %+v, want %+v", how, got, advanced)
		}
	}
	if _, cached := s.cache.get(req.ID); !cached {
		t.Fatal("an open request just advanced is not in the cache")
	}
	got, err := s.Get(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	same("from the cache", got)

	stripe := &s.stripes[idStripe(req.ID)&(lockStripes-1)]
	stripe.Lock() // a write in progress
	answered := make(chan store.Request, 1)
	go func() {
		r, err := s.Get(ctx, req.ID)
		if err != nil {
			t.Error(err)
		}
		answered <- r
	}()
	select {
	case r := <-answered:
		stripe.Unlock()
		same("while a write holds the stripe", r)
	case <-time.After(5 * time.Second):
		stripe.Unlock()
		t.Fatal("Get waited for the write holding its stripe")
	}
}

// The open-request cache reuses the slot of a request that went final, and
// every id keeps answering its own latest state.
func TestOpenCacheReusesSlots(t *testing.T) {
	c := &openCache{max: openCacheMax}
	// Ids on one stripe, so they share a slab.
	var ids []uint64
	for id := uint64(1); len(ids) < 4; id++ {
		if idStripe(id)&(lockStripes-1) == idStripe(1)&(lockStripes-1) {
			ids = append(ids, id)
		}
	}
	put := func(id uint64, st store.Status, amount uint64) {
		c.put(store.Request{ID: id, Status: st, Amount: amount})
	}
	put(ids[0], store.StatusRequesting, 10)
	put(ids[1], store.StatusRequesting, 11)
	put(ids[2], store.StatusRequesting, 12)
	put(ids[1], store.StatusPending, 21)
	put(ids[0], store.StatusSuccess, 30) // final: dropped, its slot free
	put(ids[3], store.StatusRequesting, 13)
	stripe := &c.stripes[idStripe(ids[0])&(lockStripes-1)]
	if len(stripe.slab) != 3 || c.size.Load() != 3 {
		t.Fatalf("slab of %d slots, size %d; want 3 and 3 (the final request's slot reused)", len(stripe.slab), c.size.Load())
	}
	want := map[uint64]uint64{ids[1]: 21, ids[2]: 12, ids[3]: 13}
	for id, amount := range want {
		if r, ok := c.get(id); !ok || r.ID != id || r.Amount != amount {
			t.Fatalf("get %d: %+v %v, want amount %d", id, r, ok, amount)
		}
	}
	if _, ok := c.get(ids[0]); ok {
		t.Fatal("a final request is still cached")
	}
}

// A status filter that passes over most of a long history ends its page
// after HistoryScanRowsMax entries read, with a cursor, instead of reading
// the whole history in one call; paging on still finds every match, once,
// newest first.
func TestFilteredHistoryScanIsBounded(t *testing.T) {
	const scanMax = 10
	s := openTest(t, Options{HistoryScanRowsMax: scanMax})
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var want []uint64 // the failed ones, newest first
	for i := uint64(1); i <= 95; i++ {
		if _, _, err := s.Create(ctx, testRequest(i, "", base.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
		to := store.StatusPending
		if i%13 == 0 {
			to = store.StatusFailed
			want = append([]uint64{i}, want...)
		}
		if _, err := s.Advance(ctx, i, to, store.Outcome{ErrorCode: "X"}); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint64
	q := store.HistoryQuery{UserID: 7, Status: store.StatusFailed, Limit: 100}
	pages := 0
	for {
		page, err := s.History(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Requests) > scanMax {
			t.Fatalf("a page of %d requests from at most %d entries read", len(page.Requests), scanMax)
		}
		for _, r := range page.Requests {
			got = append(got, r.ID)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
	if pages < 95/scanMax {
		t.Fatalf("%d pages for 95 entries at %d read a page: the scan was not bounded", pages, scanMax)
	}
	// Unfiltered pages are not cut short.
	page, err := s.History(ctx, store.HistoryQuery{UserID: 7, Limit: 50})
	if err != nil || len(page.Requests) != 50 {
		t.Fatalf("unfiltered page: %d requests, %v; want 50", len(page.Requests), err)
	}
}
