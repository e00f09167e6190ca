package embedded

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/ledger/embedded/filtersnap"
)

// idFilter is a split-block bloom filter over every transfer id stored in
// Pebble (created transfers and orphaned ids alike), and over the statusTag
// of every pending transfer whose status (posted, voided, expired) is
// stored. A create_transfers
// event whose id the filter has never seen is certainly new, so the applier
// skips the Pebble lookup for it: with client-chosen fresh ids that lookup,
// a seek through the memtable skiplist and the levels, was the largest cost
// per transfer.
//
// Memory is fixed at Open (Options.TransferFilterBytes) and never grows.
// Each id sets one bit in each of the 8 words of one 32-byte block, so a
// probe touches one cache line. With b bits per stored id the measured
// false-positive rate (TestIDFilter) is about 0.15% at 16 bits, 1.3% at 10
// and 18% at 5: the default 64 MiB keeps it near 1% up to about 50 million
// stored transfers and it degrades smoothly after (a full filter answers
// "maybe" for everything and the engine is as fast as without it). A false
// positive costs only the Pebble lookup the filter would otherwise have
// saved, so correctness never depends on the rate.
//
// Only the applier touches the filter after Open, so it needs no lock. The
// id of every create_transfers event is added when its batch is
// prefetched, before any event of the batch executes: every id that can
// reach Pebble is in the filter before anything could look it up. Ids of
// events that fail, or of a group that is later discarded, stay in it:
// those are only false positives.
type idFilter struct {
	blocks [][8]uint32
	mask   uint64 // len(blocks)-1; len(blocks) is a power of two
	free   func() // releases blocks; the filter is unusable after
}

// statusTag is what the filter records for pending transfer id once its
// status is stored, so a post or void of a still-pending transfer (the usual
// case: no status yet) skips the Pebble read of the status too. A tag that
// equals some transfer id only adds a false positive.
func statusTag(id ledger.Uint128) ledger.Uint128 {
	return ledger.Uint128{Hi: id.Hi ^ 0x8d5a_93c1_27e4_b60f, Lo: id.Lo ^ 0x3f1c_6e92_a4d7_05b8}
}

// idFilterBlockBytes is the size of one filter block.
const idFilterBlockBytes = 32

// newIDFilter returns a filter of at most sizeBytes (rounded down to a power
// of two, at least one block).
func newIDFilter(sizeBytes int64) *idFilter {
	n := uint64(max(sizeBytes/idFilterBlockBytes, 1))
	n = 1 << (63 - bits.LeadingZeros64(n)) // round down to a power of two
	blocks, free := allocFilterBlocks(n)
	return &idFilter{blocks: blocks, mask: n - 1, free: free}
}

// release returns the filter's memory; it must not be used after.
func (f *idFilter) release() {
	f.blocks = nil
	f.free()
}

// idFilterSalts spread one hash over the 8 words of a block (the constants
// of the Parquet split-block bloom filter).
var idFilterSalts = [8]uint32{
	0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d,
	0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31,
}

// hashID mixes both halves of id: ids are often sequential or time-ordered,
// so their low bits alone would crowd a few blocks.
func hashID(id ledger.Uint128) uint64 {
	hi, lo := bits.Mul64(id.Lo^0x9e3779b97f4a7c15, id.Hi^0xc2b2ae3d27d4eb4f)
	h := hi ^ lo
	hi, lo = bits.Mul64(h^0x165667b19e3779f9, 0x27d4eb2f165667c5)
	return hi ^ lo
}

// add records id.
func (f *idFilter) add(id ledger.Uint128) {
	h := hashID(id)
	b := &f.blocks[(h>>32)&f.mask]
	key := uint32(h)
	for i := range b {
		b[i] |= 1 << ((key * idFilterSalts[i]) >> 27)
	}
}

// warm loads the filter block of every event's id. The loads do not
// depend on each other, so the CPU overlaps their cache misses; the
// per-event tests that follow then find their blocks in cache instead of
// waiting for memory one id at a time. It returns a value only so the
// loads are not optimised away.
func (f *idFilter) warm(events []ledger.Transfer) (sink uint32) {
	for i := range events {
		sink ^= f.blocks[(hashID(events[i].ID)>>32)&f.mask][0]
	}
	return sink
}

// testAndAdd records id and reports whether it may have been added before.
func (f *idFilter) testAndAdd(id ledger.Uint128) (seen bool) {
	h := hashID(id)
	b := &f.blocks[(h>>32)&f.mask]
	key := uint32(h)
	seen = true
	for i := range b {
		bit := uint32(1) << ((key * idFilterSalts[i]) >> 27)
		if b[i]&bit == 0 {
			seen = false
			b[i] |= bit
		}
	}
	return seen
}

// mayContain reports whether id may have been added; false means it
// certainly was not.
func (f *idFilter) mayContain(id ledger.Uint128) bool {
	h := hashID(id)
	b := &f.blocks[(h>>32)&f.mask]
	key := uint32(h)
	for i := range b {
		if b[i]&(1<<((key*idFilterSalts[i])>>27)) == 0 {
			return false
		}
	}
	return true
}

// idFilterTokenKey holds the token of the filter snapshot Close saved
// (Options.FilterSnapshot): present only between a clean Close and the
// next Open, so a snapshot is used only of the state it was taken of.
var idFilterTokenKey = []byte{prefixMeta, 'F'}

// saveIDFilter saves the filter for the next Open (Options.FilterSnapshot,
// filtersnap.Store); Close calls it once nothing writes transfer ids. A
// failure leaves no token, and the next Open reads every id.
func (l *Ledger) saveIDFilter() {
	if path := l.opts.FilterSnapshot; path != "" && l.ids != nil {
		if stamp, err := l.idFilterStamp(); err == nil {
			_ = filtersnap.Store(l.db, idFilterTokenKey, l.opts.FS, path, l.ids.blocks, stamp)
		}
	}
}

// loadIDFilter fills l.ids: from the snapshot the last clean Close saved
// (filtersnap.Restore, which consumes it), or else from the transfer ids
// and the status tags in Pebble.
func (l *Ledger) loadIDFilter() error {
	l.ids = newIDFilter(l.opts.TransferFilterBytes)
	stamp, err := l.idFilterStamp()
	if err != nil {
		return err
	}
	l.idsFromSnapshot, err = filtersnap.Fill(l.db, idFilterTokenKey, l.opts.FS, l.opts.FilterSnapshot, l.ids.blocks, stamp, l.scanIDs)
	return err
}

// idFilterLayout names how the filter places ids (hashID, statusTag,
// block): a snapshot of another layout is not restored. Change it with
// either.
const idFilterLayout = "ids-1"

// idFilterStamp marks the ledger's data as its filter covers it, for the
// filter's snapshot (filtersnap.Store): the filter's layout and the stored
// meta value (the last timestamp and the count of groups written), which
// every group that writes anything rewrites in the same batch, so writes
// that did not consume a snapshot (a build from before snapshots, run on
// the data: it writes the timestamp alone) change it.
func (l *Ledger) idFilterStamp() ([]byte, error) {
	stamp := []byte(idFilterLayout)
	v, closer, err := l.db.Get([]byte{prefixMeta})
	if errors.Is(err, pebble.ErrNotFound) {
		return stamp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read ledger timestamp: %w", err)
	}
	stamp = append(stamp, v...)
	return stamp, closer.Close()
}

// scanIDs adds the transfer ids and the status tags in Pebble to l.ids. It
// reads every 'T' and 'P' key once: about 0.9 s per million stored
// transfers at Open (measured here: 2.9 s for 3.3 million).
func (l *Ledger) scanIDs() error {
	for _, p := range [...]struct {
		prefix byte
		tag    func(ledger.Uint128) ledger.Uint128
	}{{prefixTransfer, func(id ledger.Uint128) ledger.Uint128 { return id }}, {prefixPending, statusTag}} {
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p.prefix}, UpperBound: []byte{p.prefix + 1}})
		if err != nil {
			return fmt.Errorf("cannot scan transfer ids: %w", err)
		}
		for it.First(); it.Valid(); it.Next() {
			k := it.Key()
			if len(k) != keyIDSize {
				_ = it.Close()
				return fmt.Errorf("cannot scan transfer ids: %q key of %d bytes", p.prefix, len(k))
			}
			l.ids.add(p.tag(getU128BE(k[1:])))
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("cannot scan transfer ids: %w", err)
		}
	}
	return nil
}

// FilterFromSnapshot reports whether Open read the transfer-id filter from
// the snapshot a clean Close saved (Options.FilterSnapshot) rather than
// from every stored id.
func (l *Ledger) FilterFromSnapshot() bool { return l.idsFromSnapshot }
