package ingress

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/exchange/internal-transfer/ledger"
)

func TestParseAmount(t *testing.T) {
	cases := []struct {
		in       string
		decimals int
		want     uint64
		err      error
	}{
		{"10.00000000", 8, 1_000_000_000, nil},
		{"10", 8, 1_000_000_000, nil},
		{"0.00000001", 8, 1, nil},
		{"1.5", 8, 150_000_000, nil},
		{"007", 0, 7, nil},
		{"123", 0, 123, nil},
		{"18446744073709551615", 0, 18446744073709551615, nil},
		{"184467440737.09551615", 8, 18446744073709551615, nil},
		{"0.000000000000000001", 18, 1, nil},
		{"18.446744073709551615", 18, 18446744073709551615, nil},

		{"1.000000000", 8, 0, ErrInvalidPrecision},
		{"0.000000001", 8, 0, ErrInvalidPrecision},
		{"1.5", 0, 0, ErrInvalidPrecision},

		{"", 8, 0, ErrInvalidAmount},
		{"0", 8, 0, ErrInvalidAmount},
		{"0.00000000", 8, 0, ErrInvalidAmount},
		{"-1", 8, 0, ErrInvalidAmount},
		{"+1", 8, 0, ErrInvalidAmount},
		{"1e5", 8, 0, ErrInvalidAmount},
		{"1E5", 8, 0, ErrInvalidAmount},
		{"0x10", 8, 0, ErrInvalidAmount},
		{" 1", 8, 0, ErrInvalidAmount},
		{"1 ", 8, 0, ErrInvalidAmount},
		{"1\n", 8, 0, ErrInvalidAmount},
		{".5", 8, 0, ErrInvalidAmount},
		{"5.", 8, 0, ErrInvalidAmount},
		{".", 8, 0, ErrInvalidAmount},
		{"1..5", 8, 0, ErrInvalidAmount},
		{"1.2.3", 8, 0, ErrInvalidAmount},
		{"1,5", 8, 0, ErrInvalidAmount},
		{"1_000", 8, 0, ErrInvalidAmount},
		{"NaN", 8, 0, ErrInvalidAmount},
		{"Infinity", 8, 0, ErrInvalidAmount},
		{"１", 8, 0, ErrInvalidAmount}, // fullwidth digit
		{"1.000000000x", 8, 0, ErrInvalidAmount},
		{"18446744073709551616", 0, 0, ErrInvalidAmount},
		{"99999999999999999999999", 0, 0, ErrInvalidAmount},
		{"184467440737.09551616", 8, 0, ErrInvalidAmount},
		{"184467440738", 8, 0, ErrInvalidAmount},
	}
	for _, tc := range cases {
		t.Run(strconv.Quote(tc.in)+"/"+strconv.Itoa(tc.decimals), func(t *testing.T) {
			got, err := ParseAmount([]byte(tc.in), tc.decimals)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("ParseAmount(%q, %d) = %d, %v; want %d, %v", tc.in, tc.decimals, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestFormatAmount(t *testing.T) {
	cases := []struct {
		units    uint64
		decimals int
		want     string
	}{
		{1_000_000_000, 8, "10.00000000"},
		{1, 8, "0.00000001"},
		{0, 8, "0.00000000"},
		{123, 0, "123"},
		{18446744073709551615, 8, "184467440737.09551615"},
		{18446744073709551615, 18, "18.446744073709551615"},
	}
	for _, tc := range cases {
		if got := FormatAmount(tc.units, tc.decimals); got != tc.want {
			t.Errorf("FormatAmount(%d, %d) = %q, want %q", tc.units, tc.decimals, got, tc.want)
		}
	}
}

// Balances are 128-bit: past 2^64-1 units they still print exactly.
func TestAppendAmount128(t *testing.T) {
	cases := []struct {
		units    ledger.Uint128
		decimals int
		want     string
	}{
		{ledger.U128(150_000_000), 8, "1.50000000"},
		{ledger.Uint128{Hi: 1}, 8, "184467440737.09551616"},
		{ledger.Uint128{Hi: 1, Lo: 5}, 18, "18.446744073709551621"},
		{ledger.Uint128{Hi: 1}, 0, "18446744073709551616"},
		{ledger.Uint128{Hi: ^uint64(0), Lo: ^uint64(0)}, 18, "340282366920938463463.374607431768211455"},
	}
	for _, tc := range cases {
		if got := string(AppendAmount128(nil, tc.units, tc.decimals)); got != tc.want {
			t.Errorf("AppendAmount128(%s, %d) = %q, want %q", tc.units, tc.decimals, got, tc.want)
		}
	}
}

// FuzzParseAmount: parsing never panics, every accepted amount is positive
// and formats back to a string that parses to the same units, and what
// strconv reads as a positive integer is accepted with the same value.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"10.00000000", "0", "1e5", "-1", "18446744073709551615", "1.5", ".5", "5.", "", "1..2"} {
		f.Add(s, uint8(8))
	}
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		decimals := int(d % (maxDecimals + 1))
		units, err := ParseAmount([]byte(s), decimals)
		if err != nil {
			if !errors.Is(err, ErrInvalidAmount) && !errors.Is(err, ErrInvalidPrecision) {
				t.Fatalf("ParseAmount(%q) error %v is neither sentinel", s, err)
			}
			if decimals == 0 {
				if v, perr := strconv.ParseUint(s, 10, 64); perr == nil && v > 0 && s[0] != '+' {
					t.Fatalf("ParseAmount(%q, 0) refused what strconv reads as %d", s, v)
				}
			}
			return
		}
		if units == 0 {
			t.Fatalf("ParseAmount(%q) accepted zero", s)
		}
		out := FormatAmount(units, decimals)
		back, err := ParseAmount([]byte(out), decimals)
		if err != nil || back != units {
			t.Fatalf("round trip %q → %d → %q → %d, %v", s, units, out, back, err)
		}
	})
}

func BenchmarkParseAmount(b *testing.B) {
	in := []byte("12345.67890123")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAmount(in, 8); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAmount(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAmount(buf[:0], 1_234_567_890_123, 8)
	}
}

// FuzzDecodeTransferBody: the strict reader never panics, and what it
// accepts encoding/json reads as a JSON object too.
func FuzzDecodeTransferBody(f *testing.F) {
	f.Add([]byte(`{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"spot","asset":"USDT","user_id":5},"amount":"1","client_transfer_id":"k"}`))
	f.Add([]byte(`{"from_account":{"account_type":"f\u00fcnding","asset":"\ud83d\ude00"},"to_account":{},"amount":"1"}`))
	f.Add([]byte(`{"amount":"1","amount":"2"}`))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := decodeTransferBody(data); err == nil {
			var v map[string]any
			if jerr := json.Unmarshal(data, &v); jerr != nil {
				t.Fatalf("accepted %q, which encoding/json refuses: %v", data, jerr)
			}
		}
	})
}
