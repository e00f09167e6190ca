package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/store"
)

// Create records req in status requesting, with its history, open-index and
// idempotency entries in one durable batch. See store.Store.
//
// Every error before the batch's commit wraps store.ErrNothingWritten.
func (s *Store) Create(ctx context.Context, req store.Request) (store.Request, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Request{}, false, store.NothingWritten(fmt.Errorf("cannot create request %d: %w", req.ID, err))
	}
	if err := s.enter(); err != nil {
		return store.Request{}, false, store.NothingWritten(err)
	}
	defer s.life.RUnlock()
	now := normTime(s.opts.Now())
	if req.CreatedAt.IsZero() {
		req.CreatedAt = now
	}
	if err := validateNew(&req, now); err != nil {
		return store.Request{}, false, store.NothingWritten(err)
	}
	req.CreatedAt = normTime(req.CreatedAt)
	req.Status = store.StatusRequesting
	req.UpdatedAt = now
	req.ErrorCode, req.ErrorMessage = "", ""
	idLock := idStripe(req.ID)
	keyHash := idLock // the id's stripe alone when there is no key
	if req.IdempotencyKey != "" {
		keyHash = keyStripe(s.keySeed, req.UserID, req.IdempotencyKey)
	}
	defer s.lockPair(idLock, keyHash).unlock()

	b := s.db.NewBatch()
	defer b.Close()
	if req.IdempotencyKey != "" {
		existing, live, err := s.claimKey(b, &req, keyHash, now)
		if err != nil || live {
			return existing, false, store.NothingWritten(err)
		}
	}
	if err := s.claimID(req.ID); err != nil {
		return store.Request{}, false, store.NothingWritten(fmt.Errorf("cannot create request %d: %w", req.ID, err))
	}
	putNew(b, &req)
	if err := s.commit(b); err != nil {
		return store.Request{}, false, fmt.Errorf("cannot create request %d: %w", req.ID, err)
	}
	s.cache.put(req)
	s.counts.move(&req, 0, store.StatusRequesting)
	if err := s.durable(); err != nil {
		return store.Request{}, false, fmt.Errorf("cannot create request %d durably: %w", req.ID, err)
	}
	return req, true, nil
}

// IdempotencyKeyMax bounds the length of an idempotency key, in bytes.
const IdempotencyKeyMax = store.IdempotencyKeyMax

// normTime drops t's monotonic reading and location, keeping what is stored
// (nanoseconds, UTC), so what a write returns equals what a read returns.
func normTime(t time.Time) time.Time { return time.Unix(0, t.UnixNano()).UTC() }

// validateNew refuses what Create must never store.
func validateNew(req *store.Request, now time.Time) error { return store.ValidateNew(req, now) }

// claimID refuses an id already stored; the caller holds its stripe. An id
// the seen filter has never had needs no read; it is recorded either way.
func (s *Store) claimID(id uint64) error {
	if !s.filter.testAndAdd(idEntry(id)) {
		return nil
	}
	if _, found, err := get(s.db, requestKey(id)); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w (%w)", store.ErrIDExists, store.ErrInvalid)
	}
	return nil
}

// claimKey looks up req's idempotency key, whose keyStripe is hash. When a
// live key holds it, it returns that request and live == true. Otherwise it
// adds the key (and its age entry, replacing an expired one's) to b. A key
// the seen filter has never had needs no read; it is added to the filter.
func (s *Store) claimKey(b *pebble.Batch, req *store.Request, hash uint64, now time.Time) (store.Request, bool, error) {
	var v []byte
	found := false
	if s.filter.testAndAdd(keyEntry(hash)) {
		var err error
		if v, found, err = get(s.db, idemKey(req.UserID, req.IdempotencyKey)); err != nil {
			return store.Request{}, false, fmt.Errorf("cannot read idempotency key of request %d: %w", req.ID, err)
		}
	}
	if found {
		id, written, ok := decodeIdemValue(v)
		if !ok {
			return store.Request{}, false, fmt.Errorf("cannot read idempotency key of request %d: %w", req.ID, errCorrupt)
		}
		if now.Before(written.Add(s.opts.IdempotencyTTL)) {
			existing, err := s.getRequest(s.db, id)
			if err != nil {
				return store.Request{}, false, fmt.Errorf("cannot read request %d holding the idempotency key: %w", id, err)
			}
			return existing, true, nil
		}
		mustBatch(b.Delete(idemAgeKey(written, req.UserID, req.IdempotencyKey), nil))
	}
	var kb [keyScratchLen]byte
	var vb [idemValueLen]byte
	mustBatch(b.Set(appendIdemKey(kb[:0], req.UserID, req.IdempotencyKey), appendIdemValue(vb[:0], req.ID, now), nil))
	mustBatch(b.Set(appendIdemAgeKey(kb[:0], now, req.UserID, req.IdempotencyKey), nil, nil))
	return store.Request{}, false, nil
}

// keyScratchLen is the stack buffer the write paths build keys in: room for
// every fixed-width key and an idempotency key of up to 64 bytes (a longer
// one makes the append allocate). requestScratchLen is the same for an
// encoded request.
const (
	keyScratchLen     = idemAgeHeaderLen + 64
	requestScratchLen = 256
)

// putNew adds a new request r and its index entries to b. History entries
// are empty: History reads each request itself. (Stores written before
// kept a copy of the final request in its history entries; History still
// reads those.) Not rewriting both sides' entries when a request becomes
// final took two of the eleven keys a transfer's three status writes make.
func putNew(b *pebble.Batch, r *store.Request) {
	var vb [requestScratchLen]byte
	v := appendRequest(vb[:0], r)
	var kb [keyScratchLen]byte
	mustBatch(b.Set(appendRequestKey(kb[:0], r.ID), v, nil))
	putHistory(b, r)
	if !r.Status.Final() {
		mustBatch(b.Set(appendOpenKey(kb[:0], r.CreatedAt, r.ID), nil, nil))
	}
}

// putAdvanced adds the new state of an existing request r to b.
func putAdvanced(b *pebble.Batch, r *store.Request) {
	var vb [requestScratchLen]byte
	v := appendRequest(vb[:0], r)
	var kb [keyScratchLen]byte
	mustBatch(b.Set(appendRequestKey(kb[:0], r.ID), v, nil))
	if r.Status.Final() {
		mustBatch(b.Delete(appendOpenKey(kb[:0], r.CreatedAt, r.ID), nil))
	}
}

// putHistory sets the (empty) history entries of both sides, one for a
// self-transfer.
func putHistory(b *pebble.Batch, r *store.Request) {
	var kb [historyKeyLen]byte
	mustBatch(b.Set(appendHistoryKey(kb[:0], r.UserID, r.CreatedAt, r.ID), nil, nil))
	if r.ToUserID != 0 && r.ToUserID != r.UserID {
		mustBatch(b.Set(appendHistoryKey(kb[:0], r.ToUserID, r.CreatedAt, r.ID), nil, nil))
	}
}

// Advance moves request id to status to. See store.Store.
func (s *Store) Advance(ctx context.Context, id uint64, to store.Status, outcome store.Outcome) (store.Request, error) {
	if err := ctx.Err(); err != nil {
		return store.Request{}, fmt.Errorf("cannot advance request %d: %w", id, err)
	}
	if !to.Valid() {
		return store.Request{}, fmt.Errorf("cannot advance request %d to %s: %w", id, to, store.ErrInvalid)
	}
	if err := s.enter(); err != nil {
		return store.Request{}, err
	}
	defer s.life.RUnlock()
	h := idStripe(id)
	defer s.lockPair(h, h).unlock()

	r, cached := s.cache.get(id)
	if !cached {
		var err error
		if r, err = s.getRequest(s.db, id); err != nil {
			return store.Request{}, fmt.Errorf("cannot advance request %d: %w", id, err)
		}
	}
	if r.Status == to {
		return r, nil
	}
	if !store.CanAdvance(r.Status, to) {
		return store.Request{}, &store.TransitionError{RequestID: id, From: r.Status, To: to}
	}
	from := r.Status
	r.Status = to
	r.UpdatedAt = normTime(s.opts.Now())
	if to == store.StatusFailed {
		r.ErrorCode, r.ErrorMessage = outcome.ErrorCode, outcome.ErrorMessage
	}
	b := s.db.NewBatch()
	defer b.Close()
	putAdvanced(b, &r)
	if err := s.commit(b); err != nil {
		s.cache.drop(id)
		return store.Request{}, fmt.Errorf("cannot advance request %d to %s: %w", id, to, err)
	}
	s.cache.put(r)
	s.counts.move(&r, from, to)
	if err := s.durable(); err != nil {
		return store.Request{}, fmt.Errorf("cannot advance request %d to %s durably: %w", id, to, err)
	}
	return r, nil
}

// RecordAction appends a to its request's actions. See store.Store.
func (s *Store) RecordAction(ctx context.Context, a store.Action) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot record action on request %d: %w", a.RequestID, err)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if a.At.IsZero() {
		a.At = s.opts.Now()
	}
	if !timeEncodable(a.At) {
		return fmt.Errorf("cannot record action on request %d: time %s out of range: %w", a.RequestID, a.At, store.ErrInvalid)
	}
	a.At = normTime(a.At)
	h := idStripe(a.RequestID)
	defer s.lockPair(h, h).unlock()
	if _, found, err := get(s.db, requestKey(a.RequestID)); err != nil {
		return fmt.Errorf("cannot record action on request %d: %w", a.RequestID, err)
	} else if !found {
		return fmt.Errorf("cannot record action on request %d: %w", a.RequestID, store.ErrNotFound)
	}
	seq, err := s.nextActionSeq(a.RequestID)
	if err != nil {
		return fmt.Errorf("cannot record action on request %d: %w", a.RequestID, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	mustBatch(b.Set(actionKey(a.RequestID, seq), appendAction(nil, &a), nil))
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("cannot record action on request %d: %w", a.RequestID, err)
	}
	return nil
}

// nextActionSeq returns the sequence number after the request's last action.
func (s *Store) nextActionSeq(id uint64) (uint32, error) {
	lower := actionKey(id, 0)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower[:1+8])})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	last := binary.BigEndian.Uint32(it.Key()[1+8:])
	if last == actionSeqMax {
		return 0, fmt.Errorf("too many actions: %w", store.ErrInvalid)
	}
	return last + 1, nil
}

// mustBatch panics on a failed batch mutation: building a batch in memory
// fails only when the batch is misused (committed or closed), a bug.
func mustBatch(err error) {
	if err != nil {
		panic("BUG: cannot add to batch: " + err.Error())
	}
}
