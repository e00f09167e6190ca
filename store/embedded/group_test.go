package embedded

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/exchange/internal-transfer/store"
)

// syncCountingFS counts the syncs of WAL files.
type syncCountingFS struct {
	vfs.FS
	walSyncs *atomic.Int64
}

func (fs syncCountingFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return syncCountingFile{File: f, syncs: fs.walSyncs}, nil
}

func (fs syncCountingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs syncCountingFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

type syncCountingFile struct {
	vfs.File
	syncs *atomic.Int64
}

func (f syncCountingFile) Sync() error     { f.syncs.Add(1); return f.File.Sync() }
func (f syncCountingFile) SyncData() error { f.syncs.Add(1); return f.File.SyncData() }
func (f syncCountingFile) SyncTo(n int64) (bool, error) {
	f.syncs.Add(1)
	return f.File.SyncTo(n)
}

// TestGroupCommitSharesSyncs checks that concurrent durable writes share WAL
// syncs: many writers must need far fewer fsyncs than writes.
func TestGroupCommitSharesSyncs(t *testing.T) {
	const writers, transfers = 64, 20
	var syncs atomic.Int64
	s := openTest(t, Options{fs: syncCountingFS{FS: vfs.Default, walSyncs: &syncs}})
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
	s := openTest(t, Options{WALSyncIntervalMin: interval, fs: syncCountingFS{FS: vfs.Default, walSyncs: &syncs}})
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
