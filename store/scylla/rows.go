package scylla

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// requestColumns are the columns every request-shaped table shares
// (balance_transfer_requests, the history, open and idempotency tables), in
// the order the statements name them.
var requestColumns = []string{
	"request_id", "user_id", "to_user_id", "from_account_type", "to_account_type",
	"asset", "amount", "idempotency_key", "fingerprint", "pending_id",
	"status", "error_code", "error_message", "created_at", "updated_at",
}

// requestRow is a request as CQL stores it. uint64 values are stored bit for
// bit in bigint columns; times are CQL timestamps (milliseconds).
type requestRow struct {
	RequestID       int64     `db:"request_id"`
	UserID          int64     `db:"user_id"`
	ToUserID        int64     `db:"to_user_id"`
	FromAccountType string    `db:"from_account_type"`
	ToAccountType   string    `db:"to_account_type"`
	Asset           string    `db:"asset"`
	Amount          int64     `db:"amount"`
	IdempotencyKey  string    `db:"idempotency_key"`
	Fingerprint     string    `db:"fingerprint"`
	PendingID       []byte    `db:"pending_id"`
	Status          string    `db:"status"`
	ErrorCode       string    `db:"error_code"`
	ErrorMessage    string    `db:"error_message"`
	CreatedAt       time.Time `db:"created_at"`
	UpdatedAt       time.Time `db:"updated_at"`
}

// toRow converts r for writing. r's times must already be whole milliseconds.
func toRow(r *store.Request) requestRow {
	return requestRow{
		RequestID:       int64(r.ID),
		UserID:          int64(r.UserID),
		ToUserID:        int64(r.ToUserID),
		FromAccountType: r.FromAccountType,
		ToAccountType:   r.ToAccountType,
		Asset:           r.Asset,
		Amount:          int64(r.Amount),
		IdempotencyKey:  r.IdempotencyKey,
		Fingerprint:     r.Fingerprint,
		PendingID:       append([]byte(nil), r.PendingID[:]...),
		Status:          r.Status.String(),
		ErrorCode:       r.ErrorCode,
		ErrorMessage:    r.ErrorMessage,
		CreatedAt:       r.CreatedAt,
		UpdatedAt:       r.UpdatedAt,
	}
}

// request converts a stored row back, refusing rows no version of this store
// writes (they mean corruption or a foreign writer).
func (row *requestRow) request() (store.Request, error) {
	status, err := store.ParseStatus(row.Status)
	if err != nil {
		return store.Request{}, fmt.Errorf("cannot read request %d: %w: %w", uint64(row.RequestID), store.ErrCorrupt, err)
	}
	r := store.Request{
		ID:              uint64(row.RequestID),
		UserID:          uint64(row.UserID),
		ToUserID:        uint64(row.ToUserID),
		FromAccountType: row.FromAccountType,
		ToAccountType:   row.ToAccountType,
		Asset:           row.Asset,
		Amount:          uint64(row.Amount),
		IdempotencyKey:  row.IdempotencyKey,
		Fingerprint:     row.Fingerprint,
		Status:          status,
		ErrorCode:       row.ErrorCode,
		ErrorMessage:    row.ErrorMessage,
		CreatedAt:       row.CreatedAt.UTC(),
		UpdatedAt:       row.UpdatedAt.UTC(),
	}
	switch len(row.PendingID) {
	case 0:
	case len(r.PendingID):
		copy(r.PendingID[:], row.PendingID)
	default:
		return store.Request{}, fmt.Errorf("cannot read request %d: pending id of %d bytes: %w", r.ID, len(row.PendingID), store.ErrCorrupt)
	}
	return r, nil
}

// values maps every request column to the value to bind, plus extra names.
// The cold paths bind by name with it; the write batches use appendArgs.
func (row *requestRow) values(extra map[string]any) map[string]any {
	m := map[string]any{
		"request_id": row.RequestID, "user_id": row.UserID, "to_user_id": row.ToUserID,
		"from_account_type": row.FromAccountType, "to_account_type": row.ToAccountType,
		"asset": row.Asset, "amount": row.Amount, "idempotency_key": row.IdempotencyKey,
		"fingerprint": row.Fingerprint, "pending_id": row.PendingID, "status": row.Status,
		"error_code": row.ErrorCode, "error_message": row.ErrorMessage,
		"created_at": row.CreatedAt, "updated_at": row.UpdatedAt,
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// appendArgs appends the request columns' values in requestColumns order.
func (row *requestRow) appendArgs(dst []any) []any {
	return append(dst, row.RequestID, row.UserID, row.ToUserID, row.FromAccountType,
		row.ToAccountType, row.Asset, row.Amount, row.IdempotencyKey, row.Fingerprint,
		row.PendingID, row.Status, row.ErrorCode, row.ErrorMessage, row.CreatedAt, row.UpdatedAt)
}

// toMillis drops what a CQL timestamp cannot hold, exactly as the driver
// does when it writes one, so what the store computes from a time (buckets,
// write timestamps) matches what it later reads back.
func toMillis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// Bucket widths.
const (
	dayMillis    = int64(24 * time.Hour / time.Millisecond)
	minuteMillis = int64(time.Minute / time.Millisecond)
)

// floorDiv divides rounding toward minus infinity (times before 1970 too).
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// dayBucket is the UTC day (days since the epoch) a history row lives in.
func dayBucket(t time.Time) int64 { return floorDiv(t.UnixMilli(), dayMillis) }

// minuteBucket is the UTC minute (minutes since the epoch) an open row lives in.
func minuteBucket(t time.Time) int64 { return floorDiv(t.UnixMilli(), minuteMillis) }

// The shards of open_transfer_requests: each minute's open rows are spread
// over openShards partitions, so a busy minute's creates and deletes are not
// all served by the replicas of one partition. The layout is part of the
// stored data: rows live in the shard openShard gives and the scanner reads
// shards 0..openShards-1, so neither may change while a keyspace holds open
// rows (schema/internal_transfer.cql).
const (
	openShardBits = 4
	openShards    = 1 << openShardBits
)

// openShard is the shard of open_transfer_requests request id lives in: the
// top bits of a Fibonacci hash of the whole id. The id's own low bits (the
// sequence within a millisecond, see transfers.IDGenerator) are mostly zero
// at low rates, so they would crowd shard 0.
func openShard(id uint64) int { return int((id * 0x9E3779B97F4A7C15) >> (64 - openShardBits)) }

// ceilMillis is the smallest whole millisecond not before t: a stored
// (millisecond) time m satisfies m < t exactly when m < ceilMillis(t).
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// writeTimestamp is the CQL write timestamp (microseconds) of every cell a
// request's status change writes: created_at plus the status's rank. It
// orders the writes of one request by status alone, so whichever order
// concurrent writers arrive in, last-write-wins keeps the highest status
// (requesting < pending < success < failed), and a late or replayed write of
// an earlier status can never regress a later one. Every writer derives the
// same value from the request, so writes of the same status are idempotent.
func writeTimestamp(createdAt time.Time, s store.Status) int64 {
	if !s.Valid() {
		panic(fmt.Sprintf("BUG: write timestamp of invalid status %d", s))
	}
	return createdAt.UnixMilli()*1000 + int64(s)
}

// failedRanks is how many timestamps the failed status spreads over: from
// failed's rank up to the last microsecond of created_at's millisecond.
const failedRanks = 1000 - int64(store.StatusFailed)

// requestTimestamp is writeTimestamp of r's status, and for a failed
// request also of its error code: two writers that fail a request with
// different codes (settlement and the scanner reading the ledger apart)
// write at different timestamps, so every cell keeps the same writer's
// outcome. At one timestamp ScyllaDB keeps the larger value of each cell
// apart, which could pair one writer's error_code with the other's
// error_message. Writers of the same code still write at the same time.
func requestTimestamp(r *store.Request) int64 {
	ts := writeTimestamp(r.CreatedAt, r.Status)
	if r.Status == store.StatusFailed {
		h := fnv.New64a()
		h.Write([]byte(r.ErrorCode))
		ts += int64(h.Sum64() % uint64(failedRanks))
	}
	return ts
}
