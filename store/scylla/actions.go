package scylla

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// RecordAction appends an operator action to request a.RequestID, or
// returns store.ErrNotFound for an unknown request. The row is keyed by
// (at, digest of kind, operator and reason), so a retried write of the same
// action is recorded once while distinct actions at one instant are kept.
func (s *Store) RecordAction(ctx context.Context, a store.Action) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	if a.At.IsZero() {
		a.At = s.set.Now()
	}
	a.At = toMillis(a.At)
	if _, err := s.get(ctx, a.RequestID); err != nil {
		return fmt.Errorf("cannot record action on request %d: %w", a.RequestID, err)
	}
	err := s.query(ctx, stmtActionInsert, map[string]any{
		"request_id": int64(a.RequestID), "at": a.At, "action_id": actionID(&a),
		"kind": a.Kind, "operator": a.Operator, "reason": a.Reason,
	}).ExecRelease()
	if err != nil {
		return fmt.Errorf("cannot record action on request %d: %w", a.RequestID, err)
	}
	return nil
}

// actionID digests what an action says, length-prefixing each part so no two
// different actions share a digest by concatenation.
func actionID(a *store.Action) []byte {
	h := sha256.New()
	for _, part := range []string{a.Kind, a.Operator, a.Reason} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return h.Sum(nil)[:16]
}

// Actions returns the operator actions of request id, oldest first (at most
// actionsPerRequest), or store.ErrNotFound for an unknown request.
func (s *Store) Actions(ctx context.Context, id uint64) ([]store.Action, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, id); err != nil {
		return nil, fmt.Errorf("cannot read actions of request %d: %w", id, err)
	}
	iter := s.query(ctx, stmtActionList, map[string]any{"request_id": int64(id), "limit": actionsPerRequest}).Iter()
	var (
		out                    []store.Action
		at                     time.Time
		kind, operator, reason string
	)
	for iter.Scan(&at, &kind, &operator, &reason) {
		out = append(out, store.Action{RequestID: id, Kind: kind, Operator: operator, Reason: reason, At: at.UTC()})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cannot read actions of request %d: %w", id, err)
	}
	return out, nil
}
