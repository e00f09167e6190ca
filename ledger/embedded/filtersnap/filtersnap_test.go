package filtersnap

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func randomBlocks(n int) [][8]uint32 {
	b := make([][8]uint32, n)
	for i := range b {
		for k := range b[i] {
			b[i][k] = rand.Uint32()
		}
	}
	return b
}

// A snapshot loads back exactly, and only into a filter of its size under
// its own token.
func TestSaveLoadRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	// More than one chunk, and not a whole number of them.
	blocks := randomBlocks(2*chunkBlocks + 7)
	tok := NewToken()
	if err := Save(fs, "snap", tok, blocks); err != nil {
		t.Fatal(err)
	}
	got := make([][8]uint32, len(blocks))
	if found, err := Load(fs, "snap", tok, got); err != nil || !found {
		t.Fatalf("Load: found %v, %v", found, err)
	}
	for i := range blocks {
		if got[i] != blocks[i] {
			t.Fatalf("block %d: %v, want %v", i, got[i], blocks[i])
		}
	}
	if found, err := Load(fs, "snap", NewToken(), got); err != nil || found {
		t.Fatalf("Load with another token: found %v, %v", found, err)
	}
	if found, err := Load(fs, "snap", tok, make([][8]uint32, len(blocks)*2)); err != nil || found {
		t.Fatalf("Load into another size: found %v, %v", found, err)
	}
	if found, err := Load(fs, "missing", tok, got); err != nil || found {
		t.Fatalf("Load of no file: found %v, %v", found, err)
	}
	if err := Remove(fs, "snap"); err != nil {
		t.Fatal(err)
	}
	if found, _ := Load(fs, "snap", tok, got); found {
		t.Fatal("Load after Remove found the snapshot")
	}
	if err := Remove(fs, "snap"); err != nil {
		t.Fatalf("Remove of no file: %v", err)
	}
}

// A torn or damaged file is not loaded.
func TestDamagedSnapshotIsNotLoaded(t *testing.T) {
	blocks := randomBlocks(100)
	tok := NewToken()
	for name, damage := range map[string]func([]byte) []byte{
		"torn header": func(b []byte) []byte { return b[:headerSize-1] },
		"torn blocks": func(b []byte) []byte { return b[:len(b)-1] },
		"flipped bit": func(b []byte) []byte { b[headerSize+40] ^= 1; return b },
		"foreign":     func(b []byte) []byte { b[0] = 'X'; return b },
	} {
		t.Run(name, func(t *testing.T) {
			fs := vfs.NewMem()
			if err := Save(fs, "snap", tok, blocks); err != nil {
				t.Fatal(err)
			}
			raw := readAll(t, fs, "snap")
			f, err := fs.Create("snap", vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(damage(raw)); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
			if found, err := Load(fs, "snap", tok, make([][8]uint32, len(blocks))); err != nil || found {
				t.Fatalf("Load: found %v, %v; want not found", found, err)
			}
		})
	}
}

func readAll(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// Entries estimates the entries of a filter from its bits, closely enough
// to tell a filter worth a snapshot from one that is not.
func TestEntriesEstimate(t *testing.T) {
	blocks := make([][8]uint32, 1<<16) // 2 MiB
	add := func(n int) {
		for range n {
			b := &blocks[rand.IntN(len(blocks))]
			h := rand.Uint32()
			for i := range b {
				b[i] |= 1 << ((h * uint32(2*i+1) * 0x9e3779b1) >> 27)
			}
		}
	}
	if got := Entries(blocks); got != 0 {
		t.Fatalf("empty filter: %d entries", got)
	}
	total := 0
	for _, n := range []int{10_000, 40_000} {
		add(n)
		total += n
		got := Entries(blocks)
		if got < total*8/10 || got > total*11/10 {
			t.Fatalf("%d entries added: estimated %d", total, got)
		}
	}
	if Worth(blocks) {
		t.Fatalf("50,000 entries: worth a snapshot with MinEntries %d", MinEntries)
	}
	add(300_000)
	if !Worth(blocks) {
		t.Fatalf("350,000 entries (estimated %d): not worth a snapshot", Entries(blocks))
	}
}

// Store and Restore tie a snapshot to its database through a token that
// Restore consumes, token and file: a second Restore, as after a crash
// that followed the first, finds nothing and Fill scans.
func TestRestoreConsumesTheSnapshot(t *testing.T) {
	fs := vfs.NewMem()
	db, err := pebble.Open("db", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := MinEntries
	MinEntries = 0
	defer func() { MinEntries = old }()
	key := []byte("token")
	blocks := randomBlocks(100)
	if err := Store(db, key, fs, "snap", blocks, []byte("stamp-1")); err != nil {
		t.Fatal(err)
	}
	got := make([][8]uint32, len(blocks))
	scans := 0
	scan := func() error { scans++; return nil }
	if from, err := Fill(db, key, fs, "snap", got, []byte("stamp-1"), scan); err != nil || !from || scans != 0 || got[7] != blocks[7] {
		t.Fatalf("first Fill: from snapshot %v, %v, %d scans", from, err, scans)
	}
	if _, closer, err := db.Get(key); err == nil {
		_ = closer.Close()
		t.Fatal("the token outlived its Restore")
	}
	if _, err := fs.Stat("snap"); err == nil {
		t.Fatal("the snapshot file outlived its Restore")
	}
	clear(got)
	if from, err := Fill(db, key, fs, "snap", got, []byte("stamp-1"), scan); err != nil || from || scans != 1 {
		t.Fatalf("second Fill: from snapshot %v, %v, %d scans; want a scan", from, err, scans)
	}
	// A file without its token (saved, then the token lost) is not used,
	// and is removed.
	if err := Save(fs, "snap", NewToken(), blocks); err != nil {
		t.Fatal(err)
	}
	if from, err := Fill(db, key, fs, "snap", got, []byte("stamp-1"), scan); err != nil || from || scans != 2 {
		t.Fatalf("Fill with a file and no token: from snapshot %v, %v, %d scans; want a scan", from, err, scans)
	}
	if _, err := fs.Stat("snap"); err == nil {
		t.Fatal("a snapshot without its token was left in place")
	}
}

// A snapshot is not restored when its owner's data moved on since it was
// taken (another stamp), nor after an Open that used no snapshot (path "")
// consumed its token; either way the token is gone after.
func TestStaleSnapshotIsNotRestored(t *testing.T) {
	old := MinEntries
	MinEntries = 0
	defer func() { MinEntries = old }()
	key := []byte("token")
	blocks := randomBlocks(100)
	for _, c := range []struct {
		name     string
		path     string // of the Open between
		openWith []byte // the stamp at that Open
	}{
		{"data moved on", "snap", []byte("stamp-2")},
		{"an Open without snapshots between", "", []byte("stamp-1")},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			db, err := pebble.Open("db", &pebble.Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := Store(db, key, fs, "snap", blocks, []byte("stamp-1")); err != nil {
				t.Fatal(err)
			}
			scans := 0
			scan := func() error { scans++; return nil }
			got := make([][8]uint32, len(blocks))
			if from, err := Fill(db, key, fs, c.path, got, c.openWith, scan); err != nil || from || scans != 1 {
				t.Fatalf("Fill: from snapshot %v, %v, %d scans; want a scan", from, err, scans)
			}
			// The next Open, with the first stamp again, finds no token.
			if from, err := Fill(db, key, fs, "snap", got, []byte("stamp-1"), scan); err != nil || from {
				t.Fatalf("the Open after: from snapshot %v, %v; want a scan", from, err)
			}
		})
	}
}
