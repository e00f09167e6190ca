package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
)

// LookupAccounts returns the committed accounts among ids, in the order of
// ids, skipping ids that are not found.
func (l *Ledger) LookupAccounts(ctx context.Context, ids []ledger.Uint128) ([]ledger.Account, error) {
	if err := l.readable(ctx, len(ids)); err != nil {
		return nil, err
	}
	out := make([]ledger.Account, 0, len(ids))
	l.mu.RLock()
	for _, id := range ids {
		if st := l.accounts[id]; st != nil && st.committedOK {
			out = append(out, st.committed)
		}
	}
	l.mu.RUnlock()
	return out, nil
}

// LookupTransfers returns the committed transfers among ids, in the order of
// ids, skipping ids that are not found.
func (l *Ledger) LookupTransfers(ctx context.Context, ids []ledger.Uint128) ([]ledger.Transfer, error) {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if err := l.readable(ctx, len(ids)); err != nil {
		return nil, err
	}
	published := l.publishedTS.Load()
	out := make([]ledger.Transfer, 0, len(ids))
	for i, id := range ids {
		if i&255 == 255 && ctx.Err() != nil {
			return nil, fmt.Errorf("cannot look up transfers: %w", ctx.Err())
		}
		var t ledger.Transfer
		res, err := l.storedTransfer(id, &t)
		if err != nil {
			return nil, fmt.Errorf("cannot look up transfers: %w", err)
		}
		if res == lookupFound && t.Timestamp <= published {
			out = append(out, t)
		}
	}
	return out, nil
}

// GetAccountTransfers returns the transfers of filter.AccountID in timestamp
// order (newest first with FilterReversed), at most filter.Limit of them. A
// filter TigerBeetle would answer with nothing because it is invalid returns
// ledger.ErrInvalidFilter.
func (l *Ledger) GetAccountTransfers(ctx context.Context, filter ledger.AccountFilter) ([]ledger.Transfer, error) {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if err := l.readable(ctx, 0); err != nil {
		return nil, err
	}
	if !validFilter(&filter) {
		return nil, ledger.ErrInvalidFilter
	}
	lo, hi := filter.TimestampMin, filter.TimestampMax
	if hi == 0 {
		hi = ^uint64(0) - 1
	}
	hi = min(hi, l.publishedTS.Load()) // nothing still syncing
	var lower, upper, seek [keyAccountXSize]byte
	accountIndexKey(lower[:], filter.AccountID, 0)
	accountIndexKey(upper[:], filter.AccountID, ^uint64(0))
	it, err := l.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower[:], UpperBound: upper[:]})
	if err != nil {
		return nil, fmt.Errorf("cannot scan account transfers: %w", err)
	}
	defer it.Close()
	s := scan{l: l, filter: &filter, lo: lo, hi: hi, out: make([]ledger.Transfer, 0, min(filter.Limit, 256))}
	if filter.Flags&ledger.FilterReversed != 0 {
		// Rows are keyed by their first timestamp: the last row starting at or
		// before hi holds the newest candidates.
		for valid := it.SeekLT(accountIndexKey(seek[:], filter.AccountID, hi+1)); valid && !s.done; valid = it.Prev() {
			s.row(it.Value(), true)
		}
	} else {
		// The row starting at or before lo may still hold entries from lo on.
		valid := it.SeekLT(accountIndexKey(seek[:], filter.AccountID, lo+1))
		if !valid {
			valid = it.First()
		}
		for ; valid && !s.done; valid = it.Next() {
			if binary.BigEndian.Uint64(it.Key()[17:25]) > hi {
				break
			}
			s.row(it.Value(), false)
		}
	}
	if s.err == nil {
		s.err = it.Error()
	}
	if s.err != nil {
		return nil, fmt.Errorf("cannot scan account transfers: %w", s.err)
	}
	return s.out, nil
}

// scan collects the transfers of GetAccountTransfers, row by row.
type scan struct {
	l      *Ledger
	filter *ledger.AccountFilter
	lo, hi uint64
	out    []ledger.Transfer
	done   bool
	err    error
}

// row adds the matching entries of one index row, oldest or newest first.
func (s *scan) row(v []byte, reversed bool) {
	n := len(v) / indexEntrySize
	for k := range n {
		i := k
		if reversed {
			i = n - 1 - k
		}
		e := decodeIndexEntry(v[i*indexEntrySize:])
		if e.ts < s.lo || e.ts > s.hi {
			if reversed && e.ts < s.lo || !reversed && e.ts > s.hi {
				s.done = true
				return
			}
			continue
		}
		if e.side == sideDebit && s.filter.Flags&ledger.FilterDebits == 0 ||
			e.side == sideCredit && s.filter.Flags&ledger.FilterCredits == 0 {
			continue
		}
		var t ledger.Transfer
		res, err := s.l.storedTransfer(e.id, &t)
		if err != nil {
			s.err, s.done = err, true
			return
		}
		if res != lookupFound {
			panic("BUG: the account index names a missing transfer")
		}
		s.out = append(s.out, t)
		if uint32(len(s.out)) >= s.filter.Limit {
			s.done = true
			return
		}
	}
}

// validFilter mirrors TigerBeetle's get_account_transfers filter validation,
// plus the interface's Limit bound.
func validFilter(f *ledger.AccountFilter) bool {
	const known = ledger.FilterDebits | ledger.FilterCredits | ledger.FilterReversed
	return !f.AccountID.IsZero() && !f.AccountID.IsMax() &&
		f.TimestampMin <= math.MaxInt64 && f.TimestampMax <= math.MaxInt64 && // 0 or TigerBeetle's TimestampRange
		(f.TimestampMax == 0 || f.TimestampMin <= f.TimestampMax) &&
		f.Limit != 0 && f.Limit <= ledger.BatchEventsMax &&
		f.Flags&(ledger.FilterDebits|ledger.FilterCredits) != 0 &&
		f.Flags&^known == 0
}

// readable checks a read call before it starts.
func (l *Ledger) readable(ctx context.Context, ids int) error {
	if ids > ledger.BatchEventsMax {
		return ledger.ErrBatchTooLarge
	}
	if err := l.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot read ledger: %w", err)
	}
	return nil
}
