package stream

import (
	"bytes"
	"strconv"
	"time"
)

// The fast codec. Every transfer's record is encoded once by the gateway and
// decoded once by settlement, and encoding/json's reflection was about 3.5 %
// of the service's CPU at 5K transfers/s. appendFast writes exactly the
// bytes json.Marshal writes, for the records it can (strings of plain
// printable ASCII, which are every record the service makes); decodeFast
// reads exactly that layout back. Anything else — another field order,
// whitespace, escapes, unknown fields — falls back to encoding/json, so the
// format stays the documented one and its readers may be anything.
// TestFastCodecMatchesEncodingJSON holds the two paths to the same output.

// appendFast appends c as json.Marshal would encode it; ok is false (and dst
// unchanged in meaning) when c has a string or time the fast path leaves to
// encoding/json.
func appendFast(dst []byte, c *Confirmation) (out []byte, ok bool) {
	if !plain(c.FromAccountType) || !plain(c.ToAccountType) || !plain(c.Asset) ||
		!plain(c.PendingID) || !plain(c.IdempotencyKey) {
		return dst, false
	}
	if y := c.CreatedAt.Year(); y < 0 || y > 9999 { // MarshalJSON's range (it fails outside)
		return dst, false
	}
	b := append(dst, `{"v":`...)
	b = strconv.AppendInt(b, int64(c.V), 10)
	b = appendNum(b, `,"request_id":"`, c.RequestID)
	b = appendNum(b, `,"user_id":"`, c.UserID)
	b = appendNum(b, `,"to_user_id":"`, c.ToUserID)
	b = appendStr(b, `,"from_account_type":"`, c.FromAccountType)
	b = appendStr(b, `,"to_account_type":"`, c.ToAccountType)
	b = appendStr(b, `,"asset":"`, c.Asset)
	b = appendNum(b, `,"amount":"`, c.Amount)
	b = appendStr(b, `,"pending_id":"`, c.PendingID)
	if c.IdempotencyKey != "" {
		b = appendStr(b, `,"idempotency_key":"`, c.IdempotencyKey)
	}
	b = append(b, `,"created_at":"`...)
	b = c.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), true
}

func appendNum(b []byte, name string, v uint64) []byte {
	return append(strconv.AppendUint(append(b, name...), v, 10), '"')
}

func appendStr(b []byte, name, v string) []byte {
	return append(append(append(b, name...), v...), '"')
}

// plain reports whether encoding/json writes s between its quotes as it is:
// printable ASCII without the characters it escapes (" \ and, for HTML
// safety, < > &).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// decodeFast parses a value in exactly appendFast's layout; ok is false for
// anything else, which the caller then gives to encoding/json. It does not
// validate: the caller does, as for the slow path.
func decodeFast(v []byte) (c Confirmation, ok bool) {
	p := fastParser{b: v}
	if !p.lit(`{"v":`) {
		return c, false
	}
	ver, ok := p.int()
	if !ok {
		return c, false
	}
	c.V = ver
	c.RequestID, ok = p.num(`,"request_id":"`)
	if !ok {
		return c, false
	}
	if c.UserID, ok = p.num(`,"user_id":"`); !ok {
		return c, false
	}
	if c.ToUserID, ok = p.num(`,"to_user_id":"`); !ok {
		return c, false
	}
	if c.FromAccountType, ok = p.str(`,"from_account_type":"`); !ok {
		return c, false
	}
	if c.ToAccountType, ok = p.str(`,"to_account_type":"`); !ok {
		return c, false
	}
	if c.Asset, ok = p.str(`,"asset":"`); !ok {
		return c, false
	}
	if c.Amount, ok = p.num(`,"amount":"`); !ok {
		return c, false
	}
	if c.PendingID, ok = p.str(`,"pending_id":"`); !ok {
		return c, false
	}
	if bytes.HasPrefix(p.b, []byte(`,"idempotency_key":"`)) {
		if c.IdempotencyKey, ok = p.str(`,"idempotency_key":"`); !ok || c.IdempotencyKey == "" {
			return c, false // an empty key is omitted by the encoder: not this layout
		}
	}
	ts, ok := p.str(`,"created_at":"`)
	if !ok || !p.lit(`}`) || len(p.b) != 0 {
		return c, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return c, false
	}
	// Only the layout appendFast writes: UTC ("Z"), as json.Unmarshal would
	// also read it; anything else takes the slow path.
	if !bytes.Equal(t.AppendFormat(nil, time.RFC3339Nano), []byte(ts)) {
		return c, false
	}
	c.CreatedAt = t
	return c, true
}

// fastParser consumes a byte slice from the front.
type fastParser struct{ b []byte }

func (p *fastParser) lit(s string) bool {
	if !bytes.HasPrefix(p.b, []byte(s)) {
		return false
	}
	p.b = p.b[len(s):]
	return true
}

// int reads a small JSON integer (the version): digits without a sign or a
// leading zero, as encoding/json writes them.
func (p *fastParser) int() (int, bool) {
	n := 0
	for n < len(p.b) && n < 9 && p.b[n] >= '0' && p.b[n] <= '9' {
		n++
	}
	if n == 0 || (n > 1 && p.b[0] == '0') || (n < len(p.b) && p.b[n] >= '0' && p.b[n] <= '9') {
		return 0, false
	}
	v, err := strconv.Atoi(string(p.b[:n]))
	if err != nil {
		return 0, false
	}
	p.b = p.b[n:]
	return v, true
}

// num reads name and then a quoted decimal uint64 as the ",string" option
// writes it (no sign, no leading zero).
func (p *fastParser) num(name string) (uint64, bool) {
	if !p.lit(name) {
		return 0, false
	}
	end := bytes.IndexByte(p.b, '"')
	if end <= 0 || (end > 1 && p.b[0] == '0') {
		return 0, false
	}
	for _, d := range p.b[:end] {
		if d < '0' || d > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(string(p.b[:end]), 10, 64)
	if err != nil {
		return 0, false
	}
	p.b = p.b[end+1:]
	return v, true
}

// str reads name and then a quoted string of plain characters.
func (p *fastParser) str(name string) (string, bool) {
	if !p.lit(name) {
		return "", false
	}
	end := bytes.IndexByte(p.b, '"')
	if end < 0 {
		return "", false
	}
	s := string(p.b[:end])
	if !plain(s) {
		return "", false
	}
	p.b = p.b[end+1:]
	return s, true
}
