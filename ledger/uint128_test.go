package ledger

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

var two128 = new(big.Int).Lsh(big.NewInt(1), 128)

func randU128(r *rand.Rand) Uint128 {
	switch r.IntN(4) {
	case 0:
		return Uint128{Lo: r.Uint64()}
	case 1:
		return Uint128{Lo: ^uint64(0) - r.Uint64N(3), Hi: ^uint64(0) - r.Uint64N(3)}
	default:
		return Uint128{Lo: r.Uint64(), Hi: r.Uint64()}
	}
}

// TestUint128Arithmetic checks Add, Sub and Cmp against math/big, including
// the carry and borrow across the 64-bit halves and at 2^128.
func TestUint128Arithmetic(t *testing.T) {
	cases := [][2]Uint128{
		{{Lo: ^uint64(0)}, {Lo: 1}},               // carry into Hi
		{AmountMax, {Lo: 1}},                      // overflow to 0
		{{Hi: 1}, {Lo: 1}},                        // borrow from Hi
		{{}, {Lo: 1}},                             // borrow past 0
		{AmountMax, AmountMax},                    // both max
		{{Lo: 5, Hi: 7}, {Lo: 5, Hi: 7}},          // equal
		{{Lo: 0, Hi: 2}, {Lo: ^uint64(0), Hi: 1}}, // Hi decides Cmp
		{{Lo: 1 << 63, Hi: 1 << 63}, {Lo: 1 << 63, Hi: 1 << 63}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		cases = append(cases, [2]Uint128{randU128(r), randU128(r)})
	}
	for _, c := range cases {
		u, v := c[0], c[1]
		bu, bv := u.BigInt(), v.BigInt()

		sum, overflow := u.Add(v)
		want := new(big.Int).Add(bu, bv)
		if overflow != (want.Cmp(two128) >= 0) || sum.BigInt().Cmp(new(big.Int).Mod(want, two128)) != 0 {
			t.Fatalf("%v + %v = %v overflow %v, want %v", u, v, sum, overflow, want)
		}

		diff, borrow := u.Sub(v)
		want = new(big.Int).Sub(bu, bv)
		if borrow != (want.Sign() < 0) || diff.BigInt().Cmp(new(big.Int).Mod(want, two128)) != 0 {
			t.Fatalf("%v - %v = %v borrow %v, want %v", u, v, diff, borrow, want)
		}

		if got, want := u.Cmp(v), bu.Cmp(bv); got != want {
			t.Fatalf("Cmp(%v, %v) = %d, want %d", u, v, got, want)
		}
	}
}

func TestUint128Predicates(t *testing.T) {
	cases := []struct {
		u         Uint128
		zero, max bool
		fits      bool
		str       string
	}{
		{Uint128{}, true, false, true, "0"},
		{U128(42), false, false, true, "42"},
		{Uint128{Hi: 1}, false, false, false, "18446744073709551616"},
		{AmountMax, false, true, false, "340282366920938463463374607431768211455"},
		{Uint128{Lo: ^uint64(0)}, false, false, true, "18446744073709551615"},
	}
	for _, c := range cases {
		t.Run(c.str, func(t *testing.T) {
			if c.u.IsZero() != c.zero || c.u.IsMax() != c.max {
				t.Errorf("IsZero %v IsMax %v, want %v %v", c.u.IsZero(), c.u.IsMax(), c.zero, c.max)
			}
			if v, ok := c.u.Uint64(); ok != c.fits || ok && v != c.u.Lo {
				t.Errorf("Uint64() = %d, %v", v, ok)
			}
			if got := c.u.String(); got != c.str {
				t.Errorf("String() = %q, want %q", got, c.str)
			}
		})
	}
}

// TestUint128Bytes checks the storage encoding round-trips and sorts
// byte-wise in numeric order.
func TestUint128Bytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	prev := Uint128{}
	for range 2000 {
		u := randU128(r)
		b := u.Bytes()
		if got := Uint128FromBytes(b); got != u {
			t.Fatalf("round trip %v → %v", u, got)
		}
		pb := prev.Bytes()
		if cmp := compareBytes(pb[:], b[:]); cmp != prev.Cmp(u) {
			t.Fatalf("byte order of %v vs %v is %d, numeric %d", prev, u, cmp, prev.Cmp(u))
		}
		prev = u
	}
	if b := (Uint128{Hi: 1, Lo: 2}).Bytes(); b[7] != 1 || b[15] != 2 {
		t.Errorf("Bytes is not big-endian Hi then Lo: %x", b)
	}
}

func compareBytes(a, b []byte) int {
	for i := range a {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	return 0
}

func BenchmarkUint128Add(b *testing.B) {
	u, v := Uint128{Lo: ^uint64(0), Hi: 3}, Uint128{Lo: 1, Hi: 4}
	b.ReportAllocs()
	var sink Uint128
	for range b.N {
		sink, _ = u.Add(v)
		u.Lo++
	}
	_ = sink
}
