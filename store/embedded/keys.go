package embedded

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Key layout. Every key starts with a one-byte table prefix followed by
// fixed-width big-endian fields, so Pebble's bytewise order is the order the
// queries need:
//
//	'r' id                       → request (codec.go)
//	'h' user ^created ^id        → empty (before: a copy of the final request); history
//	'o' created id               → empty; open (non-final), oldest first
//	'i' user key                 → id, keyWrittenAt; idempotency key
//	'e' keyWrittenAt user key    → empty; idempotency keys by age, for the sweep
//	'a' id seq                   → action (codec.go), oldest first
//	'n' node                     → claimed until (ns), owner; node claims
const (
	prefixRequest byte = 'r'
	prefixHistory byte = 'h'
	prefixOpen    byte = 'o'
	prefixIdemKey byte = 'i'
	prefixIdemAge byte = 'e'
	prefixAction  byte = 'a'
	prefixNode    byte = 'n'
	prefixMeta    byte = 'm' // the store's own state: filterTokenKey
)

// Widths and offsets of the fixed-width keys and values above.
const (
	requestKeyLen       = 1 + 8
	historyKeyLen       = 1 + 8 + 8 + 8
	openKeyLen          = 1 + 8 + 8
	actionKeyLen        = 1 + 8 + 4
	nodeKeyLen          = 1 + 4
	idemValueLen        = 8 + 8
	idemKeyHeaderLen    = 1 + 8
	idemAgeHeaderLen    = 1 + 8 + 8
	timeCursorLen       = 8 + 8 // (time, id) part of history and open keys
	historyCursorOffset = 1 + 8
	openCursorOffset    = 1
	actionSeqMax        = math.MaxUint32
)

// encodeTime maps a time to a uint64 whose unsigned order is the time order
// (nanoseconds since the epoch with the sign bit flipped).
func encodeTime(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

// decodeTime is the inverse of encodeTime.
func decodeTime(v uint64) time.Time { return time.Unix(0, int64(v^(1<<63))).UTC() }

// encodeTimeClamped is encodeTime for query bounds: a time before the
// encodable range maps to the smallest value and one after it to the
// largest, so "created before year 1" selects nothing instead of failing.
func encodeTimeClamped(t time.Time) uint64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxUint64
	}
	return encodeTime(t)
}

// timeEncodable reports whether t fits UnixNano (years 1678..2262).
func timeEncodable(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

func requestKey(id uint64) []byte { return appendRequestKey(nil, id) }

// appendRequestKey and the other append… key builders below append a key to
// dst, so that the write paths build keys in a stack buffer (Batch.Set
// copies them) instead of allocating each.
func appendRequestKey(dst []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixRequest), id)
}

func historyPrefix(user uint64) []byte {
	k := make([]byte, 1+8, historyKeyLen+1)
	k[0] = prefixHistory
	binary.BigEndian.PutUint64(k[1:], user)
	return k
}

// historyKey orders a user's entries newest first: created and id are
// complemented so that a forward scan goes backwards in time.
func historyKey(user uint64, created time.Time, id uint64) []byte {
	return appendHistoryKey(nil, user, created, id)
}

func appendHistoryKey(dst []byte, user uint64, created time.Time, id uint64) []byte {
	dst = binary.BigEndian.AppendUint64(append(dst, prefixHistory), user)
	dst = binary.BigEndian.AppendUint64(dst, ^encodeTime(created))
	return binary.BigEndian.AppendUint64(dst, ^id)
}

// openKey orders non-final requests oldest first.
func openKey(created time.Time, id uint64) []byte { return appendOpenKey(nil, created, id) }

func appendOpenKey(dst []byte, created time.Time, id uint64) []byte {
	dst = binary.BigEndian.AppendUint64(append(dst, prefixOpen), encodeTime(created))
	return binary.BigEndian.AppendUint64(dst, id)
}

func idemKey(user uint64, key string) []byte { return appendIdemKey(nil, user, key) }

func appendIdemKey(dst []byte, user uint64, key string) []byte {
	return append(binary.BigEndian.AppendUint64(append(dst, prefixIdemKey), user), key...)
}

func idemAgeKey(written time.Time, user uint64, key string) []byte {
	return appendIdemAgeKey(nil, written, user, key)
}

func appendIdemAgeKey(dst []byte, written time.Time, user uint64, key string) []byte {
	dst = binary.BigEndian.AppendUint64(append(dst, prefixIdemAge), encodeTime(written))
	dst = binary.BigEndian.AppendUint64(dst, user)
	return append(dst, key...)
}

func encodeIdemValue(id uint64, written time.Time) []byte {
	return appendIdemValue(nil, id, written)
}

func appendIdemValue(dst []byte, id uint64, written time.Time) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(dst, id), encodeTime(written))
}

func decodeIdemValue(v []byte) (id uint64, written time.Time, ok bool) {
	if len(v) != idemValueLen {
		return 0, time.Time{}, false
	}
	return binary.BigEndian.Uint64(v), decodeTime(binary.BigEndian.Uint64(v[8:])), true
}

func nodeKey(node int) []byte {
	k := make([]byte, nodeKeyLen)
	k[0] = prefixNode
	binary.BigEndian.PutUint32(k[1:], uint32(node))
	return k
}

func actionKey(id uint64, seq uint32) []byte {
	k := make([]byte, actionKeyLen)
	k[0] = prefixAction
	binary.BigEndian.PutUint64(k[1:], id)
	binary.BigEndian.PutUint32(k[9:], seq)
	return k
}

// prefixEnd returns the smallest key greater than every key starting with p,
// or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// keySuccessor returns the smallest key greater than k.
func keySuccessor(k []byte) []byte {
	return append(append(make([]byte, 0, len(k)+1), k...), 0)
}

func idStripe(id uint64) uint64 { return (id * 0x9e3779b97f4a7c15) >> 32 }

// keySeedKey holds the database's seed for hashing idempotency keys
// (keyStripe): drawn at random when the database is first opened and the
// same in every process after. A key's filter entry must land where a
// later process looks for it (the filter outlives the process in its
// snapshot, see filtersnap), while a client must not be able to choose
// keys that crowd one lock stripe or filter block: a per-process seed gave
// the second, a fixed hash the first.
var keySeedKey = []byte{prefixMeta, 'k'}

// keySeed reads the database's key seed, drawing and storing (synced) one
// when there is none.
func keySeed(db *pebble.DB) (uint64, error) {
	v, found, err := get(db, keySeedKey)
	switch {
	case err != nil:
		return 0, fmt.Errorf("cannot read the key seed: %w", err)
	case found && len(v) == 8:
		return binary.BigEndian.Uint64(v), nil
	case found:
		return 0, fmt.Errorf("key seed of %d bytes: %w", len(v), errCorrupt)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	if err := db.Set(keySeedKey, b[:], pebble.Sync); err != nil {
		return 0, fmt.Errorf("cannot store the key seed: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// keyStripe hashes an idempotency key (user, key), with the database's
// seed, for its lock stripe and its entry in the seen filter; key is the
// client's string or the bytes read from Pebble, alike.
func keyStripe[K string | []byte](seed, user uint64, key K) uint64 {
	h := mix(seed^user, 0x9e3779b97f4a7c15)
	i := 0
	for ; i+8 <= len(key); i += 8 {
		var w uint64
		for j := 7; j >= 0; j-- {
			w = w<<8 | uint64(key[i+j])
		}
		h = mix(h^w, 0xbf58476d1ce4e5b9)
	}
	var tail uint64
	for j := len(key) - 1; j >= i; j-- {
		tail = tail<<8 | uint64(key[j])
	}
	return mix(h^tail^uint64(len(key))<<58, 0x94d049bb133111eb)
}

// mix folds the 128-bit product of a and b.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
