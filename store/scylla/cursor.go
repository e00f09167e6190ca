package scylla

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/exchange/internal-transfer/store"
)

// cursorKind tells a history cursor from an open-requests cursor, so one can
// never be replayed as the other.
type cursorKind byte

const (
	cursorHistory cursorKind = 'h'
	cursorOpen    cursorKind = 'o'
)

const (
	cursorVersion = 1
	cursorLen     = 2 + 3*8
)

// cursor is the position after the last row a page returned: the bucket
// (history: day, open: minute) and the clustering key (created_at in
// milliseconds, request_id) of that row. It travels base64url-encoded as
// version, kind, bucket, created_at, request_id (big-endian int64s).
type cursor struct {
	kind      cursorKind
	bucket    int64
	createdMs int64
	requestID int64
}

func (c cursor) encode() string {
	var b [cursorLen]byte
	b[0], b[1] = cursorVersion, byte(c.kind)
	binary.BigEndian.PutUint64(b[2:], uint64(c.bucket))
	binary.BigEndian.PutUint64(b[10:], uint64(c.createdMs))
	binary.BigEndian.PutUint64(b[18:], uint64(c.requestID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// bucketOf is the bucket a clustering key at createdMs lives in, by kind.
func bucketOf(kind cursorKind, createdMs int64) int64 {
	if kind == cursorHistory {
		return floorDiv(createdMs, dayMillis)
	}
	return floorDiv(createdMs, minuteMillis)
}

// decodeCursor parses s, which must be a cursor of kind; "" is the zero
// cursor (first page). Anything else wraps store.ErrInvalid.
func decodeCursor(s string, kind cursorKind) (cursor, bool, error) {
	if s == "" {
		return cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion || cursorKind(b[1]) != kind {
		return cursor{}, false, fmt.Errorf("cannot decode cursor %q: %w", s, store.ErrInvalid)
	}
	c := cursor{
		kind:      kind,
		bucket:    int64(binary.BigEndian.Uint64(b[2:])),
		createdMs: int64(binary.BigEndian.Uint64(b[10:])),
		requestID: int64(binary.BigEndian.Uint64(b[18:])),
	}
	if c.bucket != bucketOf(kind, c.createdMs) {
		return cursor{}, false, fmt.Errorf("cannot decode cursor %q: bucket does not match its key: %w", s, store.ErrInvalid)
	}
	return c, true, nil
}
