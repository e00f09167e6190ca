package stream

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// slowDecode is Decode's encoding/json path alone.
func slowDecode(v []byte) (Confirmation, error) {
	var c Confirmation
	err := json.Unmarshal(v, &c)
	return c, err
}

// randomConfirmation draws a record, with strings that are sometimes
// outside what the fast path handles (escapes, HTML characters, non-ASCII)
// and times in and out of RFC 3339's range and in other zones.
func randomConfirmation(r *rand.Rand) Confirmation {
	str := func() string {
		alphabet := []string{"a", "Z", "0", "-", "_", ".", " ", "~", `"`, `\`, "<", ">", "&", "é", "\n", "\x7f", "\u2028"}
		n := r.IntN(12)
		var b strings.Builder
		for range n {
			if r.IntN(4) == 0 {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			} else {
				b.WriteString(alphabet[r.IntN(6)])
			}
		}
		return b.String()
	}
	num := func() uint64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return ^uint64(0) - uint64(r.IntN(3))
		}
		return r.Uint64() >> r.IntN(64)
	}
	var pid [16]byte
	for i := range pid {
		pid[i] = byte(r.Uint32())
	}
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -7*3600)}
	at := time.Unix(r.Int64N(1<<36)-(1<<35), r.Int64N(1e9)).In(zones[r.IntN(len(zones))])
	if r.IntN(20) == 0 {
		at = time.Date(10000+r.IntN(5), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c := Confirmation{V: r.IntN(3), RequestID: num(), UserID: num(), ToUserID: num(),
		FromAccountType: str(), ToAccountType: str(), Asset: str(), Amount: num(),
		PendingID: str(), IdempotencyKey: str(), CreatedAt: at}
	if r.IntN(2) == 0 {
		c.PendingID = strings.Repeat("0a", 16)
	}
	return c
}

// TestFastCodecMatchesEncodingJSON: whenever the fast encoder takes a
// record it writes exactly json.Marshal's bytes, and it takes every record
// of plain strings in range; the fast decoder reads back exactly what
// json.Unmarshal reads, and refuses (for the slow path to judge) every
// value it does not read exactly so — mutations of valid values included.
func TestFastCodecMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	taken := 0
	for i := range 20_000 {
		c := randomConfirmation(r)
		want, err := json.Marshal(c)
		got, ok := appendFast(nil, &c)
		if ok {
			taken++
			if err != nil || string(got) != string(want) {
				t.Fatalf("case %d: fast encoding\n%s\nencoding/json (err %v)\n%s", i, got, err, want)
			}
		} else if err == nil && plain(c.FromAccountType) && plain(c.ToAccountType) && plain(c.Asset) &&
			plain(c.PendingID) && plain(c.IdempotencyKey) && c.CreatedAt.Year() <= 9999 {
			t.Fatalf("case %d: fast encoder refused a plain record %+v", i, c)
		}
		if err != nil {
			continue
		}
		for j, v := range append([][]byte{want}, mutations(r, want)...) {
			fast, ok := decodeFast(v)
			slow, slowErr := slowDecode(v)
			if !ok {
				if j == 0 && string(v) == string(got) {
					t.Fatalf("case %d: fast decoder refused its own encoding %s", i, v)
				}
				continue
			}
			if slowErr != nil {
				t.Fatalf("case %d.%d: fast decoder read %s, which encoding/json refuses: %v", i, j, v, slowErr)
			}
			if diff := cmp.Diff(slow, fast); diff != "" {
				t.Fatalf("case %d.%d: decoders differ on %s (-json +fast):\n%s", i, j, v, diff)
			}
		}
	}
	if taken < 1000 {
		t.Fatalf("fast encoder took only %d of 20000 records; the test does not exercise it", taken)
	}
}

// mutations returns variants of a valid value: reordered or extra fields,
// whitespace, escapes, changed numbers, truncations.
func mutations(r *rand.Rand, v []byte) [][]byte {
	s := string(v)
	out := []string{
		strings.Replace(s, `{"v":`, `{ "v":`, 1),
		strings.Replace(s, `,"asset":`, `,"extra":1,"asset":`, 1),
		strings.Replace(s, `"}`, `","z":null}`, 1),
		strings.Replace(s, `"request_id":"`, `"request_id":"0`, 1),
		strings.Replace(s, `"amount":"`, `"amount":"-`, 1),
		strings.Replace(s, `"v":1`, `"v":1.0`, 1),
		strings.Replace(s, `"v":1`, `"v":01`, 1),
		strings.Replace(s, `Z"}`, `+00:00"}`, 1),
		strings.Replace(s, `"asset":"`, `"asset":"\u0041`, 1),
		strings.Replace(s, `,"idempotency_key":"`, `,"idempotency_key":"","x":"`, 1),
		s + " ",
		s[:r.IntN(len(s))],
	}
	res := make([][]byte, len(out))
	for i, m := range out {
		res[i] = []byte(m)
	}
	return res
}

// TestDecodeFallsBackForOtherLayouts: values the fast path does not take
// are still decoded by the documented rules.
func TestDecodeFallsBackForOtherLayouts(t *testing.T) {
	c := FromRequest(sampleRequest())
	c.Asset = "US<DT" // escaped by encoding/json: the slow encoder runs
	v, err := Encode(c)
	if err != nil || !strings.Contains(string(v), `\u003c`) {
		t.Fatalf("Encode = %s, %v; want encoding/json's escape", v, err)
	}
	got, err := Decode(v)
	if err != nil || got.Asset != "US<DT" {
		t.Fatalf("Decode(%s) = %+v, %v", v, got, err)
	}
	pretty, _ := json.MarshalIndent(FromRequest(sampleRequest()), "", "  ")
	if _, ok := decodeFast(pretty); ok {
		t.Fatalf("fast decoder took an indented value")
	}
	got, err = Decode(pretty)
	if err != nil || got.RequestID != sampleRequest().ID {
		t.Fatalf("Decode(indented) = %+v, %v", got, err)
	}
}
