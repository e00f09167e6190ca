package embedded

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/exchange/internal-transfer/store"
)

// stallFS holds every fsync of a WAL file while stalled, as a disk that
// stops answering for a while does.
type stallFS struct {
	vfs.FS
	stalled atomic.Bool
	release chan struct{}
}

func (fs *stallFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &stallFile{File: f, fs: fs}, nil
}

func (fs *stallFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *stallFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

type stallFile struct {
	vfs.File
	fs *stallFS
}

func (f *stallFile) wait() {
	if f.fs.stalled.Load() {
		<-f.fs.release
	}
}

func (f *stallFile) Sync() error     { f.wait(); return f.File.Sync() }
func (f *stallFile) SyncData() error { f.wait(); return f.File.SyncData() }

// TestSyncReturnsAtItsDeadline: Sync on a disk whose fsync hangs answers at
// the caller's deadline (the user actor then answers "outcome unknown"
// instead of holding the client); the fsync runs on, and Close waits for it.
func TestSyncReturnsAtItsDeadline(t *testing.T) {
	fs := &stallFS{FS: vfs.NewMem(), release: make(chan struct{})}
	db := openSharedDB(t, fs)
	s, err := Open(Options{DB: db, DeferSync: true, FilterBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := testRequest(1, "k1", time.Now())
	if _, _, err := s.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	fs.stalled.Store(true)
	released := time.AfterFunc(3*time.Second, func() { close(fs.release) })
	defer released.Stop()

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	start := time.Now()
	err = s.Sync(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync on a stalled disk: %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Sync returned after %v, not at its 50 ms deadline", took)
	}
	if !released.Stop() {
		t.Fatal("the disk was released before Sync returned")
	}

	// The fsync Sync started still runs: Close waits for it (Pebble must
	// not be closed under it), and returns once the disk answers.
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while the stalled fsync still ran", err)
	case <-time.After(100 * time.Millisecond):
	}
	fs.stalled.Store(false)
	close(fs.release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the disk answered")
	}
	if err := s.Sync(ctx); err == nil {
		t.Fatal("Sync after Close: nil error")
	}
}

// TestWriteWaitsForItsFsync: a durable store acknowledges a Create or an
// Advance only after a WAL fsync that began after its commit has
// returned, whether it waits through the group syncer or commits with
// pebble.Sync. While the disk's fsyncs hang, no write may return; once
// they answer, every one does.
func TestWriteWaitsForItsFsync(t *testing.T) {
	for name, mode := range syncModes {
		t.Run(name, func(t *testing.T) { testWriteWaitsForItsFsync(t, mode) })
	}
}

func testWriteWaitsForItsFsync(t *testing.T, mode int) {
	fs := &stallFS{FS: vfs.NewMem(), release: make(chan struct{})}
	s, err := Open(Options{Dir: "db", FilterBytes: -1, fs: fs, groupSync: mode})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.Create(ctx, testRequest(1, "", time.Now())); err != nil {
		t.Fatal(err)
	}
	fs.stalled.Store(true)
	done := make(chan error, 3)
	go func() { _, _, err := s.Create(ctx, testRequest(2, "k2", time.Now())); done <- err }()
	go func() { _, _, err := s.Create(ctx, testRequest(3, "", time.Now())); done <- err }()
	go func() { _, err := s.Advance(ctx, 1, store.StatusPending, store.Outcome{}); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("a write returned (err %v) while every WAL fsync hung", err)
	case <-time.After(200 * time.Millisecond):
	}
	fs.stalled.Store(false)
	close(fs.release)
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("write after the disk answered: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a write did not return after the disk answered")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A DeferSync store's Sync fsyncs only when a Create or an Advance was
// committed since the last Sync's fsync began: a reader's Sync (the
// service syncs before showing a read) costs nothing once the writes it
// could have seen are durable, and never skips one that is not.
func TestSyncSkipsWhenNothingWaits(t *testing.T) {
	var fsyncs atomic.Int64
	db := openSharedDB(t, WALSyncFS(vfs.NewMem(), func(time.Duration) { fsyncs.Add(1) }))
	s, err := Open(Options{DB: db, DeferSync: true, FilterBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sync := func(want int64, what string) {
		t.Helper()
		before := fsyncs.Load()
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := fsyncs.Load() - before; (got > 0) != (want > 0) {
			t.Fatalf("Sync %s: %d WAL fsyncs, want %d", what, got, want)
		}
	}
	sync(1, "after Open") // nothing counted yet: the first Sync still covers what came before
	sync(0, "with nothing written since")
	req := testRequest(1, "k1", time.Now())
	if _, _, err := s.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	sync(1, "after a Create")
	sync(0, "again")
	if _, err := s.Advance(ctx, req.ID, store.StatusPending, store.Outcome{}); err != nil {
		t.Fatal(err)
	}
	sync(1, "after an Advance")
	sync(0, "again")
}

// openSharedDB opens a Pebble database on fs with the store's options, as
// the node opens the one it shares with the ledger; t's cleanup closes it
// (after the test's own deferred closes of the store).
func openSharedDB(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	cache := pebble.NewCache(8 << 20)
	po := PebbleOptions(Options{}, cache)
	po.FS = fs
	db, err := pebble.Open("db", po)
	cache.Unref()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
