package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/store"
)

// sweepChunkKeys is how many expired keys one locked batch deletes; it keeps
// the stripe locks held by the sweep short.
const sweepChunkKeys = 256

// expiredKey is one entry of the age index found by the sweep.
type expiredKey struct {
	ageKey  []byte
	user    uint64
	key     string
	written uint64 // encoded time, as stored in the idempotency value
}

// sweepBacklogPause is the pause between sweeps while a backlog remains (a
// sweep removed its full SweepKeysMax): at the default bound the sweep keeps
// up with 100 000 expiring keys a second, and still leaves the disk to the
// writers in between.
const sweepBacklogPause = 100 * time.Millisecond

// sweepLoop deletes expired idempotency keys every SweepInterval, or every
// sweepBacklogPause while behind, until Close.
func (s *Store) sweepLoop() {
	defer close(s.sweepDone)
	t := time.NewTimer(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
			next := s.opts.SweepInterval
			n, err := s.sweepExpired(s.opts.SweepKeysMax)
			switch {
			case errors.Is(err, store.ErrClosed):
				return // Close is stopping the loop
			case err != nil:
				s.logError("cannot sweep expired idempotency keys: %v", err)
			case n == s.opts.SweepKeysMax:
				next = sweepBacklogPause
			}
			t.Reset(next)
		}
	}
}

// sweepExpired deletes up to maxKeys expired idempotency keys, oldest first,
// and returns how many age entries it removed.
func (s *Store) sweepExpired(maxKeys int) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	done := 0
	for done < maxKeys {
		chunk, err := s.findExpired(min(sweepChunkKeys, maxKeys-done))
		if err != nil || len(chunk) == 0 {
			return done, err
		}
		if err := s.deleteExpired(chunk); err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

// findExpired lists up to n age entries whose keys have expired.
func (s *Store) findExpired(n int) ([]expiredKey, error) {
	cutoff := s.opts.Now().Add(-s.opts.IdempotencyTTL)
	upper := prefixEnd(binary.BigEndian.AppendUint64([]byte{prefixIdemAge}, encodeTime(cutoff)))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixIdemAge}, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("cannot scan idempotency keys: %w", err)
	}
	defer it.Close()
	var out []expiredKey
	for ok := it.First(); ok && len(out) < n; ok = it.Next() {
		k := it.Key()
		if len(k) < idemAgeHeaderLen {
			return nil, fmt.Errorf("cannot scan idempotency keys: entry %x: %w", k, errCorrupt)
		}
		out = append(out, expiredKey{
			ageKey:  append([]byte(nil), k...),
			written: binary.BigEndian.Uint64(k[1:]),
			user:    binary.BigEndian.Uint64(k[9:]),
			key:     string(k[idemAgeHeaderLen:]),
		})
	}
	return out, it.Error()
}

// deleteExpired removes the age entries of chunk and each idempotency key
// still written at that age (a Create may have reclaimed it since), holding
// the keys' stripes so no Create interleaves.
func (s *Store) deleteExpired(chunk []expiredKey) error {
	hashes := make([]uint64, len(chunk))
	for i, e := range chunk {
		hashes[i] = keyStripe(s.keySeed, e.user, e.key)
	}
	unlock := s.lockHashes(hashes...)
	defer unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, e := range chunk {
		ik := idemKey(e.user, e.key)
		v, found, err := get(s.db, ik)
		if err != nil {
			return fmt.Errorf("cannot read idempotency key: %w", err)
		}
		if found && len(v) == idemValueLen && binary.BigEndian.Uint64(v[8:]) == e.written {
			mustBatch(b.Delete(ik, nil))
		}
		mustBatch(b.Delete(e.ageKey, nil))
	}
	// NoSync: a delete lost in a crash leaves a key that is already expired,
	// and the next sweep deletes it again.
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("cannot delete expired idempotency keys: %w", err)
	}
	return nil
}

func (s *Store) logError(format string, args ...any) {
	quietLogger{}.Errorf(format, args...)
}
