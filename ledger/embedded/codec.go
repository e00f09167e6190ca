package embedded

import (
	"cmp"
	"encoding/binary"

	"github.com/exchange/internal-transfer/ledger"
)

// Storage layout. Every key starts with a one-byte prefix; integers inside
// keys are big-endian so byte order is numeric order. Values are TigerBeetle's
// 128-byte little-endian layouts, so a record is as wide as the wire object.
//
//	'C' id(16)                  → Account (128 bytes)
//	'T' id(16)                  → Transfer (128 bytes), or 1 byte: an orphaned id (id_already_failed)
//	'P' pending id(16)          → 1 byte: pending status once posted, voided or expired (absent: pending)
//	'E' expires_at(8) id(16)    → empty: a pending transfer that times out at expires_at (ns)
//	'A' account(16) ts(8)       → the account's transfers of one group, from ts on:
//	                              n × (ts(8) id(16) side(1)), in timestamp order
//	'M'                         → last assigned timestamp (8 bytes)
const (
	prefixAccount  = 'C'
	prefixTransfer = 'T'
	prefixPending  = 'P'
	prefixExpiry   = 'E'
	prefixAccountX = 'A'
	prefixMeta     = 'M'
)

const (
	recordSize      = 128
	keyIDSize       = 1 + 16
	keyExpirySize   = 1 + 8 + 16
	keyAccountXSize = 1 + 16 + 8
	indexEntrySize  = 8 + 16 + 1
	orphanValueSize = 1
)

// Sides recorded in the account index.
const (
	sideDebit  byte = 0
	sideCredit byte = 1
)

// Pending statuses stored under 'P'. The absence of a key means pending.
const (
	statusPending byte = 0
	statusPosted  byte = 1
	statusVoided  byte = 2
	statusExpired byte = 3
)

func putU128BE(b []byte, v ledger.Uint128) {
	binary.BigEndian.PutUint64(b[0:8], v.Hi)
	binary.BigEndian.PutUint64(b[8:16], v.Lo)
}

func getU128BE(b []byte) ledger.Uint128 {
	return ledger.Uint128{Hi: binary.BigEndian.Uint64(b[0:8]), Lo: binary.BigEndian.Uint64(b[8:16])}
}

func putU128LE(b []byte, v ledger.Uint128) {
	binary.LittleEndian.PutUint64(b[0:8], v.Lo)
	binary.LittleEndian.PutUint64(b[8:16], v.Hi)
}

func getU128LE(b []byte) ledger.Uint128 {
	return ledger.Uint128{Lo: binary.LittleEndian.Uint64(b[0:8]), Hi: binary.LittleEndian.Uint64(b[8:16])}
}

// cmpID orders ids as their big-endian keys do.
func cmpID(a, b ledger.Uint128) int {
	if c := cmp.Compare(a.Hi, b.Hi); c != 0 {
		return c
	}
	return cmp.Compare(a.Lo, b.Lo)
}

func idKey(dst []byte, prefix byte, id ledger.Uint128) []byte {
	dst = dst[:keyIDSize]
	dst[0] = prefix
	putU128BE(dst[1:], id)
	return dst
}

func expiryKey(dst []byte, expiresAt uint64, id ledger.Uint128) []byte {
	dst = dst[:keyExpirySize]
	dst[0] = prefixExpiry
	binary.BigEndian.PutUint64(dst[1:9], expiresAt)
	putU128BE(dst[9:], id)
	return dst
}

func accountIndexKey(dst []byte, account ledger.Uint128, ts uint64) []byte {
	dst = dst[:keyAccountXSize]
	dst[0] = prefixAccountX
	putU128BE(dst[1:17], account)
	binary.BigEndian.PutUint64(dst[17:25], ts)
	return dst
}

// encodeAccount writes a in TigerBeetle's 128-byte layout.
func encodeAccount(b []byte, a *ledger.Account) {
	_ = b[recordSize-1]
	putU128LE(b[0:], a.ID)
	putU128LE(b[16:], a.DebitsPending)
	putU128LE(b[32:], a.DebitsPosted)
	putU128LE(b[48:], a.CreditsPending)
	putU128LE(b[64:], a.CreditsPosted)
	putU128LE(b[80:], a.UserData128)
	binary.LittleEndian.PutUint64(b[96:], a.UserData64)
	binary.LittleEndian.PutUint32(b[104:], a.UserData32)
	binary.LittleEndian.PutUint32(b[108:], a.Reserved)
	binary.LittleEndian.PutUint32(b[112:], a.Ledger)
	binary.LittleEndian.PutUint16(b[116:], a.Code)
	binary.LittleEndian.PutUint16(b[118:], a.Flags)
	binary.LittleEndian.PutUint64(b[120:], a.Timestamp)
}

// decodeAccount is the inverse of encodeAccount.
func decodeAccount(b []byte, a *ledger.Account) {
	_ = b[recordSize-1]
	a.ID = getU128LE(b[0:])
	a.DebitsPending = getU128LE(b[16:])
	a.DebitsPosted = getU128LE(b[32:])
	a.CreditsPending = getU128LE(b[48:])
	a.CreditsPosted = getU128LE(b[64:])
	a.UserData128 = getU128LE(b[80:])
	a.UserData64 = binary.LittleEndian.Uint64(b[96:])
	a.UserData32 = binary.LittleEndian.Uint32(b[104:])
	a.Reserved = binary.LittleEndian.Uint32(b[108:])
	a.Ledger = binary.LittleEndian.Uint32(b[112:])
	a.Code = binary.LittleEndian.Uint16(b[116:])
	a.Flags = binary.LittleEndian.Uint16(b[118:])
	a.Timestamp = binary.LittleEndian.Uint64(b[120:])
}

// encodeTransfer writes t in TigerBeetle's 128-byte layout.
func encodeTransfer(b []byte, t *ledger.Transfer) {
	_ = b[recordSize-1]
	putU128LE(b[0:], t.ID)
	putU128LE(b[16:], t.DebitAccountID)
	putU128LE(b[32:], t.CreditAccountID)
	putU128LE(b[48:], t.Amount)
	putU128LE(b[64:], t.PendingID)
	putU128LE(b[80:], t.UserData128)
	binary.LittleEndian.PutUint64(b[96:], t.UserData64)
	binary.LittleEndian.PutUint32(b[104:], t.UserData32)
	binary.LittleEndian.PutUint32(b[108:], t.Timeout)
	binary.LittleEndian.PutUint32(b[112:], t.Ledger)
	binary.LittleEndian.PutUint16(b[116:], t.Code)
	binary.LittleEndian.PutUint16(b[118:], t.Flags)
	binary.LittleEndian.PutUint64(b[120:], t.Timestamp)
}

// decodeTransfer is the inverse of encodeTransfer.
func decodeTransfer(b []byte, t *ledger.Transfer) {
	_ = b[recordSize-1]
	t.ID = getU128LE(b[0:])
	t.DebitAccountID = getU128LE(b[16:])
	t.CreditAccountID = getU128LE(b[32:])
	t.Amount = getU128LE(b[48:])
	t.PendingID = getU128LE(b[64:])
	t.UserData128 = getU128LE(b[80:])
	t.UserData64 = binary.LittleEndian.Uint64(b[96:])
	t.UserData32 = binary.LittleEndian.Uint32(b[104:])
	t.Timeout = binary.LittleEndian.Uint32(b[108:])
	t.Ledger = binary.LittleEndian.Uint32(b[112:])
	t.Code = binary.LittleEndian.Uint16(b[116:])
	t.Flags = binary.LittleEndian.Uint16(b[118:])
	t.Timestamp = binary.LittleEndian.Uint64(b[120:])
}
