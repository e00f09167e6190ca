package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/store"
)

// ClaimNode implements store.Store. The claim is one key (node → claimed
// until, owner), read and written under claimMu and synced before the
// answer. Within the process the rule is ScyllaDB's: a live claim of
// another owner refuses. Only one process can open the database, so the
// claims found at Open are all of processes that ended (dropClaims).
func (s *Store) ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) (string, error) {
	if err := store.ValidateClaim(node, owner, ttl); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("cannot claim node %d: %w", node, err)
	}
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.life.RUnlock()
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	now := s.opts.Now()
	key := nodeKey(node)
	holder, until, found, err := claimOf(s.db, key)
	if err != nil {
		return "", fmt.Errorf("cannot claim node %d: %w", node, err)
	}
	if found && holder != owner && now.Before(until) {
		return holder, fmt.Errorf("cannot claim node %d: held by %q until %s: %w",
			node, holder, until.Format(time.RFC3339), store.ErrNodeClaimed)
	}
	until = now.Add(time.Duration(store.ClaimSeconds(ttl)) * time.Second)
	val := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(owner)), encodeTime(until))
	if err := s.db.Set(key, append(val, owner...), pebble.Sync); err != nil {
		return "", fmt.Errorf("cannot claim node %d: %w", node, err)
	}
	return owner, nil
}

// ReleaseNode implements store.Store.
func (s *Store) ReleaseNode(ctx context.Context, node int, owner string) error {
	if err := store.ValidateOwner(node, owner); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot release node %d: %w", node, err)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	key := nodeKey(node)
	holder, _, found, err := claimOf(s.db, key)
	if err != nil {
		return fmt.Errorf("cannot release node %d: %w", node, err)
	}
	if !found || holder != owner {
		return nil
	}
	if err := s.db.Delete(key, pebble.Sync); err != nil {
		return fmt.Errorf("cannot release node %d: %w", node, err)
	}
	return nil
}

// claimOf reads the claim stored under key: its holder and until when it
// holds; found is false when there is none.
func claimOf(db *pebble.DB, key []byte) (holder string, until time.Time, found bool, err error) {
	v, found, err := get(db, key)
	if err != nil || !found {
		return "", time.Time{}, false, err
	}
	if len(v) < 8 {
		return "", time.Time{}, false, fmt.Errorf("corrupt claim of %d bytes", len(v))
	}
	return string(v[8:]), decodeTime(binary.BigEndian.Uint64(v[:8])), true, nil
}

// dropClaims deletes every node claim: at Open they are all of processes
// that no longer run, as only one process can open the database.
func dropClaims(db *pebble.DB) error {
	return db.DeleteRange([]byte{prefixNode}, []byte{prefixNode + 1}, pebble.Sync)
}
