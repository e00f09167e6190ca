package embedded

import (
	"context"
	"errors"
	"fmt"
	"github.com/cockroachdb/pebble/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/exchange/internal-transfer/ledger/embedded/filtersnap"
	"github.com/exchange/internal-transfer/store"
)

// TestSeenFilter checks that the filter never forgets an entry, that an
// unseen entry is mostly reported absent, and that a negative size disables
// it (everything may be contained).
func TestSeenFilter(t *testing.T) {
	const n = 10_000
	f := newSeenFilter(64 << 10) // 2048 blocks: 52 bits per entry
	for i := range uint64(n) {
		if f.testAndAdd(idEntry(i)) {
			t.Logf("id %d reported seen before it was added (a false positive)", i)
		}
		f.testAndAdd(keyEntry(keyStripe(testSeed, i, "k")))
	}
	for i := range uint64(n) {
		if !f.mayContain(idEntry(i)) || !f.testAndAdd(keyEntry(keyStripe(testSeed, i, "k"))) {
			t.Fatalf("entry %d added but reported absent", i)
		}
		if keyStripe(testSeed, i, "k") != keyStripe(testSeed, i, []byte("k")) {
			t.Fatalf("keyStripe(%d) of bytes differs from that of the string", i)
		}
	}
	fp := 0
	for i := uint64(n); i < 2*n; i++ {
		if f.mayContain(idEntry(i)) {
			fp++
		}
	}
	if fp > n/100 {
		t.Errorf("%d of %d unseen ids reported present, want under 1%%", fp, n)
	}
	if off := newSeenFilter(-1); off != nil || !off.mayContain(idEntry(1)) || !off.testAndAdd(idEntry(1)) {
		t.Errorf("a disabled filter must contain everything")
	}
	if small := newSeenFilter(1); len(small.blocks) != lockStripes {
		t.Errorf("a tiny filter has %d blocks, want lockStripes (%d): one stripe per block", len(small.blocks), lockStripes)
	}
}

// TestSeenFilterBlockStripe checks that an entry's block is guarded by its
// stripe: the low bits of the block number are the stripe the writer locks.
func TestSeenFilterBlockStripe(t *testing.T) {
	f := newSeenFilter(1 << 20)
	base := &f.blocks[0]
	for i := range uint64(1000) {
		for _, e := range []filterEntry{idEntry(i), keyEntry(keyStripe(testSeed, i, "k"))} {
			blk := uint64(uintptr(unsafe.Pointer(f.block(e)))-uintptr(unsafe.Pointer(base))) / filterBlockBytes
			if blk%lockStripes != e.stripe%lockStripes {
				t.Fatalf("entry %+v in block %d, guarded by stripe %d", e, blk, e.stripe%lockStripes)
			}
		}
	}
	if idEntry(5).stripe != idStripe(5) {
		t.Errorf("an id's entry must use the stripe Create locks for it")
	}
}

// TestFilterReloadedAtOpen checks that a reopened store still refuses a
// stored id and finds a stored idempotency key: the filter is read back
// from the snapshot a clean Close saved, or rebuilt from Pebble when that
// snapshot cannot be trusted (its token gone, as after a crash: Open
// consumes it; the file torn; a filter of another size), so it cannot
// wrongly skip those reads.
func TestFilterReloadedAtOpen(t *testing.T) {
	old := filtersnap.MinEntries
	filtersnap.MinEntries = 0 // a snapshot however few entries
	t.Cleanup(func() { filtersnap.MinEntries = old })
	for _, restart := range []string{"snapshot", "no token", "torn file", "other size"} {
		t.Run(restart, func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "store")
			now := time.Now()
			first := int64(1 << 20)
			if restart == "other size" {
				first = 2 << 20
			}
			s, err := Open(Options{Dir: dir, FilterBytes: first})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			const n = 100
			for i := range uint64(n) {
				r := testRequest(i+1, fmt.Sprintf("key-%d", i), now)
				if _, created, err := s.Create(ctx, r); err != nil || !created {
					t.Fatalf("Create %d: created %v, %v", i+1, created, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			snap := dir + ".seenfilter"
			if _, err := os.Stat(snap); err != nil {
				t.Fatalf("no filter snapshot after Close: %v", err)
			}
			switch restart {
			case "no token":
				db, err := pebble.Open(dir, &pebble.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Delete(filterTokenKey, pebble.Sync); err != nil {
					t.Fatal(err)
				}
				_ = db.Close()
			case "torn file":
				if err := os.Truncate(snap, 1000); err != nil {
					t.Fatal(err)
				}
			}
			s = openTest(t, Options{Dir: dir, FilterBytes: 1 << 20})
			if want := restart == "snapshot"; s.filterFromSnapshot != want {
				t.Fatalf("filter read from its snapshot: %v, want %v", s.filterFromSnapshot, want)
			}
			if _, err := os.Stat(snap); !os.IsNotExist(err) {
				t.Fatalf("the snapshot is still there after Open (%v): a crash now would leave it to the next Open", err)
			}
			for i := range uint64(n) {
				_, _, err := s.Create(ctx, testRequest(i+1, "", now))
				if !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("Create of stored id %d: %v, want ErrInvalid", i+1, err)
				}
				r := testRequest(1000+i, fmt.Sprintf("key-%d", i), now)
				got, created, err := s.Create(ctx, r)
				if err != nil || created || got.ID != i+1 {
					t.Fatalf("Create with stored key %d: got id %d, created %v, %v; want id %d held", i, got.ID, created, err, i+1)
				}
			}
			if s.filter == nil || !s.filter.mayContain(idEntry(1)) {
				t.Fatal("filter not loaded with stored ids")
			}
		})
	}
}

// testSeed is a key seed for tests of the filter alone.
const testSeed = 0x5eed

// snapshotChildEnv names the store directory a child process of
// TestFilterSnapshotAcrossProcesses checks.
const snapshotChildEnv = "EMBEDDED_SNAPSHOT_CHILD_DIR"

// A filter snapshot is read back by another process (a restart), which
// must find every idempotency key where the first process put it: were the
// keys hashed with a seed of the process, the new process would look for
// each in another block, skip its read, and create a second request.
func TestFilterSnapshotAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	const n = 100
	if dir := os.Getenv(snapshotChildEnv); dir != "" {
		s := openTest(t, Options{Dir: dir, FilterBytes: 1 << 20})
		if !s.filterFromSnapshot {
			t.Fatal("child: the filter was not read from its snapshot")
		}
		for i := range uint64(n) {
			got, created, err := s.Create(ctx, testRequest(1000+i, fmt.Sprintf("key-%d", i), now))
			if err != nil || created || got.ID != i+1 {
				t.Fatalf("child: Create with stored key %d: got id %d, created %v, %v; want id %d held", i, got.ID, created, err, i+1)
			}
		}
		return
	}
	old := filtersnap.MinEntries
	filtersnap.MinEntries = 0
	t.Cleanup(func() { filtersnap.MinEntries = old })
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(Options{Dir: dir, FilterBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(n) {
		if _, created, err := s.Create(ctx, testRequest(i+1, fmt.Sprintf("key-%d", i), now)); err != nil || !created {
			t.Fatalf("Create %d: created %v, %v", i+1, created, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFilterSnapshotAcrossProcesses$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), snapshotChildEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the restarted process: %v\n%s", err, out)
	}
}

// A store opened without a filter between a clean Close and a normal Open
// consumes the snapshot's token: the requests it creates are in no
// snapshot, so the Open after must read every id and key, not restore.
func TestFilterlessOpenConsumesTheSnapshot(t *testing.T) {
	old := filtersnap.MinEntries
	filtersnap.MinEntries = 0
	t.Cleanup(func() { filtersnap.MinEntries = old })
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	now := time.Now()
	s, err := Open(Options{Dir: dir, FilterBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, testRequest(10, "early", now)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, FilterBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	// An id below the last one (a clock stepped back), so the store's
	// stamp alone would not tell the snapshot is stale.
	if _, _, err := s.Create(ctx, testRequest(2, "late", now)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Dir: dir, FilterBytes: 1 << 20})
	if s.filterFromSnapshot {
		t.Fatal("restored a snapshot taken before a run without a filter")
	}
	got, created, err := s.Create(ctx, testRequest(30, "late", now))
	if err != nil || created || got.ID != 2 {
		t.Fatalf("Create with the key of request 2: got id %d, created %v, %v; want request 2", got.ID, created, err)
	}
}
