package ingress

import (
	"errors"
	"math"
	"strconv"

	"github.com/exchange/internal-transfer/ledger"
)

// Amount parse errors; the handler maps them to INVALID_AMOUNT and
// INVALID_PRECISION.
var (
	ErrInvalidAmount    = errors.New("amount must be a positive decimal string such as \"10.5\"")
	ErrInvalidPrecision = errors.New("amount has more decimals than the asset allows")
)

// maxDecimals is the most decimals an asset may have (transfers.NewCatalog
// enforces the same bound); 10^19 would overflow uint64.
const maxDecimals = 18

var pow10 = func() [maxDecimals + 1]uint64 {
	var p [maxDecimals + 1]uint64
	p[0] = 1
	for i := 1; i <= maxDecimals; i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// ParseAmount parses a decimal string into smallest units of an asset with
// decimals digits after the point: ASCII digits with at most one '.', at
// least one digit on each side of it, and at most decimals digits after it.
// Leading zeros are allowed ("007" is 7). Zero, signs, exponents,
// whitespace, hex, the empty string and values beyond uint64 are
// ErrInvalidAmount; too many decimals is ErrInvalidPrecision (checked on
// digit count, so "1.000000000" for an 8-decimal asset is refused even
// though its value fits).
func ParseAmount(s []byte, decimals int) (uint64, error) {
	if decimals < 0 || decimals > maxDecimals {
		panic("BUG: ParseAmount with decimals outside 0..18")
	}
	var whole, frac uint64
	fracDigits := -1 // -1: no point seen
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			d := uint64(c - '0')
			if fracDigits < 0 {
				if whole > (math.MaxUint64-d)/10 {
					return 0, ErrInvalidAmount
				}
				whole = whole*10 + d
				continue
			}
			fracDigits++
			if fracDigits > decimals {
				if !allDigits(s[i+1:]) {
					return 0, ErrInvalidAmount
				}
				return 0, ErrInvalidPrecision
			}
			frac = frac*10 + d
		case c == '.' && fracDigits < 0 && i > 0:
			fracDigits = 0
		default:
			return 0, ErrInvalidAmount
		}
	}
	if len(s) == 0 || fracDigits == 0 { // "" or "5."
		return 0, ErrInvalidAmount
	}
	if fracDigits < 0 {
		fracDigits = 0
	}
	scale := pow10[decimals]
	if whole > math.MaxUint64/scale {
		return 0, ErrInvalidAmount
	}
	units := whole * scale
	f := frac * pow10[decimals-fracDigits]
	if units > math.MaxUint64-f {
		return 0, ErrInvalidAmount
	}
	units += f
	if units == 0 {
		return 0, ErrInvalidAmount
	}
	return units, nil
}

func allDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// AppendAmount appends units formatted with exactly decimals digits after
// the point ("10.00000000"); ParseAmount reads it back to units.
func AppendAmount(dst []byte, units uint64, decimals int) []byte {
	if decimals < 0 || decimals > maxDecimals {
		panic("BUG: AppendAmount with decimals outside 0..18")
	}
	if decimals == 0 {
		return strconv.AppendUint(dst, units, 10)
	}
	scale := pow10[decimals]
	dst = strconv.AppendUint(dst, units/scale, 10)
	dst = append(dst, '.')
	frac := units % scale
	var buf [maxDecimals]byte
	for i := decimals - 1; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, buf[:decimals]...)
}

// AppendAmount128 is AppendAmount for a 128-bit number of units (an
// account's balance can exceed what one transfer moves).
func AppendAmount128(dst []byte, units ledger.Uint128, decimals int) []byte {
	if units.Hi == 0 {
		return AppendAmount(dst, units.Lo, decimals)
	}
	if decimals < 0 || decimals > maxDecimals {
		panic("BUG: AppendAmount128 with decimals outside 0..18")
	}
	s := units.String() // at least 20 digits: more than any decimals
	if decimals == 0 {
		return append(dst, s...)
	}
	dst = append(dst, s[:len(s)-decimals]...)
	dst = append(dst, '.')
	return append(dst, s[len(s)-decimals:]...)
}

// FormatAmount is AppendAmount into a new string.
func FormatAmount(units uint64, decimals int) string {
	var buf [32]byte
	return string(AppendAmount(buf[:0], units, decimals))
}
