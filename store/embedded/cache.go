package embedded

import (
	"sync/atomic"

	"github.com/exchange/internal-transfer/store"
)

// openCacheMax bounds the open requests kept in memory (about 200 bytes
// each), so a backlog after an outage cannot grow the cache without limit;
// past it, Advance reads the request from Pebble.
const openCacheMax = 1 << 18

// openCache keeps the current state of recently created, still open
// requests so that Advance — normally a few milliseconds after Create — needs
// no Pebble read. It is split by lock stripe: an entry is read and written
// only under its id's stripe lock, after its batch committed, so it always
// equals the stored request.
type openCache struct {
	stripes [lockStripes]map[uint64]store.Request
	size    atomic.Int64
	max     int64 // openCacheMax; tests lower it
}

// get returns the cached request id; the caller holds id's stripe.
func (c *openCache) get(id uint64) (store.Request, bool) {
	r, ok := c.stripes[idStripe(id)&(lockStripes-1)][id]
	return r, ok
}

// put caches r while it is open and drops it once final; the caller holds
// r.ID's stripe.
func (c *openCache) put(r store.Request) {
	i := idStripe(r.ID) & (lockStripes - 1)
	m := c.stripes[i]
	_, had := m[r.ID]
	switch {
	case r.Status.Final():
		if had {
			delete(m, r.ID)
			c.size.Add(-1)
		}
	case had:
		m[r.ID] = r
	case c.size.Load() < c.max:
		if m == nil {
			m = make(map[uint64]store.Request)
			c.stripes[i] = m
		}
		m[r.ID] = r
		c.size.Add(1)
	}
}
