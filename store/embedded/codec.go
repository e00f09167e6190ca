package embedded

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// codecVersion is the first byte of every encoded request and action, so the
// layout can change without a migration of what is already stored.
const codecVersion byte = 1

// errCorrupt reports a stored value that does not decode; it means the data
// directory was damaged or written by an incompatible version.
var errCorrupt = fmt.Errorf("embedded: %w", store.ErrCorrupt)

// appendRequest encodes r compactly: version, status (byte 1, which History
// filters on without decoding), varint integers,
// fixed-width times and the ledger id, then length-prefixed strings.
func appendRequest(b []byte, r *store.Request) []byte {
	b = append(b, codecVersion, byte(r.Status))
	b = binary.AppendUvarint(b, r.ID)
	b = binary.AppendUvarint(b, r.UserID)
	b = binary.AppendUvarint(b, r.ToUserID)
	b = binary.AppendUvarint(b, r.Amount)
	b = binary.BigEndian.AppendUint64(b, encodeTime(r.CreatedAt))
	b = binary.BigEndian.AppendUint64(b, encodeTime(r.UpdatedAt))
	b = append(b, r.PendingID[:]...)
	for _, s := range [...]string{r.FromAccountType, r.ToAccountType, r.Asset,
		r.IdempotencyKey, r.Fingerprint, r.ErrorCode, r.ErrorMessage} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decoder reads the fields appendRequest and appendAction wrote; the first
// failure sticks and every later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	if d.err != nil || len(d.b) < 8 {
		d.fail()
		return time.Time{}
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return decodeTime(v)
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	return string(d.bytes(int(n)))
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
}

// decodeRequest is the inverse of appendRequest. It copies what it keeps, so
// b may be a buffer Pebble reuses.
func decodeRequest(b []byte) (store.Request, error) {
	d := decoder{b: b}
	var r store.Request
	if v := d.byte(); v != codecVersion && d.err == nil {
		return r, fmt.Errorf("cannot decode request: version %d: %w", v, errCorrupt)
	}
	r.Status = store.Status(d.byte())
	r.ID = d.uvarint()
	r.UserID = d.uvarint()
	r.ToUserID = d.uvarint()
	r.Amount = d.uvarint()
	r.CreatedAt = d.time()
	r.UpdatedAt = d.time()
	copy(r.PendingID[:], d.bytes(len(r.PendingID)))
	r.FromAccountType = d.string()
	r.ToAccountType = d.string()
	r.Asset = d.string()
	r.IdempotencyKey = d.string()
	r.Fingerprint = d.string()
	r.ErrorCode = d.string()
	r.ErrorMessage = d.string()
	if d.err == nil && (len(d.b) != 0 || !r.Status.Valid()) {
		d.fail()
	}
	if d.err != nil {
		return store.Request{}, fmt.Errorf("cannot decode request: %w", d.err)
	}
	return r, nil
}

// appendAction encodes an operator action (the request id is in the key).
func appendAction(b []byte, a *store.Action) []byte {
	b = append(b, codecVersion)
	b = binary.BigEndian.AppendUint64(b, encodeTime(a.At))
	for _, s := range [...]string{a.Kind, a.Operator, a.Reason} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeAction is the inverse of appendAction.
func decodeAction(id uint64, b []byte) (store.Action, error) {
	d := decoder{b: b}
	a := store.Action{RequestID: id}
	if v := d.byte(); v != codecVersion && d.err == nil {
		return a, fmt.Errorf("cannot decode action: version %d: %w", v, errCorrupt)
	}
	a.At = d.time()
	a.Kind = d.string()
	a.Operator = d.string()
	a.Reason = d.string()
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return store.Action{}, fmt.Errorf("cannot decode action: %w", d.err)
	}
	return a, nil
}
