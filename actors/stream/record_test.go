package stream

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exchange/internal-transfer/store"
)

func sampleRequest() store.Request {
	return store.Request{
		ID:              7263012345678901,
		UserID:          42,
		ToUserID:        43,
		FromAccountType: "funding",
		ToAccountType:   "spot",
		Asset:           "USDT",
		Amount:          1_000_000_000,
		IdempotencyKey:  "key-1",
		PendingID:       [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4, 5, 6, 7},
		Status:          store.StatusPending,
		CreatedAt:       time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
	}
}

func TestConfirmationRoundTrip(t *testing.T) {
	req := sampleRequest()
	c := FromRequest(req)
	value, err := Encode(c)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	got, err := Decode(value)
	if err != nil {
		t.Fatalf("Decode(%s): %v", value, err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Fatalf("round trip changed the record (-want +got):\n%s", diff)
	}
	id, err := got.PendingIDBytes()
	if err != nil || id != req.PendingID {
		t.Fatalf("PendingIDBytes = %x, %v; want %x", id, err, req.PendingID)
	}
	if string(got.Key()) != "42" {
		t.Fatalf("Key = %q, want the debited user id in decimal", got.Key())
	}
	// Numbers travel as strings so no reader rounds them through a float.
	for _, want := range []string{`"request_id":"7263012345678901"`, `"amount":"1000000000"`, `"v":1`, `"pending_id":"0123456789abcdef0001020304050607"`} {
		if !strings.Contains(string(value), want) {
			t.Errorf("encoded record %s lacks %s", value, want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(FromRequest(sampleRequest()))
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) string { return strings.Replace(string(good), old, new, 1) }
	tests := []struct {
		name, value string
	}{
		{"not json", "{"},
		{"no version", replace(`"v":1,`, "")},
		{"unknown version", replace(`"v":1`, `"v":2`)},
		{"missing request id", replace(`"request_id":"7263012345678901",`, "")},
		{"zero amount", replace(`"amount":"1000000000"`, `"amount":"0"`)},
		{"amount as number", replace(`"amount":"1000000000"`, `"amount":1000000000`)},
		{"missing asset", replace(`"asset":"USDT",`, "")},
		{"short pending id", replace(`"pending_id":"0123456789abcdef0001020304050607"`, `"pending_id":"0123"`)},
		{"non-hex pending id", replace(`"pending_id":"0123456789abcdef0001020304050607"`, `"pending_id":"zz23456789abcdef0001020304050607"`)},
		{"missing created_at", replace(`,"created_at":"2026-01-02T03:04:05.123456789Z"`, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.value == string(good) {
				t.Fatalf("test case did not change the record")
			}
			_, err := Decode([]byte(tt.value))
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Decode(%s) = %v, want ErrInvalidRecord", tt.value, err)
			}
		})
	}
}

// Fields added within version 1 do not stop older readers.
func TestDecodeIgnoresNewFields(t *testing.T) {
	good, err := Encode(FromRequest(sampleRequest()))
	if err != nil {
		t.Fatal(err)
	}
	extended := strings.Replace(string(good), `"v":1`, `"v":1,"memo":"added later"`, 1)
	got, err := Decode([]byte(extended))
	if err != nil || got.RequestID != sampleRequest().ID {
		t.Fatalf("Decode with an added field = %+v, %v", got, err)
	}
}

func TestEncodeRejectsIncomplete(t *testing.T) {
	req := sampleRequest()
	req.ToUserID = 0
	if _, err := Encode(FromRequest(req)); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Encode without to_user_id = %v, want ErrInvalidRecord", err)
	}
}

func BenchmarkEncodeDecode(b *testing.B) {
	c := FromRequest(sampleRequest())
	b.ReportAllocs()
	for b.Loop() {
		v, err := Encode(c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}
