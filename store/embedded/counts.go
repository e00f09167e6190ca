package embedded

import (
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
type openCounters struct {
	mu         sync.Mutex
	requesting int
	pending    int
	byUser     map[uint64]int32
}

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
		panic(fmt.Sprintf("BUG: open counters below zero: requesting %d pending %d", c.requesting, c.pending))
	}
}

func (c *openCounters) addUser(user uint64, d int) {
	if c.byUser == nil {
		c.byUser = make(map[uint64]int32)
	}
	n := c.byUser[user] + int32(d)
	switch {
	case n < 0:
		panic(fmt.Sprintf("BUG: requests in requesting of user %d below zero", user))
	case n == 0:
		delete(c.byUser, user)
	default:
		c.byUser[user] = n
	}
}

// hasRequesting reports whether user is on either side of a request in
// requesting.
func (c *openCounters) hasRequesting(user uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byUser[user] > 0
}

func (c *openCounters) get() (requesting, pending int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requesting, c.pending
}

// rebuildCounts counts the open index by the status of each request; Open
// calls it before serving.
func (s *Store) rebuildCounts() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOpen}, UpperBound: []byte{prefixOpen + 1}})
	if err != nil {
		return fmt.Errorf("cannot count open requests: %w", err)
	}
	defer it.Close()
	var c openCounters
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != openKeyLen {
			return fmt.Errorf("cannot count open requests: entry %x: %w", k, errCorrupt)
		}
		id := binary.BigEndian.Uint64(k[openCursorOffset+8:])
		r, err := s.getRequest(s.db, id)
		if err != nil {
			return fmt.Errorf("cannot count open requests: request %d: %w", id, err)
		}
		if r.Status.Final() {
			return fmt.Errorf("cannot count open requests: request %d is %s but indexed open: %w", id, r.Status, errCorrupt)
		}
		c.add(&r, r.Status, 1)
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("cannot count open requests: %w", err)
	}
	s.counts.requesting, s.counts.pending, s.counts.byUser = c.requesting, c.pending, c.byUser
	return nil
}

// CountOpen counts non-final requests. Requesting and Pending come from the
// in-memory counters; Stuck scans the open index up to stuckBefore, so it
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
	out.Requesting, out.Pending = s.counts.get()
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixOpen},
		UpperBound: binary.BigEndian.AppendUint64([]byte{prefixOpen}, encodeTimeClamped(stuckBefore)),
	})
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
