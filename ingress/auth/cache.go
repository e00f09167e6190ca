package auth

import (
	"hash/maphash"
	"sync"
	"time"
)

// cacheShards spreads the verified-token cache over independent locks.
const cacheShards = 32

// cacheEntry is what a verified token proved: its user and validity window
// (Unix ns; nbf 0 when absent).
type cacheEntry struct {
	user     uint64
	exp, nbf int64
}

// tokenCache remembers verified tokens, bounded to about max entries.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cacheEntry
}

func newTokenCache(max int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max/cacheShards + 1}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(token []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, token)%cacheShards]
}

// get returns the user of token if it verified before and is still inside
// its validity window at now, judged exactly as the jwt validator does.
func (c *tokenCache) get(token []byte, now time.Time, leeway time.Duration) (uint64, bool) {
	s := c.shard(token)
	s.mu.RLock()
	e, ok := s.m[string(token)]
	s.mu.RUnlock()
	if !ok {
		return 0, false
	}
	t := now.UnixNano()
	if t >= e.exp+int64(leeway) { // jwt: valid while now < exp + leeway
		return 0, false
	}
	if e.nbf != 0 && t+int64(leeway) < e.nbf { // jwt: invalid while now + leeway < nbf
		return 0, false
	}
	return e.user, true
}

// put records a verified token. A full shard first drops expired entries,
// then arbitrary ones, so memory stays bounded under any token churn.
func (c *tokenCache) put(token string, e cacheEntry, now time.Time) {
	s := c.shard([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		t := now.UnixNano()
		for k, old := range s.m {
			if t >= old.exp {
				delete(s.m, k)
			}
		}
		for k := range s.m { // map order is random: drop an arbitrary eighth
			if len(s.m) < c.perShard-c.perShard/8 {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[token] = e
}

// len counts cached tokens (tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
