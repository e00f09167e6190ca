package embedded

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/store"
)

// countSyncs returns a WALSyncObserver that counts into n.
func countSyncs(n *atomic.Int64) func(time.Duration) {
	return func(time.Duration) { n.Add(1) }
}

// syncModes are the two ways a durable store waits for its fsyncs
// (Options.groupSync), for tests that run on both.
var syncModes = map[string]int{"group syncer": groupSyncOn, "pebble.Sync": groupSyncOff}

// TestGroupCommitSharesSyncs checks that concurrent durable writes share WAL
// syncs: many writers must need far fewer fsyncs than writes.
func TestGroupCommitSharesSyncs(t *testing.T) {
	for name, mode := range syncModes {
		t.Run(name, func(t *testing.T) { testGroupCommitSharesSyncs(t, mode) })
	}
}

func testGroupCommitSharesSyncs(t *testing.T, mode int) {
	const writers, transfers = 64, 20
	var syncs atomic.Int64
	s := openTest(t, Options{WALSyncObserver: countSyncs(&syncs), groupSync: mode})
	ctx := context.Background()
	var wg sync.WaitGroup
	var next atomic.Uint64
	before := syncs.Load()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range transfers {
				id := next.Add(1)
				if _, _, err := s.Create(ctx, testRequest(id, "", time.Now())); err != nil {
					t.Error(err)
					return
				}
				for _, to := range []store.Status{store.StatusPending, store.StatusSuccess} {
					if _, err := s.Advance(ctx, id, to, store.Outcome{}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	writes, n := int64(writers*transfers*3), syncs.Load()-before
	t.Logf("%d durable writes, %d WAL syncs (%.1f writes per sync)", writes, n, float64(writes)/float64(n))
	if n == 0 || writes/n < 4 {
		t.Errorf("%d writes took %d WAL syncs; want at least 4 writes per sync", writes, n)
	}
}

// TestWALSyncIntervalMin checks that WAL fsyncs are spaced by at least
// Options.WALSyncIntervalMin, so commits arriving in between share one.
func TestWALSyncIntervalMin(t *testing.T) {
	const writers, creates, interval = 8, 10, 10 * time.Millisecond
	var syncs atomic.Int64
	s := openTest(t, Options{WALSyncIntervalMin: interval, WALSyncObserver: countSyncs(&syncs)})
	ctx := context.Background()
	var wg sync.WaitGroup
	var next atomic.Uint64
	before, start := syncs.Load(), time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range creates {
				if _, _, err := s.Create(ctx, testRequest(next.Add(1), "", time.Now())); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, n := time.Since(start), syncs.Load()-before
	t.Logf("%d durable writes in %v, %d WAL syncs", writers*creates, elapsed, n)
	if most := int64(elapsed/interval) + 2; n > most {
		t.Errorf("%d WAL syncs in %v; want at most %d at one per %v", n, elapsed, most, interval)
	}
}

// TestWALSyncObserverSeesEverySync checks that Options.WALSyncObserver hears
// of every WAL fsync: one writer's durable writes each need their own.
func TestWALSyncObserverSeesEverySync(t *testing.T) {
	const creates = 20
	var mu sync.Mutex
	var durations []time.Duration
	s := openTest(t, Options{WALSyncObserver: func(d time.Duration) {
		mu.Lock()
		durations = append(durations, d)
		mu.Unlock()
	}})
	mu.Lock()
	before := len(durations)
	mu.Unlock()
	for i := range uint64(creates) {
		if _, _, err := s.Create(context.Background(), testRequest(i+1, "", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	seen := durations[before:]
	if len(seen) < creates {
		t.Fatalf("%d sequential durable writes, %d WAL syncs observed; want at least one each", creates, len(seen))
	}
	for _, d := range seen {
		if d <= 0 {
			t.Fatalf("observed a WAL sync of %v", d)
		}
	}
}

// TestGroupSyncOnlyWithoutSpareProcs: a store uses the group syncer when
// the process has no more Ps than CPUs, and commits with pebble.Sync when
// it has spare Ps (the node's setting) or defers its syncs.
func TestGroupSyncOnlyWithoutSpareProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cpus := runtime.NumCPU()
	for _, c := range []struct {
		procs int
		opts  Options
		want  bool
	}{
		{cpus, Options{}, true},
		{4 * cpus, Options{}, false},
		{cpus, Options{DeferSync: true}, false},
		{4 * cpus, Options{groupSync: groupSyncOn}, true},
		{cpus, Options{groupSync: groupSyncOff}, false},
	} {
		runtime.GOMAXPROCS(c.procs)
		if got := useGroupSync(c.opts); got != c.want {
			t.Errorf("GOMAXPROCS %d (%d CPUs), DeferSync %v, groupSync %d: group syncer %v, want %v",
				c.procs, cpus, c.opts.DeferSync, c.opts.groupSync, got, c.want)
		}
	}
	runtime.GOMAXPROCS(cpus)
	s := openTest(t, Options{})
	if s.group == nil || s.commitOpts() != pebble.NoSync {
		t.Fatalf("store opened with GOMAXPROCS = CPUs: group syncer %v, commit %v", s.group != nil, s.commitOpts())
	}
	runtime.GOMAXPROCS(4 * cpus)
	s = openTest(t, Options{})
	if s.group != nil || s.commitOpts() != pebble.Sync {
		t.Fatalf("store opened with spare Ps: group syncer %v, commit %v", s.group != nil, s.commitOpts())
	}
}
