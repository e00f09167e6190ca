package embedded

import (
	"encoding/binary"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
)

// The account index holds, per account and group, one row listing the
// account's transfers of that group in timestamp order. One row per account
// per group instead of one per transfer keeps the memtable small when a few
// accounts (operators, market makers) take most transfers.

// indexRow collects one account's entries in the group being committed.
type indexRow struct {
	account ledger.Uint128
	entries []byte // n × indexEntrySize
}

// writeAccountIndex stages one index row per account touched by the group's
// new transfers.
func (g *group) writeAccountIndex(b *pebble.Batch) {
	clear(g.rowOf)
	rows := g.rows[:0]
	for i := range g.transfers {
		nt := &g.transfers[i]
		if nt.orphan {
			continue
		}
		t := &nt.t
		for side, acct := range [2]ledger.Uint128{t.DebitAccountID, t.CreditAccountID} {
			j, ok := g.rowOf[acct]
			if !ok {
				j = len(rows)
				g.rowOf[acct] = j
				if j < cap(rows) {
					rows = rows[:j+1]
					rows[j].account = acct
					rows[j].entries = rows[j].entries[:0]
				} else {
					rows = append(rows, indexRow{account: acct})
				}
			}
			var e [indexEntrySize]byte
			binary.BigEndian.PutUint64(e[0:8], t.Timestamp)
			putU128BE(e[8:24], t.ID)
			e[24] = byte(side)
			rows[j].entries = append(rows[j].entries, e[:]...)
		}
	}
	// In key order, as stage writes everything (see there).
	slices.SortFunc(rows, func(a, b indexRow) int { return cmpID(a.account, b.account) })
	for j := range rows {
		r := &rows[j]
		op := b.SetDeferred(keyAccountXSize, len(r.entries))
		accountIndexKey(op.Key, r.account, binary.BigEndian.Uint64(r.entries[0:8]))
		copy(op.Value, r.entries)
		op.Finish()
	}
	g.rows = rows
}

// indexEntry is one decoded account index entry.
type indexEntry struct {
	ts   uint64
	id   ledger.Uint128
	side byte
}

func decodeIndexEntry(b []byte) indexEntry {
	return indexEntry{ts: binary.BigEndian.Uint64(b[0:8]), id: getU128BE(b[8:24]), side: b[24]}
}
