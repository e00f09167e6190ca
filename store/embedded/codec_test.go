package embedded

import (
	"bytes"
	"errors"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
)

func fullRequest() store.Request {
	r := store.Request{
		ID: math.MaxUint64, UserID: 1, ToUserID: 1 << 40, FromAccountType: "funding",
		ToAccountType: "spot", Asset: "USDT", Amount: 123_456_789, IdempotencyKey: "key-ü",
		Fingerprint: "fp", Status: store.StatusFailed, ErrorCode: "ACCOUNT_FROZEN",
		ErrorMessage: "frozen", CreatedAt: time.Unix(1700000000, 123456789).UTC(),
		UpdatedAt: time.Unix(-5, 1).UTC(),
	}
	r.PendingID = [16]byte{1, 2, 3, 15: 16}
	return r
}

func TestRequestCodecRoundTrip(t *testing.T) {
	for name, r := range map[string]store.Request{
		"full":    fullRequest(),
		"minimal": {ID: 1, UserID: 2, Status: store.StatusRequesting, CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(0, 0).UTC()},
	} {
		t.Run(name, func(t *testing.T) {
			enc := appendRequest(nil, &r)
			if store.Status(enc[1]) != r.Status {
				t.Errorf("byte 1 = %d, want the status %d (History filters on it)", enc[1], r.Status)
			}
			got, err := decodeRequest(enc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequestCodecRejectsDamage checks every truncation, a trailing byte, a
// wrong version and an invalid status are errors, never a wrong request.
func TestRequestCodecRejectsDamage(t *testing.T) {
	r := fullRequest()
	enc := appendRequest(nil, &r)
	for n := range len(enc) {
		if _, err := decodeRequest(enc[:n]); !errors.Is(err, errCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v, want errCorrupt", n, err)
		}
	}
	damaged := map[string][]byte{
		"trailing byte": append(append([]byte(nil), enc...), 0),
		"version":       append([]byte{codecVersion + 1}, enc[1:]...),
		"status":        append([]byte{codecVersion, 9}, enc[2:]...),
	}
	for name, b := range damaged {
		if _, err := decodeRequest(b); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want errCorrupt", name, err)
		}
	}
}

func TestActionCodecRoundTrip(t *testing.T) {
	a := store.Action{RequestID: 9, Kind: "void", Operator: "alice", Reason: "ticket 7", At: time.Unix(1, 2).UTC()}
	enc := appendAction(nil, &a)
	got, err := decodeAction(9, enc)
	if err != nil || got != a {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, a)
	}
	if _, err := decodeAction(9, enc[:len(enc)-1]); !errors.Is(err, errCorrupt) {
		t.Errorf("truncated action: err = %v, want errCorrupt", err)
	}
}

// TestKeyOrder checks the byte order of keys is the order queries need: open
// entries oldest first, history entries newest first, across the epoch.
func TestKeyOrder(t *testing.T) {
	times := []time.Time{time.Unix(-100, 0), time.Unix(-1, 999), time.Unix(0, 0), time.Unix(0, 1), time.Unix(1<<32, 0)}
	var open, hist [][]byte
	for i, tm := range times {
		for id := uint64(1); id <= 2; id++ {
			open = append(open, openKey(tm, id))
			hist = append([][]byte{historyKey(5, tm, id)}, hist...)
		}
		if !decodeTime(encodeTime(tm)).Equal(tm) {
			t.Errorf("time %d does not round-trip", i)
		}
	}
	for name, keys := range map[string][][]byte{"open": open, "history": hist} {
		if !sort.SliceIsSorted(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 }) {
			t.Errorf("%s keys are not in query order", name)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{[]byte{1, 2}, []byte{1, 3}},
		{[]byte{1, 0xff}, []byte{2}},
		{[]byte{0xff, 0xff}, nil},
	}
	for _, c := range cases {
		if got := prefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("prefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}
