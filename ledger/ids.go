package ledger

import (
	"crypto/sha256"
	"encoding/binary"
)

// Deterministic ids. Every ledger id this service uses is derived from what
// the request is, never drawn at random, so a replay — a client retry, a
// redelivered Kafka record, a scanner pass, a second node racing on the same
// key — names the same ledger object and TigerBeetle answers "exists" instead
// of moving money twice.

// Account codes (TigerBeetle's Account.Code).
const (
	CodeUserAccount     uint16 = 1 // a user's (user, account type, asset) account
	CodeOperatorAccount uint16 = 2 // the per-asset account deposits and withdrawals move against
)

// Transfer codes (TigerBeetle's Transfer.Code).
const (
	CodeInternalTransfer uint16 = 1 // a user's transfer request (pending, then post or void)
	CodeDeposit          uint16 = 2 // operator → user
	CodeWithdrawal       uint16 = 3 // user → operator
	CodeFreeze           uint16 = 4 // pending closing transfer that freezes an account
	CodeManual           uint16 = 5 // reserved: a post or void must carry its hold's code (or 0), so manual ones use CodeInternalTransfer and are told apart by their recorded store.Action
)

func derive(parts ...[]byte) Uint128 {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	id := Uint128{Hi: binary.BigEndian.Uint64(sum[0:8]), Lo: binary.BigEndian.Uint64(sum[8:16])}
	if id.IsZero() || id.IsMax() { // TigerBeetle reserves 0 and 2^128-1
		id.Lo ^= 1
	}
	return id
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// UserAccountID is the id of user's account of accountType on assetLedger.
// accountType and assetLedger are the stable numbers from config.
func UserAccountID(user uint64, accountType uint16, assetLedger uint32) Uint128 {
	return derive([]byte("account"), u64(user), u64(uint64(accountType)), u64(uint64(assetLedger)))
}

// OperatorAccountID is the id of the operator account of assetLedger.
func OperatorAccountID(assetLedger uint32) Uint128 {
	return derive([]byte("operator"), u64(uint64(assetLedger)))
}

// PendingIDForKey is the pending transfer id of user's request with client
// idempotency key: two nodes racing on one key create one transfer.
func PendingIDForKey(user uint64, key string) Uint128 {
	return derive([]byte("pending-key"), u64(user), []byte(key))
}

// PendingIDForRequest is the pending transfer id of a request without a
// client key.
func PendingIDForRequest(requestID uint64) Uint128 {
	return derive([]byte("pending-request"), u64(requestID))
}

// PostID is the id of the transfer that posts pending.
func PostID(pending Uint128) Uint128 {
	b := pending.Bytes()
	return derive([]byte("post"), b[:])
}

// VoidID is the id of the transfer that voids pending.
func VoidID(pending Uint128) Uint128 {
	b := pending.Bytes()
	return derive([]byte("void"), b[:])
}

// OperationID is the id of an admin operation (deposit, withdrawal, freeze)
// named by the operator's own idempotency key.
func OperationID(kind string, key string) Uint128 {
	return derive([]byte("op"), []byte(kind), []byte(key))
}
