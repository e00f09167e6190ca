package ledger

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
)

// Uint128 is an unsigned 128-bit integer laid out as TigerBeetle's u128:
// the low 64 bits first, little-endian on the machines we run on.
type Uint128 struct {
	Lo, Hi uint64
}

// U128 returns v as a Uint128.
func U128(v uint64) Uint128 { return Uint128{Lo: v} }

// IsZero reports whether u is 0.
func (u Uint128) IsZero() bool { return u.Lo == 0 && u.Hi == 0 }

// IsMax reports whether u is 2^128-1 (TigerBeetle's "int max").
func (u Uint128) IsMax() bool { return u.Lo == ^uint64(0) && u.Hi == ^uint64(0) }

// Cmp returns -1, 0 or +1 as u is less than, equal to or greater than v.
func (u Uint128) Cmp(v Uint128) int {
	switch {
	case u.Hi < v.Hi:
		return -1
	case u.Hi > v.Hi:
		return 1
	case u.Lo < v.Lo:
		return -1
	case u.Lo > v.Lo:
		return 1
	}
	return 0
}

// Add returns u+v and whether the sum overflowed 128 bits.
func (u Uint128) Add(v Uint128) (sum Uint128, overflow bool) {
	lo, carry := bits.Add64(u.Lo, v.Lo, 0)
	hi, carry := bits.Add64(u.Hi, v.Hi, carry)
	return Uint128{Lo: lo, Hi: hi}, carry != 0
}

// Sub returns u-v and whether it borrowed (v > u).
func (u Uint128) Sub(v Uint128) (diff Uint128, borrow bool) {
	lo, b := bits.Sub64(u.Lo, v.Lo, 0)
	hi, b := bits.Sub64(u.Hi, v.Hi, b)
	return Uint128{Lo: lo, Hi: hi}, b != 0
}

// Uint64 returns u as a uint64 and whether it fits.
func (u Uint128) Uint64() (uint64, bool) { return u.Lo, u.Hi == 0 }

// Bytes returns u as 16 big-endian bytes, so byte order matches numeric order
// (the form used in storage keys).
func (u Uint128) Bytes() [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], u.Hi)
	binary.BigEndian.PutUint64(b[8:16], u.Lo)
	return b
}

// Uint128FromBytes is the inverse of Bytes.
func Uint128FromBytes(b [16]byte) Uint128 {
	return Uint128{Hi: binary.BigEndian.Uint64(b[0:8]), Lo: binary.BigEndian.Uint64(b[8:16])}
}

// BigInt returns u as a big.Int.
func (u Uint128) BigInt() *big.Int {
	b := u.Bytes()
	return new(big.Int).SetBytes(b[:])
}

// String returns u in decimal.
func (u Uint128) String() string {
	if u.Hi == 0 {
		return fmt.Sprint(u.Lo)
	}
	return u.BigInt().String()
}
