package embedded

import (
	"bytes"
	"fmt"
	"slices"

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
// building a Pebble read path per event, which dominated the cost.
func (l *Ledger) prefetch(events []ledger.Transfer) {
	g := &l.group
	keys := g.prefetchKeys[:0]
	for i := range events {
		t := &events[i]
		for _, id := range [2]ledger.Uint128{t.ID, t.PendingID} {
			if id.IsZero() || id.IsMax() {
				continue
			}
			if _, ok := g.known[id]; ok {
				continue
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
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixTransfer}, UpperBound: []byte{prefixTransfer + 1}})
	if err != nil {
		g.err = fmt.Errorf("cannot prefetch transfers: %w", err)
		return
	}
	for i := range keys {
		k := keys[i][:]
		id := getU128BE(k[1:])
		if _, dup := g.known[id]; dup {
			continue
		}
		kn := known{res: lookupNotFound}
		if it.SeekPrefixGE(k) && bytes.Equal(it.Key(), k) {
			v := it.Value()
			switch len(v) {
			case orphanValueSize:
				kn.res = lookupOrphan
			case recordSize:
				kn.res = lookupFound
				decodeTransfer(v, &kn.t)
			default:
				g.err = fmt.Errorf("cannot decode transfer %s: %d bytes", id, len(v))
			}
		}
		g.known[id] = kn
	}
	if err := it.Close(); err != nil && g.err == nil {
		g.err = fmt.Errorf("cannot prefetch transfers: %w", err)
	}
}
