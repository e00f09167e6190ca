package embedded

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
)

// known is what the prefetch found on disk for one transfer id.
type known struct {
	res lookupResult
	t   ledger.Transfer
}

// prefetch reads, through one Pebble iterator in key order, every transfer
// id a create_transfers batch will ask about (its ids and pending ids), as
// TigerBeetle's prefetch does. Point reads then hit this map instead of
// building a Pebble read path per event, which dominated the cost. Ids the
// id filter has never seen are not read at all; group.fresh marks the events
// whose own id is one of them.
func (l *Ledger) prefetch(events []ledger.Transfer) {
	g := l.g
	keys := g.prefetchKeys[:0]
	g.fresh = slices.Grow(g.fresh[:0], len(events))[:len(events)]
	g.warmSink = l.ids.warm(events)
	for i := range events {
		t := &events[i]
		g.fresh[i] = false
		for k, id := range [2]ledger.Uint128{t.ID, t.PendingID} {
			if id.IsZero() || id.IsMax() {
				continue
			}
			// The event's own id goes into the filter now, in the same
			// cache-line visit as the test: the event may store it, and if
			// it does not, the filter only holds one more false positive.
			if k == 0 && !l.ids.testAndAdd(id) || k == 1 && !l.ids.mayContain(id) {
				g.fresh[i] = g.fresh[i] || k == 0
				continue // certainly not stored: transfer() answers without Pebble
			}
			if _, ok := g.known[id]; ok {
				continue
			}
			if _, ok := l.recent.get(id); ok {
				continue // transfer() finds it in memory
			}
			var k [keyIDSize]byte
			idKey(k[:], prefixTransfer, id)
			keys = append(keys, k)
		}
	}
	g.prefetchKeys = keys
	if len(keys) == 0 {
		return
	}
	slices.SortFunc(keys, func(a, b [keyIDSize]byte) int { return bytes.Compare(a[:], b[:]) })
	keys = slices.CompactFunc(keys, func(a, b [keyIDSize]byte) bool { return a == b })
	base := len(g.prefetchFound)
	g.prefetchFound = slices.Grow(g.prefetchFound, len(keys))[:base+len(keys)]
	found := g.prefetchFound[base:]
	// Two halves in parallel: the lookups are independent reads and the
	// applier is otherwise the only busy goroutine.
	half := len(keys) // the applier's share
	if len(keys) >= prefetchParallelMin {
		half = len(keys) / 2
	}
	var errs [2]error
	var wg sync.WaitGroup
	if half < len(keys) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[1] = l.prefetchRange(keys[half:], found[half:])
		}()
	}
	errs[0] = l.prefetchRange(keys[:half], found[:half])
	wg.Wait()
	for _, err := range errs {
		if err != nil && g.err == nil {
			g.err = err
		}
	}
	for i := range keys {
		g.known[getU128BE(keys[i][1:])] = int32(base + i)
	}
}

// prefetchParallelMin is the batch size from which the prefetch is split.
const prefetchParallelMin = 512

// prefetchRange looks up sorted keys through one iterator into found.
func (l *Ledger) prefetchRange(keys [][keyIDSize]byte, found []known) error {
	if len(keys) == 0 {
		return nil
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixTransfer}, UpperBound: []byte{prefixTransfer + 1}})
	if err != nil {
		return fmt.Errorf("cannot prefetch transfers: %w", err)
	}
	var decodeErr error
	for i := range keys {
		k := keys[i][:]
		found[i] = known{res: lookupNotFound}
		if !it.SeekPrefixGE(k) || !bytes.Equal(it.Key(), k) {
			continue
		}
		v := it.Value()
		switch len(v) {
		case orphanValueSize:
			found[i].res = lookupOrphan
		case recordSize:
			found[i].res = lookupFound
			decodeTransfer(v, &found[i].t)
		default:
			decodeErr = fmt.Errorf("cannot decode transfer %s: %d bytes", getU128BE(k[1:]), len(v))
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot prefetch transfers: %w", err)
	}
	return decodeErr
}
