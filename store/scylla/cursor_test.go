package scylla

import (
	"encoding/base64"
	"errors"
	"math"
	"testing"

	"github.com/exchange/internal-transfer/store"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []cursor{
		{kind: cursorHistory, createdMs: 1_764_000_000_123, requestID: 42},
		{kind: cursorOpen, createdMs: 1_764_000_000_123, requestID: math.MaxInt64},
		{kind: cursorHistory, createdMs: -1, requestID: math.MinInt64}, // before 1970: floor bucket
		{kind: cursorOpen, createdMs: 0, requestID: 1},
	} {
		c.bucket = bucketOf(c.kind, c.createdMs)
		got, ok, err := decodeCursor(c.encode(), c.kind)
		if err != nil || !ok || got != c {
			t.Errorf("decode(encode(%+v)) = %+v, %v, %v", c, got, ok, err)
		}
	}
	if _, ok, err := decodeCursor("", cursorOpen); ok || err != nil {
		t.Errorf(`decode("") = %v, %v; want the first-page cursor`, ok, err)
	}
	if b := bucketOf(cursorHistory, -1); b != -1 {
		t.Errorf("day bucket of -1 ms = %d, want -1", b)
	}
}

func TestCursorRejectsGarbage(t *testing.T) {
	valid := cursor{kind: cursorHistory, bucket: bucketOf(cursorHistory, 5000), createdMs: 5000, requestID: 7}.encode()
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	with := func(i int, v byte) string {
		b := append([]byte(nil), raw...)
		b[i] = v
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name, cursor string
		kind         cursorKind
	}{
		{"not base64", "***", cursorHistory},
		{"padded base64", valid + "==", cursorHistory},
		{"too short", valid[:len(valid)-2], cursorHistory},
		{"too long", base64.RawURLEncoding.EncodeToString(append(raw, 0)), cursorHistory},
		{"wrong version", with(0, 9), cursorHistory},
		{"other kind", valid, cursorOpen},
		{"bucket not its key's", with(9, 1), cursorHistory},
		{"plain text", "next-page", cursorHistory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeCursor(tc.cursor, tc.kind); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("decodeCursor(%q) error = %v, want store.ErrInvalid", tc.cursor, err)
			}
		})
	}
}
