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
	stripes [lockStripes]cacheStripe
	size    atomic.Int64
	max     int64 // openCacheMax; tests lower it
}

// cacheStripe holds one stripe's requests in a slab, indexed by id. A map
// of requests would allocate every entry apart (a map keeps values over 128
// bytes out of line), once per request created.
type cacheStripe struct {
	at   map[uint64]int32 // id → index in slab
	slab []store.Request
	free []int32 // indexes of emptied slab slots
}

// get returns the cached request id; the caller holds id's stripe.
func (c *openCache) get(id uint64) (store.Request, bool) {
	st := &c.stripes[idStripe(id)&(lockStripes-1)]
	if i, ok := st.at[id]; ok {
		return st.slab[i], true
	}
	return store.Request{}, false
}

// put caches r while it is open and drops it once final; the caller holds
// r.ID's stripe.
func (c *openCache) put(r store.Request) {
	st := &c.stripes[idStripe(r.ID)&(lockStripes-1)]
	i, had := st.at[r.ID]
	switch {
	case r.Status.Final():
		c.drop(r.ID)
	case had:
		st.slab[i] = r
	case c.size.Load() < c.max:
		if st.at == nil {
			st.at = make(map[uint64]int32)
		}
		if n := len(st.free); n > 0 {
			i, st.free = st.free[n-1], st.free[:n-1]
			st.slab[i] = r
		} else {
			i = int32(len(st.slab))
			st.slab = append(st.slab, r)
		}
		st.at[r.ID] = i
		c.size.Add(1)
	}
}

// drop forgets id, whatever its state; the caller holds id's stripe. A
// write whose commit failed calls it, so that no state Pebble might hold
// all the same is hidden behind the cached one. (Pebble applies a batch
// before its WAL sync; it treats a failed sync as fatal today.)
func (c *openCache) drop(id uint64) {
	st := &c.stripes[idStripe(id)&(lockStripes-1)]
	if i, had := st.at[id]; had {
		delete(st.at, id)
		st.slab[i] = store.Request{}
		st.free = append(st.free, i)
		c.size.Add(-1)
	}
}
