package scylla

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/gocql/gocql"
)

// ListOpen returns a page of requests still requesting or pending, created
// before q.Before (zero: now), oldest first; see store.Store.
//
// It walks the minutes listed in open_transfer_buckets from the cursor's
// minute (or the oldest) up to Before's, reading each minute of
// open_transfer_requests oldest first, its shards merged (openRows). The
// walk visits only minutes the index lists, which Create adds and the walk
// itself prunes (see pruneMinute), so it stays a few dozen minutes long.
func (s *Store) ListOpen(ctx context.Context, q store.OpenQuery) (store.OpenPage, error) {
	if err := s.enter(ctx); err != nil {
		return store.OpenPage{}, err
	}
	if q.Limit < 1 || q.Limit > store.OpenLimitMax {
		return store.OpenPage{}, fmt.Errorf("cannot list open requests: limit %d outside 1..%d: %w", q.Limit, store.OpenLimitMax, store.ErrInvalid)
	}
	c, resume, err := decodeCursor(q.Cursor, cursorOpen)
	if err != nil {
		return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
	}
	s.retryPutBacks(ctx)
	before := q.Before
	if before.IsZero() {
		before = s.set.Now()
	}
	upper := key{ceilMillis(before), math.MinInt64} // created_at < Before
	first, last := int64(math.MinInt64), floorDiv(upper.ms-1, minuteMillis)
	if resume {
		first = c.bucket
	}
	want := q.Limit + 1
	var rows []requestRow
	for first <= last && len(rows) < want {
		minutes, err := s.listMinutes(ctx, first, last)
		if err != nil {
			return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
		}
		for _, m := range minutes {
			if len(rows) >= want {
				break
			}
			lower, whole := key{m*minuteMillis - 1, math.MaxInt64}, true // created_at >= the minute's start
			if resume && m == c.bucket {
				lower, whole = key{c.createdMs, c.requestID}, false
			}
			got, err := s.openRows(ctx, m, lower, upper, want-len(rows))
			if err != nil {
				return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
			}
			rows = append(rows, got...)
			if len(got) == 0 && whole && (m+1)*minuteMillis <= upper.ms {
				if err := s.pruneMinute(ctx, m); err != nil {
					return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
				}
			}
		}
		if len(minutes) < bucketsChunk {
			break
		}
		first = minutes[len(minutes)-1] + 1
	}
	return openPage(rows, q.Limit)
}

func openPage(rows []requestRow, limit int) (store.OpenPage, error) {
	var p store.OpenPage
	if len(rows) > limit {
		rows = rows[:limit]
		k := rowKey(&rows[limit-1])
		p.NextCursor = cursor{kind: cursorOpen, bucket: floorDiv(k.ms, minuteMillis), createdMs: k.ms, requestID: k.id}.encode()
	}
	p.Requests = make([]store.Request, 0, len(rows))
	for i := range rows {
		r, err := rows[i].request()
		if errors.Is(err, store.ErrCorrupt) {
			p.Unreadable = append(p.Unreadable, uint64(rows[i].RequestID))
			continue
		}
		if err != nil {
			return store.OpenPage{}, fmt.Errorf("cannot list open requests: %w", err)
		}
		p.Requests = append(p.Requests, r)
	}
	return p, nil
}

// listMinutes returns up to bucketsChunk minutes of open_transfer_buckets
// in first..last, oldest first.
func (s *Store) listMinutes(ctx context.Context, first, last int64) ([]int64, error) {
	var minutes []int64
	err := s.query(ctx, stmtBucketList, map[string]any{
		"shard": bucketShard, "first": first, "last": last, "limit": bucketsChunk,
	}).SelectRelease(&minutes)
	if err != nil {
		return nil, fmt.Errorf("cannot list open minutes: %w", err)
	}
	return minutes, nil
}

// openRows reads up to limit open rows of minute strictly between the keys,
// in key order. Each round asks every shard of the minute at once for a part
// of what is missing and keeps the merged rows that are certainly complete
// (mergeShardPages); the next round resumes after the last row kept. Hashing
// spreads a minute's rows evenly over the shards, so one round nearly always
// does.
func (s *Store) openRows(ctx context.Context, minute int64, lower, upper key, limit int) ([]requestRow, error) {
	rows, err := mergeShards(ctx, lower, limit, func(ctx context.Context, shard int, lower key, per int, page *[]requestRow) error {
		return s.query(ctx, stmtOpenPage, map[string]any{
			"minute_bucket": minute, "shard": shard, "limit": per,
			"lower[0]": lower.ms, "lower[1]": lower.id, "upper[0]": upper.ms, "upper[1]": upper.id,
		}).SelectRelease(page)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read open minute %d: %w", minute, err)
	}
	return rows, nil
}

// shardReader reads into *page up to per rows of one shard after lower, in
// key order.
type shardReader func(ctx context.Context, shard int, lower key, per int, page *[]requestRow) error

// mergeShards is openRows' merge over read.
func mergeShards(ctx context.Context, lower key, limit int, read shardReader) ([]requestRow, error) {
	var rows []requestRow
	for len(rows) < limit {
		per := shardPageRows(limit - len(rows))
		var pages [openShards][]requestRow
		err := forShards(ctx, func(ctx context.Context, shard int) error {
			return read(ctx, shard, lower, per, &pages[shard])
		})
		if err != nil {
			return nil, err
		}
		kept, complete := mergeShardPages(pages[:], per)
		rows = append(rows, kept[:min(len(kept), limit-len(rows))]...)
		if complete {
			break
		}
		lower = rowKey(&rows[len(rows)-1])
	}
	return rows, nil
}

// shardPageRows is how many rows a round of openRows asks each shard for
// when want rows are missing: twice an even share, at least 8, at most want.
func shardPageRows(want int) int {
	return min(want, max(8, 2*((want+openShards-1)/openShards)))
}

// mergeShardPages merges pages, the shards' answers to one round (each in
// key order, each asked for per rows), into key order, and keeps the rows
// that are certainly the first ones of the minute past the round's lower
// bound: a shard that returned per rows may hold more after its last row,
// so the rows after the smallest last row of such a shard are dropped (a
// later round reads them again). That row itself is kept, so a round that
// is not complete keeps at least one row. complete reports that no shard
// returned per rows: kept is then every row between the bounds.
func mergeShardPages(pages [][]requestRow, per int) (kept []requestRow, complete bool) {
	complete = true
	var bound key
	for _, p := range pages {
		kept = append(kept, p...)
		if len(p) >= per {
			if last := rowKey(&p[len(p)-1]); complete || last.less(bound) {
				bound = last
			}
			complete = false
		}
	}
	slices.SortFunc(kept, func(a, b requestRow) int { return rowKey(&a).compare(rowKey(&b)) })
	if !complete {
		kept = kept[:sort.Search(len(kept), func(i int) bool { return bound.less(rowKey(&kept[i])) })]
	}
	return kept, complete
}

// forShards runs read for every shard of open_transfer_requests at once and
// returns the first error, cancelling the reads still running.
func forShards(ctx context.Context, read func(ctx context.Context, shard int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, openShards)
	for shard := range openShards {
		go func() { errs <- read(ctx, shard) }()
	}
	var first error
	for range openShards {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// minuteHasOpenRows reports whether any shard of minute holds an open row.
func (s *Store) minuteHasOpenRows(ctx context.Context, minute int64) (bool, error) {
	var found atomic.Bool
	err := forShards(ctx, func(ctx context.Context, shard int) error {
		var id int64
		err := s.query(ctx, stmtOpenAny, map[string]any{"minute_bucket": minute, "shard": shard}).GetRelease(&id)
		if errors.Is(err, gocql.ErrNotFound) {
			return nil
		}
		if err == nil {
			found.Store(true)
		}
		return err
	})
	return found.Load(), err
}

// pruneMinute removes an empty minute from open_transfer_buckets once it is
// sealed. Protocol, safe against a Create writing into that minute at the
// same time: delete the index row (stamped now), then look at the minute
// again and put the row back (stamped later) if a request appeared. A
// Create writes its open row and the index row in one batch, with the index
// row stamped OpenSealAfter after the Create began (see writeNew). So either
// this second look sees the open row, or the Create's index row outlives the
// delete whenever its batch lands, as long as a Create's batch lands within
// OpenSealAfter and node clocks agree well within it (as ScyllaDB's
// last-write-wins already requires). The delete then leaves the row in
// place, and a prune after the row's timestamp removes it.
//
// When the delete fails (it may still have been applied) or the second look
// does, the row is put back as when a request appeared, and a put-back that
// fails is retried by every later ListOpen of this process (putBack), so an
// error leaves an open request unlisted only if this process also stops
// before the store answers again.
func (s *Store) pruneMinute(ctx context.Context, minute int64) error {
	now := s.set.Now()
	end := time.UnixMilli((minute + 1) * minuteMillis)
	if now.Before(end.Add(s.set.OpenSealAfter)) {
		return nil // not sealed: a create may still be on its way
	}
	idx := map[string]any{"shard": bucketShard, "minute_bucket": minute, "ts": now.UnixMicro()}
	err := s.query(ctx, stmtBucketDelete, idx).ExecRelease()
	if err == nil {
		var open bool
		if open, err = s.minuteHasOpenRows(ctx, minute); err == nil && !open {
			return nil
		}
	}
	if putBack := s.putBack(ctx, minute, now.UnixMicro()+1); putBack != nil { // stamped after the delete
		err = errors.Join(err, putBack)
	}
	if err != nil {
		return fmt.Errorf("cannot prune open minute %d: %w", minute, err)
	}
	return nil
}

// putBack writes minute's row of open_transfer_buckets at write timestamp
// ts, even when ctx has ended (a cancelled scan must not leave the row
// deleted; the write may take up to Options.Timeout past ctx's deadline).
// When it fails, the minute is kept for retryPutBacks.
func (s *Store) putBack(ctx context.Context, minute, ts int64) error {
	putCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.set.Timeout)
	defer cancel()
	return s.writeBack(putCtx, minute, ts)
}

// writeBack writes minute's index row at ts within ctx, keeping the minute
// for retryPutBacks when that fails and dropping it when it succeeds.
func (s *Store) writeBack(ctx context.Context, minute, ts int64) error {
	err := s.query(ctx, stmtBucketInsert, map[string]any{"shard": bucketShard, "minute_bucket": minute, "ts": ts}).ExecRelease()
	s.putBackMu.Lock()
	defer s.putBackMu.Unlock()
	if err != nil {
		if s.putBacks == nil {
			s.putBacks = map[int64]int64{}
		}
		s.putBacks[minute] = max(s.putBacks[minute], ts)
		return fmt.Errorf("cannot put open minute %d back in the index: %w", minute, err)
	}
	if s.putBacks[minute] <= ts {
		delete(s.putBacks, minute)
	}
	return nil
}

// retryPutBacks writes again, within ctx, the index rows that pruneMinute
// could not put back, at their timestamps. It is best effort: a minute
// whose row still cannot be written stays for the next call, and the
// listing goes on (its own reads fail if the store is down).
func (s *Store) retryPutBacks(ctx context.Context) {
	s.putBackMu.Lock()
	pending := maps.Clone(s.putBacks)
	s.putBackMu.Unlock()
	for minute, ts := range pending {
		if s.writeBack(ctx, minute, ts) != nil {
			return
		}
	}
}

// CountOpen counts requests still requesting or pending; see store.Store.
// It reads every open row (status and created_at only), which the index
// keeps to the minutes holding open requests. A large open set (a long Kafka
// outage) cannot be read whole: past s.countMax rows, or once the count's
// share of ctx's time is spent, it stops and returns what it counted so far
// as Partial, lower bounds, rather than an error, so the gauges still rise
// and a store that is up is not reported as failing.
func (s *Store) CountOpen(ctx context.Context, stuckBefore time.Time) (store.OpenCounts, error) {
	if err := s.enter(ctx); err != nil {
		return store.OpenCounts{}, err
	}
	budget, cancel := countBudget(ctx)
	defer cancel()
	var counts store.OpenCounts
	seen := 0
	for first := int64(math.MinInt64); ; {
		minutes, err := s.listMinutes(budget, first, math.MaxInt64)
		if err != nil {
			return partialOr(ctx, budget, counts, fmt.Errorf("cannot count open requests: %w", err))
		}
		for _, m := range minutes {
			n, err := s.countMinute(budget, m, stuckBefore, s.countMax-seen, &counts)
			if err != nil {
				return partialOr(ctx, budget, counts, fmt.Errorf("cannot count open requests: %w", err))
			}
			if seen += n; seen >= s.countMax {
				counts.Partial = true
				return counts, nil
			}
		}
		if len(minutes) < bucketsChunk {
			return counts, nil
		}
		first = minutes[len(minutes)-1] + 1
	}
}

// countBudget is the part of ctx's time CountOpen may spend reading: all
// but a fifth (at least 100 ms kept, at most half) when ctx has a deadline,
// so the count ends with lower bounds before its caller's deadline ends it
// with an error.
func countBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(dl)
	return context.WithTimeout(ctx, left-min(max(left/5, 100*time.Millisecond), left/2))
}

// partialOr returns counts as Partial when err came from the count's own
// budget running out while ctx is still live (and something was counted);
// otherwise err.
func partialOr(ctx, budget context.Context, counts store.OpenCounts, err error) (store.OpenCounts, error) {
	if ctx.Err() == nil && budget.Err() != nil && counts.Requesting+counts.Pending > 0 {
		counts.Partial = true
		return counts, nil
	}
	return store.OpenCounts{}, err
}

// countMinute adds the open rows of minute to counts, at most limit of
// them, and returns how many rows it read, pruning the minute when it has
// none. Its shards are read at once, sharing the limit (countShards).
func (s *Store) countMinute(ctx context.Context, minute int64, stuckBefore time.Time, limit int, counts *store.OpenCounts) (int, error) {
	c, read, err := countShards(ctx, limit, stuckBefore, func(ctx context.Context, shard int, row func(string, time.Time) bool) error {
		iter := s.query(ctx, stmtOpenCount, map[string]any{"minute_bucket": minute, "shard": shard}).
			PageSize(min(countPageRows, limit)).Iter()
		var (
			status string
			at     time.Time
		)
		for iter.Scan(&status, &at) && row(status, at) {
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("cannot read open minute %d: %w", minute, err)
		}
		return nil
	})
	counts.Requesting += c.Requesting
	counts.Pending += c.Pending
	counts.Stuck += c.Stuck
	if err != nil {
		return read, err
	}
	if read == 0 {
		return 0, s.pruneMinute(ctx, minute)
	}
	return read, nil
}

// shardRows reads the (status, created_at) of one shard's open rows of a
// minute into row, until row returns false.
type shardRows func(ctx context.Context, shard int, row func(status string, createdAt time.Time) bool) error

// countShards counts the open rows that rows reads from every shard at once,
// at most limit rows in all, and returns the counts (also when a shard
// failed: lower bounds then) and how many rows were read. A damaged row (a
// status no open row has) takes its place in the limit but is counted
// nowhere: ListOpen names it (OpenPage.Unreadable) and the scanner reports
// it, where failing the count would freeze the gauges for as long as it
// stays.
func countShards(ctx context.Context, limit int, stuckBefore time.Time, rows shardRows) (store.OpenCounts, int, error) {
	var (
		taken  atomic.Int64 // rows claimed against limit by all shards
		shards [openShards]store.OpenCounts
	)
	err := forShards(ctx, func(ctx context.Context, shard int) error {
		c := &shards[shard]
		return rows(ctx, shard, func(status string, at time.Time) bool {
			if taken.Add(1) > int64(limit) {
				return false
			}
			switch status {
			case store.StatusRequesting.String():
				c.Requesting++
			case store.StatusPending.String():
				c.Pending++
			default:
				return true
			}
			if at.Before(stuckBefore) {
				c.Stuck++
			}
			return true
		})
	})
	var total store.OpenCounts
	for _, c := range shards {
		total.Requesting += c.Requesting
		total.Pending += c.Pending
		total.Stuck += c.Stuck
	}
	return total, int(min(taken.Load(), int64(limit))), err
}
