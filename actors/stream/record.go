// Package stream is the Kafka side of a transfer: the confirmation record the
// gateway publishes once a request's funds are held, the producer that
// publishes it, and the embedded broker (franz-go's kfake) that stands in for
// Kafka in the one-process setup.
//
// # Record format
//
// Topic transfer_confirmations (configurable). Key: the debited user id in
// decimal ("42"), so one user's records stay in order on one partition.
// Value: one JSON object, version 1:
//
//	{
//	  "v": 1,
//	  "request_id": "7263012345678901",   // decimal string (u64)
//	  "user_id": "42",                    // debited user, decimal string
//	  "to_user_id": "42",                 // credited user, decimal string
//	  "from_account_type": "funding",
//	  "to_account_type": "spot",
//	  "asset": "USDT",
//	  "amount": "1000000000",             // smallest units of the asset, decimal string
//	  "pending_id": "0123…ef",            // ledger hold id, 32 lowercase hex digits (big-endian u128)
//	  "idempotency_key": "abc",           // client key; omitted when the client gave none
//	  "created_at": "2026-01-02T03:04:05.123456789Z" // RFC 3339, when the request was accepted
//	}
//
// Numbers travel as strings so no JSON reader rounds them through a float.
// Decode refuses unknown versions and missing or malformed required fields.
// It ignores fields it does not know, so a field can be added within
// version 1 and rolled out before its readers; any change that alters the
// meaning of an existing field needs version 2. Settlement treats the store as the truth for a request's
// fields; the record carries them so operators and other consumers can read
// the stream on its own.
package stream

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// Version is the record format version this package writes.
const Version = 1

// ErrInvalidRecord is returned (wrapped) by Decode for a record it cannot use.
var ErrInvalidRecord = errors.New("stream: invalid confirmation record")

// Confirmation is the record published once a request's funds are held.
type Confirmation struct {
	V               int       `json:"v"`
	RequestID       uint64    `json:"request_id,string"`
	UserID          uint64    `json:"user_id,string"`
	ToUserID        uint64    `json:"to_user_id,string"`
	FromAccountType string    `json:"from_account_type"`
	ToAccountType   string    `json:"to_account_type"`
	Asset           string    `json:"asset"`
	Amount          uint64    `json:"amount,string"`
	PendingID       string    `json:"pending_id"`
	IdempotencyKey  string    `json:"idempotency_key,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// FromRequest builds the confirmation of a stored request.
func FromRequest(req store.Request) Confirmation {
	return Confirmation{
		V:               Version,
		RequestID:       req.ID,
		UserID:          req.UserID,
		ToUserID:        req.ToUserID,
		FromAccountType: req.FromAccountType,
		ToAccountType:   req.ToAccountType,
		Asset:           req.Asset,
		Amount:          req.Amount,
		PendingID:       hex.EncodeToString(req.PendingID[:]),
		IdempotencyKey:  req.IdempotencyKey,
		CreatedAt:       req.CreatedAt.UTC(),
	}
}

// PendingIDBytes returns the hold id as the store keeps it.
func (c Confirmation) PendingIDBytes() ([16]byte, error) {
	var id [16]byte
	if len(c.PendingID) != 32 {
		return id, fmt.Errorf("%w: pending_id must be 32 hex digits, got %d", ErrInvalidRecord, len(c.PendingID))
	}
	if _, err := hex.Decode(id[:], []byte(c.PendingID)); err != nil {
		return id, fmt.Errorf("%w: pending_id: %v", ErrInvalidRecord, err)
	}
	return id, nil
}

// Key is the record key: the debited user id in decimal.
func (c Confirmation) Key() []byte { return strconv.AppendUint(nil, c.UserID, 10) }

// Validate reports the first problem that makes c unusable.
func (c Confirmation) Validate() error {
	if c.V != Version {
		return fmt.Errorf("%w: unknown version %d", ErrInvalidRecord, c.V)
	}
	missing := ""
	switch {
	case c.RequestID == 0:
		missing = "request_id"
	case c.UserID == 0:
		missing = "user_id"
	case c.ToUserID == 0:
		missing = "to_user_id"
	case c.FromAccountType == "":
		missing = "from_account_type"
	case c.ToAccountType == "":
		missing = "to_account_type"
	case c.Asset == "":
		missing = "asset"
	case c.Amount == 0:
		missing = "amount"
	case c.CreatedAt.IsZero():
		missing = "created_at"
	}
	if missing != "" {
		return fmt.Errorf("%w: missing %s", ErrInvalidRecord, missing)
	}
	_, err := c.PendingIDBytes()
	return err
}

// Encode validates c and returns its JSON value.
func Encode(c Confirmation) ([]byte, error) {
	return appendEncoded(make([]byte, 0, 384), c)
}

// appendEncoded is Encode appending to dst.
func appendEncoded(dst []byte, c Confirmation) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return dst, fmt.Errorf("cannot encode confirmation of request %d: %w", c.RequestID, err)
	}
	if b, ok := appendFast(dst, &c); ok {
		return b, nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return dst, fmt.Errorf("cannot encode confirmation of request %d: %w", c.RequestID, err)
	}
	return append(dst, b...), nil
}

// Decode parses and validates a record value. Errors wrap ErrInvalidRecord.
func Decode(value []byte) (Confirmation, error) {
	if c, ok := decodeFast(value); ok && c.V == Version {
		if err := c.Validate(); err != nil {
			return Confirmation{}, fmt.Errorf("cannot decode confirmation: %w", err)
		}
		return c, nil
	}
	var probe struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(value, &probe); err != nil {
		return Confirmation{}, fmt.Errorf("cannot decode confirmation: %w: %v", ErrInvalidRecord, err)
	}
	if probe.V == nil {
		return Confirmation{}, fmt.Errorf("cannot decode confirmation: %w: missing v", ErrInvalidRecord)
	}
	if *probe.V != Version {
		return Confirmation{}, fmt.Errorf("cannot decode confirmation: %w: unknown version %d", ErrInvalidRecord, *probe.V)
	}
	var c Confirmation
	if err := json.Unmarshal(value, &c); err != nil {
		return Confirmation{}, fmt.Errorf("cannot decode confirmation: %w: %v", ErrInvalidRecord, err)
	}
	if err := c.Validate(); err != nil {
		return Confirmation{}, fmt.Errorf("cannot decode confirmation: %w", err)
	}
	return c, nil
}
