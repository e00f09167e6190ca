package ingress

import (
	"sync"
	"time"
)

// limiterShards spreads users over independent locks.
const limiterShards = 64

// DefaultRateLimitUsersMax bounds the users the rate limiter tracks at once.
const DefaultRateLimitUsersMax = 1 << 20

// rateLimiter is a token bucket per user: perMinute tokens refilled evenly
// over a minute, burst perMinute. A bucket that has refilled completely
// holds no information (a new bucket starts full), so idle users are
// dropped on a sweep without changing anyone's limit. Only when more than
// usersMax users were active within one minute does it drop arbitrary
// buckets, granting those users an early refill rather than growing.
type rateLimiter struct {
	burst       float64
	tokensPerNs float64
	perShard    int
	shards      [limiterShards]limiterShard
}

type limiterShard struct {
	mu        sync.Mutex
	buckets   map[uint64]bucket
	nextSweep int64    // Unix ns
	_         [32]byte // keep neighbouring shards' locks off one cache line
}

type bucket struct {
	tokens float64
	last   int64 // Unix ns of the last refill
}

// sweepInterval is how often a shard drops refilled buckets.
const sweepInterval = time.Minute

func newRateLimiter(perMinute, usersMax int) *rateLimiter {
	if perMinute <= 0 || usersMax <= 0 {
		panic("BUG: newRateLimiter needs perMinute > 0 and usersMax > 0")
	}
	l := &rateLimiter{
		burst:       float64(perMinute),
		tokensPerNs: float64(perMinute) / float64(time.Minute),
		perShard:    usersMax/limiterShards + 1,
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[uint64]bucket)
	}
	return l
}

// allow takes one token of user's bucket at now (Unix ns). When the bucket
// is empty it returns false and how long until the next token.
func (l *rateLimiter) allow(user uint64, now int64) (bool, time.Duration) {
	s := &l.shards[shardOf(user)]
	s.mu.Lock()
	if now >= s.nextSweep || len(s.buckets) >= l.perShard {
		l.sweep(s, now)
	}
	b, ok := s.buckets[user]
	if !ok {
		b = bucket{tokens: l.burst, last: now}
	} else if now > b.last {
		b.tokens += float64(now-b.last) * l.tokensPerNs
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
		b.last = now
	}
	if b.tokens < 1 {
		s.buckets[user] = b
		s.mu.Unlock()
		wait := time.Duration((1 - b.tokens) / l.tokensPerNs)
		return false, wait
	}
	b.tokens--
	s.buckets[user] = b
	s.mu.Unlock()
	return true, 0
}

// shardOf spreads sequential user ids over the shards (Fibonacci hashing).
func shardOf(user uint64) uint64 { return (user * 0x9E3779B97F4A7C15) >> 58 }

// sweep drops the buckets of s that have refilled by now; if s is still
// full it drops arbitrary buckets down to seven eighths. s.mu is held.
func (l *rateLimiter) sweep(s *limiterShard, now int64) {
	for user, b := range s.buckets {
		if b.tokens+float64(now-b.last)*l.tokensPerNs >= l.burst {
			delete(s.buckets, user)
		}
	}
	for user := range s.buckets { // map order is random
		if len(s.buckets) < l.perShard-l.perShard/8 {
			break
		}
		delete(s.buckets, user)
	}
	s.nextSweep = now + int64(sweepInterval)
}

// tracked counts the users with a bucket (tests).
func (l *rateLimiter) tracked() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}
