package scylla

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"

	"github.com/exchange/internal-transfer/store"
)

// ClaimNode implements store.Store with lightweight transactions: INSERT
// ... IF NOT EXISTS USING TTL takes a free id; a claim already owner's is
// renewed with UPDATE ... USING TTL ... IF owner = ?. A refused or unknown
// outcome is settled by a serial read, which completes any round in flight.
func (s *Store) ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) (string, error) {
	if err := store.ValidateClaim(node, owner, ttl); err != nil {
		return "", err
	}
	if err := s.enter(ctx); err != nil {
		return "", err
	}
	args := map[string]any{"node_id": node, "owner": owner, "holder": owner, "ttl": store.ClaimSeconds(ttl)}
	for attempt := 0; attempt < claimAttemptsMax; attempt++ {
		applied, err := s.query(ctx, stmtNodeClaim, args).SerialConsistency(s.set.serial).ExecCASRelease()
		if err != nil && !outcomeUnknown(err) {
			return "", fmt.Errorf("cannot claim node %d: %w", node, err)
		}
		if err == nil && applied {
			return owner, nil
		}
		var holder string
		err = s.query(ctx, stmtNodeGet, map[string]any{"node_id": node}).Consistency(s.set.serial).GetRelease(&holder)
		if errors.Is(err, gocql.ErrNotFound) {
			continue // expired since: claim again
		}
		if err != nil {
			return "", fmt.Errorf("cannot read the claim of node %d: %w", node, err)
		}
		if holder != owner {
			return holder, fmt.Errorf("cannot claim node %d: held by %q: %w", node, holder, store.ErrNodeClaimed)
		}
		// Ours (an earlier claim, or this one's unknown outcome): renew.
		applied, err = s.query(ctx, stmtNodeRenew, args).SerialConsistency(s.set.serial).ExecCASRelease()
		if err != nil && !outcomeUnknown(err) {
			return "", fmt.Errorf("cannot renew the claim of node %d: %w", node, err)
		}
		if err == nil && applied {
			return owner, nil
		}
		// Refused (expired or taken meanwhile) or unknown: look again.
	}
	return "", fmt.Errorf("cannot claim node %d: not settled after %d attempts", node, claimAttemptsMax)
}

// ReleaseNode implements store.Store: DELETE ... IF owner = ?, so a claim
// another node took since is left alone.
func (s *Store) ReleaseNode(ctx context.Context, node int, owner string) error {
	if err := store.ValidateOwner(node, owner); err != nil {
		return err
	}
	if err := s.enter(ctx); err != nil {
		return err
	}
	_, err := s.query(ctx, stmtNodeRelease, map[string]any{"node_id": node, "holder": owner}).
		SerialConsistency(s.set.serial).ExecCASRelease()
	if err != nil {
		return fmt.Errorf("cannot release node %d: %w", node, err)
	}
	return nil
}
