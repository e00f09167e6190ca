package embedded

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/exchange/internal-transfer/ledger/embedded/filtersnap"
)

// seenFilter is a split-block bloom filter over every request id and every
// idempotency key (user, key) stored in Pebble. A Create whose id and key
// the filter has never seen skips both Pebble reads that would only find
// nothing: with fresh ids and keys those lookups (a memtable skiplist seek
// and a probe of every table level each) were most of Create's CPU.
//
// Memory is fixed at Open (Options.FilterBytes) and never grows. Each entry
// sets one bit in each of the 8 words of one 32-byte block. With b bits per
// entry the false-positive rate is about 0.4% at 16 bits, 2% at 10, 10% at 5
// and 30% at 3; a Create with a key adds two entries, so the default 64 MiB
// keeps it near 2% up to about 25 million such Creates, and it degrades
// smoothly after. A false positive costs only the Pebble read the filter
// would otherwise have saved: correctness never depends on it.
//
// Entries are added under the stripe lock of their id or key, before the
// batch that stores them commits, so a Create that holds that stripe and
// finds the entry absent knows nothing stored it. Removed keys (swept or
// reclaimed) stay in the filter as false positives.
//
// The low bits of an entry's block number are its stripe, so each block is
// only ever read and written under one stripe lock (Open fills the filter
// before serving): the filter needs no lock and no atomic operation of its
// own, and a filter has at least lockStripes blocks.
type seenFilter struct {
	blocks [][8]uint32
	mask   uint64 // len(blocks)-1; len(blocks) is a power of two
	free   func() // releases blocks; the filter is unusable after
}

// filterEntry is an id or idempotency key as the filter sees it: a hash and
// the lock stripe that guards its block.
type filterEntry struct {
	hash, stripe uint64
}

// idEntry is the filter entry of a request id.
func idEntry(id uint64) filterEntry { return filterEntry{hash: idHash(id), stripe: idStripe(id)} }

// keyEntry is the filter entry of an idempotency key whose keyStripe is h.
func keyEntry(h uint64) filterEntry { return filterEntry{hash: h, stripe: h} }

// filterBlockBytes is the size of one filter block.
const filterBlockBytes = 32

// newSeenFilter returns a filter of at most sizeBytes (rounded down to a
// power of two, at least lockStripes blocks: 32 KiB), or nil when sizeBytes
// is negative: a nil filter may contain everything.
func newSeenFilter(sizeBytes int64) *seenFilter {
	if sizeBytes < 0 {
		return nil
	}
	n := uint64(max(sizeBytes/filterBlockBytes, lockStripes))
	n = 1 << (63 - bits.LeadingZeros64(n)) // round down to a power of two
	blocks, free := allocFilterBlocks(n)
	return &seenFilter{blocks: blocks, mask: n - 1, free: free}
}

// release returns the filter's memory; it must not be used after.
func (f *seenFilter) release() {
	if f != nil {
		f.blocks = nil
		f.free()
	}
}

// filterSalts spread one hash over the 8 words of a block (the constants of
// the Parquet split-block bloom filter).
var filterSalts = [8]uint32{
	0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d,
	0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31,
}

// idHash mixes a request id into a filter hash: ids are time-ordered, so
// their low bits alone would crowd a few blocks.
func idHash(id uint64) uint64 {
	hi, lo := bits.Mul64(id^0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f)
	return hi ^ lo
}

// block returns e's block; the caller holds e's stripe.
func (f *seenFilter) block(e filterEntry) *[8]uint32 {
	return &f.blocks[((e.hash>>32)<<10|e.stripe&(lockStripes-1))&f.mask]
}

// testAndAdd records e and reports whether it may have been recorded
// before; false means it certainly was not. A nil filter reports true.
func (f *seenFilter) testAndAdd(e filterEntry) (seen bool) {
	if f == nil {
		return true
	}
	b := f.block(e)
	key := uint32(e.hash)
	seen = true
	for i := range b {
		bit := uint32(1) << ((key * filterSalts[i]) >> 27)
		if b[i]&bit == 0 {
			seen = false
			b[i] |= bit
		}
	}
	return seen
}

// mayContain reports whether e may have been recorded; false means it
// certainly was not. A nil filter reports true.
func (f *seenFilter) mayContain(e filterEntry) bool {
	if f == nil {
		return true
	}
	b := f.block(e)
	key := uint32(e.hash)
	for i := range b {
		if b[i]&(1<<((key*filterSalts[i])>>27)) == 0 {
			return false
		}
	}
	return true
}

// filterTokenKey holds the token of the filter snapshot Close saved
// (Options.FilterSnapshot): present only between a clean Close and the
// next Open, so a snapshot is used only of the state it was taken of.
var filterTokenKey = []byte{prefixMeta, 'f'}

// snapshotFS is the file system of the filter snapshot.
func (s *Store) snapshotFS() vfs.FS {
	if s.opts.fs != nil {
		return s.opts.fs
	}
	return vfs.Default
}

// saveFilter saves the filter for the next Open (Options.FilterSnapshot,
// filtersnap.Store); Close calls it once nothing writes. A failure leaves
// no token, and the next Open reads every id and key.
func (s *Store) saveFilter() {
	if path := s.opts.FilterSnapshot; path != "" && s.filter != nil {
		if stamp, err := s.filterStamp(); err == nil {
			_ = filtersnap.Store(s.db, filterTokenKey, s.snapshotFS(), path, s.filter.blocks, stamp)
		}
	}
}

// loadFilter fills a new filter: from the snapshot the last clean Close
// saved (filtersnap.Restore, which consumes it), or else from the request
// ids and idempotency keys in Pebble. A store without a filter still
// consumes a snapshot's token, so that no later Open restores a snapshot
// its writes outdate.
func (s *Store) loadFilter() (err error) {
	s.filter = newSeenFilter(s.opts.FilterBytes)
	if s.filter == nil {
		return filtersnap.Discard(s.db, filterTokenKey)
	}
	stamp, err := s.filterStamp()
	if err != nil {
		return err
	}
	s.filterFromSnapshot, err = filtersnap.Fill(s.db, filterTokenKey, s.snapshotFS(), s.opts.FilterSnapshot, s.filter.blocks, stamp, s.scanFilter)
	return err
}

// seenFilterLayout names how the seen filter places entries (idHash,
// keyStripe, block): a snapshot of another layout is not restored. Change
// it with either.
const seenFilterLayout = "seen-1"

// filterStamp marks the store's data as its filter covers it, for the
// filter's snapshot (filtersnap.Store): the filter's layout and the
// greatest request key. Every Create adds a request, with an id above
// those before it unless the node's clock stepped back, so writes that did
// not consume a snapshot (a build from before snapshots, run on the data)
// change it.
func (s *Store) filterStamp() ([]byte, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixRequest}, UpperBound: []byte{prefixRequest + 1}})
	if err != nil {
		return nil, fmt.Errorf("cannot read the last request: %w", err)
	}
	stamp := []byte(seenFilterLayout)
	if it.Last() {
		stamp = append(stamp, it.Key()...)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("cannot read the last request: %w", err)
	}
	return stamp, nil
}

// scanFilter adds the request ids and idempotency keys in Pebble to
// s.filter. It reads every request and idempotency key once: about a
// second per few million requests.
func (s *Store) scanFilter() error {
	scan := func(prefix byte, add func(k []byte) bool) error {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			if !add(it.Key()) {
				_ = it.Close()
				return fmt.Errorf("entry %x: %w", it.Key(), errCorrupt)
			}
		}
		return it.Close()
	}
	err := scan(prefixRequest, func(k []byte) bool {
		if len(k) != requestKeyLen {
			return false
		}
		s.filter.testAndAdd(idEntry(binary.BigEndian.Uint64(k[1:])))
		return true
	})
	if err != nil {
		return fmt.Errorf("cannot load request ids: %w", err)
	}
	err = scan(prefixIdemKey, func(k []byte) bool {
		if len(k) < idemKeyHeaderLen {
			return false
		}
		s.filter.testAndAdd(keyEntry(keyStripe(s.keySeed, binary.BigEndian.Uint64(k[1:]), k[idemKeyHeaderLen:])))
		return true
	})
	if err != nil {
		return fmt.Errorf("cannot load idempotency keys: %w", err)
	}
	return nil
}

// FilterFromSnapshot reports whether Open read the seen filter from the
// snapshot a clean Close saved (Options.FilterSnapshot) rather than from
// every stored id and key.
func (s *Store) FilterFromSnapshot() bool { return s.filterFromSnapshot }
