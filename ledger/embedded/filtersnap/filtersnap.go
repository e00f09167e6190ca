// Package filtersnap saves and loads the in-memory filters the embedded
// ledger and store keep of every id they hold (32-byte blocks of eight
// words), so a clean restart reads one file instead of every stored id: a
// scan that grows with the data (about a second per million transfers).
//
// A snapshot is valid only for the database state it was taken of. Its
// owner ties the two with a token: at Close, Save writes the file tagged
// with a fresh token and the owner then stores the token in the database
// (synced); at Open the owner reads the token and Loads the file only if
// it carries the same one, then deletes the token from the database
// (synced) before its first write. A crash after that, a file torn or
// from another copy of the data, or a token written after the file but
// lost, leaves no match, and the owner scans as before.
package filtersnap

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Token ties a snapshot file to the database state it was taken of.
type Token [16]byte

// NewToken returns a fresh random token.
func NewToken() Token {
	var t Token
	_, _ = rand.Read(t[:]) // never fails (crypto/rand panics instead)
	return t
}

// magic starts every snapshot file; the header is magic, token, block
// count (uint64), CRC-32C of the blocks; then the blocks, little-endian.
const (
	magic       = "ITFSNAP1"
	headerSize  = len(magic) + len(Token{}) + 8 + 4
	blockBytes  = 32
	chunkBytes  = 1 << 20 // encoded per write and read
	chunkBlocks = chunkBytes / blockBytes
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MinEntries is the fewest entries (as Entries estimates them) worth a
// snapshot: Open reads that many stored ids in about the time it takes to
// save and read back a filter of the default 64 MiB (0.2-0.3 s each way).
// A var: tests lower it.
var MinEntries = 200_000

// sampleBlocksMax bounds the blocks Entries reads.
const sampleBlocksMax = 8192

// Entries estimates how many entries blocks hold, from the bits set in up
// to sampleBlocksMax blocks spread evenly over them: each entry sets 8
// bits (one per word of its block), so at the fills that matter here,
// where few bits collide, the bits set over 8. Past about half full it
// counts low, which only matters below MinEntries.
func Entries(blocks [][8]uint32) int {
	if len(blocks) == 0 {
		return 0
	}
	stride := max(1, len(blocks)/sampleBlocksMax)
	set, sampled := 0, 0
	for i := 0; i < len(blocks); i += stride {
		for _, w := range blocks[i] {
			set += bits.OnesCount32(w)
		}
		sampled++
	}
	return int(float64(set) / 8 * float64(len(blocks)) / float64(sampled))
}

// Worth reports whether blocks hold enough entries (MinEntries) that a
// snapshot saves time at the next Open.
func Worth(blocks [][8]uint32) bool { return Entries(blocks) >= MinEntries }

// Save writes blocks to path, tagged with tok, atomically: to a temporary
// file, synced, renamed over path, and the directory synced.
func Save(fs vfs.FS, path string, tok Token, blocks [][8]uint32) (err error) {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("cannot save filter snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = fs.Remove(tmp)
		}
	}()
	buf := make([]byte, chunkBytes)
	crc := uint32(0)
	for i := 0; i < len(blocks); i += chunkBlocks {
		crc = crc32.Update(crc, castagnoli, encode(buf, blocks[i:min(i+chunkBlocks, len(blocks))]))
	}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, magic...)
	hdr = append(hdr, tok[:]...)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(blocks)))
	hdr = binary.LittleEndian.AppendUint32(hdr, crc)
	_, err = f.Write(hdr)
	for i := 0; i < len(blocks) && err == nil; i += chunkBlocks {
		_, err = f.Write(encode(buf, blocks[i:min(i+chunkBlocks, len(blocks))]))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(fs, path)
	}
	if err != nil {
		return fmt.Errorf("cannot save filter snapshot: %w", err)
	}
	return nil
}

// Load fills blocks from the snapshot at path when it is whole, tagged
// tok and of len(blocks) blocks; found is false otherwise (no file, or one
// of another state, size or damaged), with blocks then unspecified. err
// is an I/O error other than a missing file.
func Load(fs vfs.FS, path string, tok Token, blocks [][8]uint32) (found bool, err error) {
	f, err := fs.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot load filter snapshot: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return false, nil // shorter than a header: torn
	}
	var got Token
	copy(got[:], hdr[len(magic):])
	n := binary.LittleEndian.Uint64(hdr[len(magic)+len(tok):])
	want := binary.LittleEndian.Uint32(hdr[headerSize-4:])
	if string(hdr[:len(magic)]) != magic || got != tok || n != uint64(len(blocks)) {
		return false, nil
	}
	buf := make([]byte, chunkBytes)
	crc := uint32(0)
	for i := 0; i < len(blocks); i += chunkBlocks {
		part := blocks[i:min(i+chunkBlocks, len(blocks))]
		b := buf[:len(part)*blockBytes]
		if _, err := io.ReadFull(f, b); err != nil {
			return false, nil // torn
		}
		crc = crc32.Update(crc, castagnoli, b)
		for j := range part {
			for k := range part[j] {
				part[j][k] = binary.LittleEndian.Uint32(b[j*blockBytes+k*4:])
			}
		}
	}
	if crc != want {
		return false, nil // damaged
	}
	return true, nil
}

// encode writes blocks into buf, little-endian, and returns the bytes.
func encode(buf []byte, blocks [][8]uint32) []byte {
	b := buf[:len(blocks)*blockBytes]
	for j := range blocks {
		for k, w := range blocks[j] {
			binary.LittleEndian.PutUint32(b[j*blockBytes+k*4:], w)
		}
	}
	return b
}

// Store saves blocks to path (Save) and then records the snapshot's token
// under key in db, synced, with stamp: the owner's Close, once nothing
// writes what the filter covers. stamp is the owner's mark of its data as
// the filter covers it (a layout version, and a value each write that adds
// entries changes), so that a snapshot outlived by writes that did not
// consume it (a build from before snapshots, run on the same data) is not
// restored. When blocks hold too few entries (Worth) it saves nothing.
func Store(db *pebble.DB, key []byte, fs vfs.FS, path string, blocks [][8]uint32, stamp []byte) error {
	if !Worth(blocks) {
		return nil // few entries: reading them at Open costs less than the file
	}
	tok := NewToken()
	if err := Save(fs, path, tok, blocks); err != nil {
		return err
	}
	if err := db.Set(key, append(tok[:], stamp...), pebble.Sync); err != nil {
		return fmt.Errorf("cannot record the filter snapshot's token: %w", err)
	}
	return nil
}

// Restore fills blocks from the snapshot at path when db records its token
// under key with stamp (the owner's mark of its data now; see Store), and
// consumes both either way: the token deleted (synced) and the file
// removed, before the owner's first write, so a snapshot is read at most
// once and never for a state it does not cover. loaded is false when
// there was no usable snapshot; blocks must then be refilled from scratch
// (a torn file may have filled some).
func Restore(db *pebble.DB, key []byte, fs vfs.FS, path string, blocks [][8]uint32, stamp []byte) (loaded bool, err error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, Remove(fs, path) // a stale file: no state it fits
	}
	if err != nil {
		return false, fmt.Errorf("cannot read the filter snapshot's token: %w", err)
	}
	var tok Token
	usable := len(v) == len(tok)+len(stamp) && string(v[len(tok):]) == string(stamp)
	copy(tok[:], v)
	_ = closer.Close()
	if usable {
		if loaded, err = Load(fs, path, tok, blocks); err != nil {
			return false, err
		}
	}
	if err := db.Delete(key, pebble.Sync); err != nil {
		return false, fmt.Errorf("cannot consume the filter snapshot's token: %w", err)
	}
	return loaded, Remove(fs, path)
}

// Fill fills blocks, all zero, for its owner's Open: from the snapshot at
// path (Restore) when there is a usable one, else by scan, which adds
// every stored entry. fromSnapshot reports which. With path "" it uses no
// snapshot, but still consumes a token an earlier Close left (Discard).
func Fill(db *pebble.DB, key []byte, fs vfs.FS, path string, blocks [][8]uint32, stamp []byte, scan func() error) (fromSnapshot bool, err error) {
	if path == "" {
		if err := Discard(db, key); err != nil {
			return false, err
		}
		return false, scan()
	}
	loaded, err := Restore(db, key, fs, path, blocks, stamp)
	if err != nil || loaded {
		return loaded, err
	}
	clear(blocks) // a torn snapshot may have filled some
	return false, scan()
}

// Discard deletes (synced) a token an earlier Close recorded under key, if
// any: an Open that keeps no filter, or reads no snapshot, calls it before
// its first write, so that no later Open restores a snapshot those writes
// outdate.
func Discard(db *pebble.DB, key []byte) error {
	_, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read the filter snapshot's token: %w", err)
	}
	_ = closer.Close()
	if err := db.Delete(key, pebble.Sync); err != nil {
		return fmt.Errorf("cannot consume the filter snapshot's token: %w", err)
	}
	return nil
}

// Remove deletes the snapshot at path; a missing one is no error.
func Remove(fs vfs.FS, path string) error {
	if err := fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove filter snapshot: %w", err)
	}
	return nil
}

func syncDir(fs vfs.FS, path string) error {
	d, err := fs.OpenDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
