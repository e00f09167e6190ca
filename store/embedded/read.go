package embedded

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/store"
)

// ctxCheckEvery is how many index entries a scan reads between checks of
// its context, bounding the work done after a caller gives up.
const ctxCheckEvery = 1024

// getRequest reads request id from r, or store.ErrNotFound. It decodes
// Pebble's own copy of the value, as decodeRequest copies what it keeps.
func (s *Store) getRequest(r pebble.Reader, id uint64) (store.Request, error) {
	var key [requestKeyLen]byte
	v, closer, err := r.Get(appendRequestKey(key[:0], id))
	if errors.Is(err, pebble.ErrNotFound) {
		return store.Request{}, store.ErrNotFound
	}
	if err != nil {
		return store.Request{}, err
	}
	req, err := decodeRequest(v)
	if cerr := closer.Close(); err == nil {
		err = cerr
	}
	return req, err
}

// Get returns request id. See store.Store.
func (s *Store) Get(ctx context.Context, id uint64) (store.Request, error) {
	if err := ctx.Err(); err != nil {
		return store.Request{}, fmt.Errorf("cannot get request %d: %w", id, err)
	}
	if err := s.enter(); err != nil {
		return store.Request{}, err
	}
	defer s.life.RUnlock()
	// A recent open request is in the cache (settlement reads each one
	// there, a few milliseconds after its hold). The cache is read under
	// the id's stripe, which a write holds until it commits (and, with
	// its own syncs, until they end): rather than wait, read Pebble.
	stripe := &s.stripes[idStripe(id)&(lockStripes-1)]
	if stripe.TryLock() {
		r, ok := s.cache.get(id)
		stripe.Unlock()
		if ok {
			return r, nil
		}
	}
	r, err := s.getRequest(s.db, id)
	if err != nil {
		return store.Request{}, fmt.Errorf("cannot get request %d: %w", id, err)
	}
	return r, nil
}

// History returns a page of q.UserID's requests, newest first. The scan and
// the request reads share one snapshot, so a page is consistent.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	if err := ctx.Err(); err != nil {
		return store.HistoryPage{}, fmt.Errorf("cannot read history of user %d: %w", q.UserID, err)
	}
	lower, upper, err := historyBounds(q)
	if err != nil {
		return store.HistoryPage{}, err
	}
	if err := s.enter(); err != nil {
		return store.HistoryPage{}, err
	}
	defer s.life.RUnlock()
	if q.Status == store.StatusRequesting && !s.counts.hasRequesting(q.UserID) {
		// Counted once committed, so a request whose Create returned is
		// found; most users have none, and every actor start asks.
		return store.HistoryPage{}, nil
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return store.HistoryPage{}, fmt.Errorf("cannot read history of user %d: %w", q.UserID, err)
	}
	defer it.Close()
	var page store.HistoryPage
	var lastKey []byte // the cursor part of the last entry read
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return store.HistoryPage{}, fmt.Errorf("cannot read history of user %d: %w", q.UserID, err)
			}
		}
		k, v := it.Key(), it.Value()
		if q.Status != 0 && n > s.opts.HistoryScanRowsMax {
			// A filter that passes over most entries: end the page here,
			// before this entry, and let the caller page on (as ScyllaDB's
			// store does), rather than read a long history in one call.
			page.NextCursor = encodeCursor(lastKey)
			break
		}
		lastKey = append(lastKey[:0], k[historyCursorOffset:]...)
		if q.Status != 0 && len(v) > 1 && store.Status(v[1]) != q.Status {
			continue // an earlier version's final copy of another status: no need to decode it
		}
		r, err := s.historyEntry(snap, k, v)
		if err != nil {
			return store.HistoryPage{}, fmt.Errorf("cannot read history of user %d: %w", q.UserID, err)
		}
		if q.Status != 0 && r.Status != q.Status {
			continue
		}
		page.Requests = append(page.Requests, r)
		if len(page.Requests) == q.Limit {
			cursor := encodeCursor(k[historyCursorOffset:])
			if it.Next() {
				page.NextCursor = cursor
			}
			break
		}
	}
	if err := it.Error(); err != nil {
		return store.HistoryPage{}, fmt.Errorf("cannot read history of user %d: %w", q.UserID, err)
	}
	return page, nil
}

// historyEntry returns the request of a history entry: the request as it
// stands in snap, or the copy of the final request that stores written by
// earlier versions kept in the entry.
func (s *Store) historyEntry(snap pebble.Reader, k, v []byte) (store.Request, error) {
	if len(v) != 0 {
		r, err := decodeRequest(v)
		if err != nil {
			return store.Request{}, fmt.Errorf("history entry %x: %w", k, err)
		}
		return r, nil
	}
	id := ^binary.BigEndian.Uint64(k[historyCursorOffset+8:])
	r, err := s.getRequest(snap, id)
	if err != nil {
		return store.Request{}, fmt.Errorf("history entry %x: request %d: %w", k, id, err)
	}
	return r, nil
}

// historyBounds turns a query into the key range to scan: the user's prefix,
// narrowed by [From, To) and started after the cursor.
func historyBounds(q store.HistoryQuery) (lower, upper []byte, err error) {
	if q.Limit < 1 || q.Limit > store.HistoryLimitMax {
		return nil, nil, fmt.Errorf("cannot read history: limit %d outside 1..%d: %w", q.Limit, store.HistoryLimitMax, store.ErrInvalid)
	}
	if !q.Status.Valid() && q.Status != 0 {
		return nil, nil, fmt.Errorf("cannot read history: status %s: %w", q.Status, store.ErrInvalid)
	}
	prefix := historyPrefix(q.UserID)
	lower, upper = prefix, prefixEnd(prefix)
	if !q.To.IsZero() {
		// Entries created before To have a complemented time above ^To.
		lower = binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), ^encodeTimeClamped(q.To))
		lower = binary.BigEndian.AppendUint64(lower, ^uint64(0))
		lower = keySuccessor(lower)
	}
	if !q.From.IsZero() {
		upper = prefixEnd(binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), ^encodeTimeClamped(q.From)))
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, nil, err
		}
		after := keySuccessor(append(append([]byte(nil), prefix...), c...))
		if string(after) > string(lower) {
			lower = after
		}
	}
	return lower, upper, nil
}

// ListOpen returns a page of non-final requests created before q.Before,
// oldest first. See store.Store.
func (s *Store) ListOpen(ctx context.Context, q store.OpenQuery) (store.OpenPage, error) {
	if err := ctx.Err(); err != nil {
		return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
	}
	if q.Limit < 1 || q.Limit > store.OpenLimitMax {
		return store.OpenPage{}, fmt.Errorf("cannot list open requests: limit %d outside 1..%d: %w", q.Limit, store.OpenLimitMax, store.ErrInvalid)
	}
	lower := []byte{prefixOpen}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return store.OpenPage{}, err
		}
		lower = keySuccessor(append(lower, c...))
	}
	upper := binary.BigEndian.AppendUint64([]byte{prefixOpen}, encodeTimeClamped(q.Before))
	if err := s.enter(); err != nil {
		return store.OpenPage{}, err
	}
	defer s.life.RUnlock()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
	}
	defer it.Close()
	var page store.OpenPage
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		id := binary.BigEndian.Uint64(k[openCursorOffset+8:])
		r, err := s.getRequest(snap, id)
		switch {
		case err == nil:
			page.Requests = append(page.Requests, r)
		case errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrNotFound):
			page.Unreadable = append(page.Unreadable, id)
		default:
			return store.OpenPage{}, fmt.Errorf("cannot list open requests: request %d: %w", id, err)
		}
		if len(page.Requests)+len(page.Unreadable) == q.Limit {
			cursor := encodeCursor(k[openCursorOffset:])
			if it.Next() {
				page.NextCursor = cursor
			}
			break
		}
		if (len(page.Requests)+len(page.Unreadable))%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
			}
		}
	}
	if err := it.Error(); err != nil {
		return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
	}
	return page, nil
}

// encodeCursor makes the opaque cursor of a page: the (time, id) part of the
// last key returned.
func encodeCursor(k []byte) string {
	return base64.RawURLEncoding.EncodeToString(k[:timeCursorLen])
}

func decodeCursor(c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != timeCursorLen {
		return nil, fmt.Errorf("cannot decode cursor %q: %w", c, store.ErrInvalid)
	}
	return b, nil
}

// Actions returns the operator actions of request id, oldest first.
func (s *Store) Actions(ctx context.Context, id uint64) ([]store.Action, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot read actions of request %d: %w", id, err)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	if _, found, err := get(snap, requestKey(id)); err != nil {
		return nil, fmt.Errorf("cannot read actions of request %d: %w", id, err)
	} else if !found {
		return nil, fmt.Errorf("cannot read actions of request %d: %w", id, store.ErrNotFound)
	}
	lower := actionKey(id, 0)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower[:1+8])})
	if err != nil {
		return nil, fmt.Errorf("cannot read actions of request %d: %w", id, err)
	}
	defer it.Close()
	var out []store.Action
	for ok := it.First(); ok; ok = it.Next() {
		a, err := decodeAction(id, it.Value())
		if err != nil {
			return nil, fmt.Errorf("cannot read actions of request %d: %w", id, err)
		}
		out = append(out, a)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("cannot read actions of request %d: %w", id, err)
	}
	return out, nil
}
