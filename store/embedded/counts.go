package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/store"
)

// openCounters counts non-final requests by status in memory, so CountOpen
// (run on every metrics scrape) costs no scan for them. They change only
// after a batch commits, under the request's stripe lock, and are rebuilt
// from the open index at Open.
//
// byUser counts the requests in requesting of each user on either side
// (only users with some), so that History filtered to requesting, which
// every user actor's start asks for its own, answers "none" without an
// iterator for the many users with none.
//
// A count that would go below zero is a bug. It does not stop the store,
// whose writes have committed by then: the counters are marked broken,
// the bug is logged once, and until the next Open History reads the index
// and CountOpen counts the open index instead of trusting them.
type openCounters struct {
	mu         sync.Mutex
	requesting int
	pending    int
	byUser     map[uint64]int32
	broken     bool
	logf       func(format string, args ...any) // nil: counterBugLog
}

// counterBugLog reports a counter bug when a store's counters have no logf
// of their own. This package's tests make it panic, so a test that drives a
// counter below zero fails as it did when the counters panicked.
var counterBugLog = pebble.DefaultLogger.Errorf

// move records request r leaving status from (0: it is new) for status to.
func (c *openCounters) move(r *store.Request, from, to store.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(r, from, -1)
	c.add(r, to, 1)
}

func (c *openCounters) add(r *store.Request, st store.Status, d int) {
	switch st {
	case store.StatusRequesting:
		c.requesting += d
		c.addUser(r.UserID, d)
		if r.ToUserID != 0 && r.ToUserID != r.UserID { // as putHistory
			c.addUser(r.ToUserID, d)
		}
	case store.StatusPending:
		c.pending += d
	}
	if c.requesting < 0 || c.pending < 0 {
		c.breakDown(fmt.Sprintf("open counters below zero: requesting %d pending %d", c.requesting, c.pending))
	}
}

// breakDown marks the counters untrusted after a bug, logging it once.
func (c *openCounters) breakDown(why string) {
	if c.broken {
		return
	}
	c.broken = true
	logf := c.logf
	if logf == nil {
		logf = counterBugLog
	}
	logf("BUG: %s; the store counts open requests from its index until it is reopened", why)
}

func (c *openCounters) addUser(user uint64, d int) {
	if c.byUser == nil {
		c.byUser = make(map[uint64]int32)
	}
	n := c.byUser[user] + int32(d)
	switch {
	case n < 0:
		c.breakDown(fmt.Sprintf("requests in requesting of user %d below zero", user))
		delete(c.byUser, user)
	case n == 0:
		delete(c.byUser, user)
	default:
		c.byUser[user] = n
	}
}

// hasRequesting reports whether user is on either side of a request in
// requesting. With broken counters it says yes, so the caller reads.
func (c *openCounters) hasRequesting(user uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken || c.byUser[user] > 0
}

// get returns the counts; ok is false when the counters are broken.
func (c *openCounters) get() (requesting, pending int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requesting, c.pending, !c.broken
}

// rebuildCounts counts the open index by the status of each request; Open
// calls it before serving.
func (s *Store) rebuildCounts() error {
	c, _, err := s.countIndex(context.Background(), s.db, nil)
	if err != nil {
		return err
	}
	s.counts.requesting, s.counts.pending, s.counts.byUser = c.requesting, c.pending, c.byUser
	return nil
}

// countIndex counts the open index of r (the database or a snapshot) by
// the status of each request, and its entries before stuckBound (nil: none).
func (s *Store) countIndex(ctx context.Context, r pebble.Reader, stuckBound []byte) (_ *openCounters, stuck int, _ error) {
	c := &openCounters{}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOpen}, UpperBound: []byte{prefixOpen + 1}})
	if err != nil {
		return nil, 0, fmt.Errorf("cannot count open requests: %w", err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, fmt.Errorf("cannot count open requests: %w", err)
			}
		}
		k := it.Key()
		if len(k) != openKeyLen {
			return nil, 0, fmt.Errorf("cannot count open requests: entry %x: %w", k, errCorrupt)
		}
		if bytes.Compare(k, stuckBound) < 0 {
			stuck++
		}
		id := binary.BigEndian.Uint64(k[openCursorOffset+8:])
		req, err := s.getRequest(r, id)
		if err != nil {
			return nil, 0, fmt.Errorf("cannot count open requests: request %d: %w", id, err)
		}
		if req.Status.Final() {
			return nil, 0, fmt.Errorf("cannot count open requests: request %d is %s but indexed open: %w", id, req.Status, errCorrupt)
		}
		c.add(&req, req.Status, 1)
	}
	if err := it.Error(); err != nil {
		return nil, 0, fmt.Errorf("cannot count open requests: %w", err)
	}
	return c, stuck, nil
}

// CountOpen counts non-final requests. Requesting and Pending come from the
// in-memory counters (from a count of the open index once they broke, see
// openCounters); Stuck scans the open index up to stuckBefore, so it
// costs in proportion to the number of stuck requests (normally a few).
func (s *Store) CountOpen(ctx context.Context, stuckBefore time.Time) (store.OpenCounts, error) {
	if err := ctx.Err(); err != nil {
		return store.OpenCounts{}, fmt.Errorf("cannot count open requests: %w", err)
	}
	if err := s.enter(); err != nil {
		return store.OpenCounts{}, err
	}
	defer s.life.RUnlock()
	var out store.OpenCounts
	stuckBound := binary.BigEndian.AppendUint64([]byte{prefixOpen}, encodeTimeClamped(stuckBefore))
	var ok bool
	if out.Requesting, out.Pending, ok = s.counts.get(); !ok {
		snap := s.db.NewSnapshot() // the index and the requests as of one moment
		defer snap.Close()
		c, stuck, err := s.countIndex(ctx, snap, stuckBound)
		if err != nil {
			return store.OpenCounts{}, err
		}
		out.Requesting, out.Pending, out.Stuck = c.requesting, c.pending, stuck
		return out, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOpen}, UpperBound: stuckBound})
	if err != nil {
		return store.OpenCounts{}, fmt.Errorf("cannot count stuck requests: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if out.Stuck++; out.Stuck%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return store.OpenCounts{}, fmt.Errorf("cannot count stuck requests: %w", err)
			}
		}
	}
	if err := it.Error(); err != nil {
		return store.OpenCounts{}, fmt.Errorf("cannot count stuck requests: %w", err)
	}
	return out, nil
}
