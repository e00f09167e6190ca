package scylla

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/gocql/gocql"
)

// Create records req in status requesting; see store.Store.
//
// Order of writes: when req has an idempotency key, the key is claimed first
// with INSERT ... IF NOT EXISTS USING TTL (a lightweight transaction on the
// key only), so across all nodes exactly one request holds a live key. Only
// the holder writes the request's rows, in one logged batch. The key row
// carries a copy of the request, so a create that lost the race returns the
// holder, and if the holder's writer died between claim and batch, the loser
// writes the holder's rows from that copy: same values, same write
// timestamps, so the repair is idempotent and cannot undo a later status.
//
// Errors before its first write (the idempotency key's claim, or the
// request's rows) wrap store.ErrNothingWritten; a write that failed may
// still land.
func (s *Store) Create(ctx context.Context, req store.Request) (store.Request, bool, error) {
	if err := s.enter(ctx); err != nil {
		return store.Request{}, false, store.NothingWritten(err)
	}
	now := toMillis(s.set.Now())
	if req.CreatedAt.IsZero() {
		req.CreatedAt = now
	}
	if err := store.ValidateNew(&req, now); err != nil {
		return store.Request{}, false, store.NothingWritten(err)
	}
	req.CreatedAt = toMillis(req.CreatedAt)
	req.UpdatedAt = now
	req.Status = store.StatusRequesting
	req.ErrorCode, req.ErrorMessage = "", ""
	existing, err := s.get(ctx, req.ID)
	switch {
	case err == nil:
		if req.IdempotencyKey != "" && existing.IdempotencyKey == req.IdempotencyKey && existing.UserID == req.UserID {
			return existing, false, nil // a retry of this very create
		}
		return store.Request{}, false, store.NothingWritten(fmt.Errorf("cannot create request %d: %w (%w)", req.ID, store.ErrIDExists, store.ErrInvalid))
	case !errors.Is(err, store.ErrNotFound):
		return store.Request{}, false, store.NothingWritten(fmt.Errorf("cannot create request %d: %w", req.ID, err))
	}
	if req.IdempotencyKey != "" {
		holder, ours, err := s.claimKey(ctx, &req)
		if err != nil {
			return store.Request{}, false, fmt.Errorf("cannot create request %d: %w", req.ID, err)
		}
		if !ours {
			return holder, false, nil
		}
	}
	if err := s.writeNew(ctx, &req); err != nil {
		return store.Request{}, false, fmt.Errorf("cannot create request %d: %w", req.ID, err)
	}
	return req, true, nil
}

// claimAttemptsMax bounds the claim–read loop of claimKey, which repeats
// only when the read finds no key: it expired after refusing the claim, or
// a timed-out claim was never applied.
const claimAttemptsMax = 3

// claimKey claims req's idempotency key. ours is true when req holds it
// (claimed now, or by an earlier attempt of the same create, in which case
// *req becomes that attempt's copy so both write identical rows); otherwise
// holder is the request that holds it, with its rows restored if missing.
func (s *Store) claimKey(ctx context.Context, req *store.Request) (holder store.Request, ours bool, err error) {
	row := toRow(req)
	key := map[string]any{"user_id": row.UserID, "idempotency_key": row.IdempotencyKey}
	for attempt := 0; attempt < claimAttemptsMax; attempt++ {
		applied, err := s.query(ctx, stmtKeyClaim, row.values(map[string]any{"ttl": s.set.ttlSeconds})).
			SerialConsistency(s.set.serial).ExecCASRelease()
		if err != nil && !outcomeUnknown(err) {
			return store.Request{}, false, fmt.Errorf("cannot claim idempotency key: %w", err)
		}
		if err == nil && applied {
			return store.Request{}, true, nil
		}
		// Refused, or timed out with the outcome unknown (Paxos contention
		// among racing creates): a serial read, which completes any round in
		// flight, says who holds the key — possibly this very attempt.
		var held requestRow
		err = s.query(ctx, stmtKeyGet, key).Consistency(s.set.serial).GetRelease(&held)
		if errors.Is(err, gocql.ErrNotFound) {
			continue // expired since the claim was refused: claim again
		}
		if err != nil {
			return store.Request{}, false, fmt.Errorf("cannot read idempotency key: %w", err)
		}
		if holder, err = held.request(); err != nil {
			return store.Request{}, false, err
		}
		if holder.ID == req.ID {
			*req = holder
			return store.Request{}, true, nil
		}
		return s.holderOf(ctx, holder)
	}
	return store.Request{}, false, fmt.Errorf("cannot claim idempotency key: not held after %d attempts", claimAttemptsMax)
}

// outcomeUnknown reports whether err leaves a lightweight transaction's
// outcome unknown (it may or may not have been applied).
func outcomeUnknown(err error) bool {
	var wt *gocql.RequestErrWriteTimeout
	var cas *gocql.RequestErrCASWriteUnknown
	return errors.As(err, &wt) || errors.As(err, &cas) || errors.Is(err, gocql.ErrTimeoutNoResponse)
}

// holderOf returns the recorded state of the request copied in a key row,
// writing its rows from the copy if its creator never did.
func (s *Store) holderOf(ctx context.Context, copied store.Request) (store.Request, bool, error) {
	cur, err := s.get(ctx, copied.ID)
	if err == nil {
		return cur, false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Request{}, false, fmt.Errorf("cannot read request %d holding the key: %w", copied.ID, err)
	}
	if err := s.writeNew(ctx, &copied); err != nil {
		return store.Request{}, false, fmt.Errorf("cannot restore request %d holding the key: %w", copied.ID, err)
	}
	return copied, false, nil
}

// writeNew writes the rows of r, a request in status requesting, and
// registers its minute in open_transfer_buckets, in one logged batch.
//
// The index row is written OpenSealAfter in the future (its CQL write
// timestamp), so no prune of the minute stamped before then can shadow it,
// whenever this batch lands: a batch replayed from the batchlog, or one
// still reaching replicas while a scanner's prune looks at the minute, keeps
// its timestamp. A create into a sealed minute (an old created_at: a slow
// create, or a key holder restored by holderOf) is as safe as any other.
// The cost: a minute leaves the index OpenSealAfter after the last create
// that wrote its row at the earliest, which for an ordinary minute is when
// it becomes sealed anyway.
func (s *Store) writeNew(ctx context.Context, r *store.Request) error {
	b := s.newBatch(ctx)
	addRequestRows(b, r)
	day := dayBucket(r.CreatedAt)
	for _, owner := range owners(r) {
		b.add(stmtDaysInsert, map[string]any{"owner_id": int64(owner), "day_bucket": day})
	}
	minute := minuteBucket(r.CreatedAt)
	index := s.needIndex(minute)
	if index {
		b.add(stmtBucketInsert, map[string]any{"shard": bucketShard, "minute_bucket": minute,
			"ts": s.set.Now().Add(s.set.OpenSealAfter).UnixMicro()})
	}
	if err := b.exec(); err != nil {
		return err
	}
	if index && s.indexCacheValid(minute) {
		s.indexedMinute.Store(minute)
	}
	return nil
}

// bucketShard is the one partition of open_transfer_buckets.
const bucketShard = 0

// needIndex reports whether a create in minute must write the minute's row
// of open_transfer_buckets. The scanner removes a minute's row only once the
// minute is sealed (OpenSealAfter past its end) and empty, so while this
// process registered the minute and it is less than half the seal time past
// its end, the row is certainly still there.
func (s *Store) needIndex(minute int64) bool {
	return s.indexedMinute.Load() != minute || !s.indexCacheValid(minute)
}

func (s *Store) indexCacheValid(minute int64) bool {
	end := time.UnixMilli((minute + 1) * minuteMillis)
	return s.set.Now().Before(end.Add(s.set.OpenSealAfter / 2))
}

// dropOpenRow deletes the open row of r, a final request, as addRequestRows
// did when it became final (same timestamp: writing it again changes
// nothing else).
func (s *Store) dropOpenRow(ctx context.Context, r *store.Request) error {
	row := toRow(r)
	args := openDeleteArgs(&row, requestTimestamp(r))
	if err := s.queryArgs(ctx, stmtOpenDelete, args).ExecRelease(); err != nil {
		return fmt.Errorf("cannot delete the open row of final request %d: %w", r.ID, err)
	}
	return nil
}

// Advance moves request id to status to; see store.Store.
//
// It reads the request first, to refuse an illegal move with a
// *store.TransitionError and to return a repeat without writing it again
// (only a final request's open row is deleted again, see dropOpenRow). The
// write itself needs no lightweight transaction: all of it carries
// requestTimestamp (created_at and the status, see writeTimestamp), so
// concurrent finalisers (settlement and the scanner write the same final
// status, as the ledger decided) converge,
// and a slower writer of an earlier status loses to a later one whatever the
// arrival order — its open row included, which the final status deletes.
func (s *Store) Advance(ctx context.Context, id uint64, to store.Status, outcome store.Outcome) (store.Request, error) {
	if err := s.enter(ctx); err != nil {
		return store.Request{}, err
	}
	if !to.Valid() {
		return store.Request{}, fmt.Errorf("cannot advance request %d to %s: %w", id, to, store.ErrInvalid)
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return store.Request{}, fmt.Errorf("cannot advance request %d: %w", id, err)
	}
	if r.Status == to {
		if r.Status.Final() {
			// Asked again to finish a final request: most often a
			// duplicate record, but also how the scanner meets an open row
			// that came back (a replica that missed its delete and was not
			// repaired within gc_grace_seconds). Delete it again, at the
			// final status's timestamp as before, or it would be listed,
			// counted as stuck and keep its minute indexed for ever.
			if err := s.dropOpenRow(ctx, &r); err != nil {
				return store.Request{}, fmt.Errorf("cannot advance request %d: %w", id, err)
			}
		}
		return r, nil
	}
	if !store.CanAdvance(r.Status, to) {
		if r.Status.Final() {
			_ = s.dropOpenRow(ctx, &r) // as above; the refusal is the answer either way
		}
		return store.Request{}, &store.TransitionError{RequestID: id, From: r.Status, To: to}
	}
	r.Status = to
	r.UpdatedAt = toMillis(s.set.Now())
	if to == store.StatusFailed {
		r.ErrorCode, r.ErrorMessage = outcome.ErrorCode, outcome.ErrorMessage
	}
	b := s.newBatch(ctx)
	addRequestRows(b, &r)
	if err := b.exec(); err != nil {
		return store.Request{}, fmt.Errorf("cannot advance request %d to %s: %w", id, to, err)
	}
	return r, nil
}
