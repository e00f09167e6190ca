package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

func (s suite) testCreate(t *testing.T) {
	st := s.store(t)
	t.Run("stores the request as requesting", func(t *testing.T) {
		user := randID(t)
		r := newRequest(t, user, randID(t), now())
		r.Status = store.StatusSuccess // a caller's status is ignored
		got := mustCreate(t, st, r)
		r.Status = 0
		wantRequest(t, got, r, store.StatusRequesting)
		wantRequest(t, mustGet(t, st, r.ID), r, store.StatusRequesting)
	})
	t.Run("same key returns the original", func(t *testing.T) {
		user := randID(t)
		first := newRequest(t, user, user, now())
		first.IdempotencyKey = randHex(t, 8)
		mustCreate(t, st, first)
		retry := first
		retry.ID = randID(t)
		got, created, err := st.Create(ctx(t), retry)
		if err != nil || created {
			t.Fatalf("retry: created %v, err %v; want existing", created, err)
		}
		wantRequest(t, got, first, store.StatusRequesting)
		_, err = st.Get(ctx(t), retry.ID)
		wantErr(t, "Get(retry id)", err, store.ErrNotFound)
	})
	t.Run("same key different body returns the original", func(t *testing.T) {
		user := randID(t)
		first := newRequest(t, user, user, now())
		first.IdempotencyKey = randHex(t, 8)
		mustCreate(t, st, first)
		mustAdvance(t, st, first.ID, store.StatusPending)
		conflict := newRequest(t, user, user, now())
		conflict.IdempotencyKey = first.IdempotencyKey
		got, created, err := st.Create(ctx(t), conflict)
		if err != nil || created {
			t.Fatalf("conflict: created %v, err %v; want existing", created, err)
		}
		if got.ID != first.ID || got.Fingerprint != first.Fingerprint || got.Status != store.StatusPending {
			t.Errorf("conflict returned %d/%s/%s, want %d/%s/pending", got.ID, got.Fingerprint, got.Status, first.ID, first.Fingerprint)
		}
	})
	t.Run("keys are scoped to the user", func(t *testing.T) {
		key := randHex(t, 8)
		a := newRequest(t, randID(t), 0, now())
		a.ToUserID, a.IdempotencyKey = a.UserID, key
		b := newRequest(t, randID(t), 0, now())
		b.ToUserID, b.IdempotencyKey = b.UserID, key
		mustCreate(t, st, a)
		mustCreate(t, st, b)
	})
	t.Run("existing id is never overwritten", func(t *testing.T) {
		user := randID(t)
		orig := newRequest(t, user, user, now())
		orig.IdempotencyKey = randHex(t, 8)
		mustCreate(t, st, orig)
		for _, key := range []string{"", randHex(t, 8)} {
			dup := newRequest(t, user, user, now())
			dup.ID, dup.IdempotencyKey = orig.ID, key
			_, _, err := st.Create(ctx(t), dup)
			wantErr(t, "Create(existing id, key "+key+")", err, store.ErrInvalid)
			wantErr(t, "Create(existing id, key "+key+")", err, store.ErrIDExists)
		}
		wantRequest(t, mustGet(t, st, orig.ID), orig, store.StatusRequesting)
	})
	t.Run("zero ids are refused", func(t *testing.T) {
		r := newRequest(t, randID(t), randID(t), now())
		r.ID = 0
		_, _, err := st.Create(ctx(t), r)
		wantErr(t, "Create(id 0)", err, store.ErrInvalid)
		r = newRequest(t, 0, randID(t), now())
		_, _, err = st.Create(ctx(t), r)
		wantErr(t, "Create(user 0)", err, store.ErrInvalid)
	})
	t.Run("over-long keys and out-of-range times are refused", func(t *testing.T) {
		user := randID(t)
		long := newRequest(t, user, user, now())
		long.IdempotencyKey = strings.Repeat("k", store.IdempotencyKeyMax+1)
		_, _, err := st.Create(ctx(t), long)
		wantErr(t, "Create(key of IdempotencyKeyMax+1 bytes)", err, store.ErrInvalid)
		far := newRequest(t, user, user, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))
		_, _, err = st.Create(ctx(t), far)
		wantErr(t, "Create(created in 2300)", err, store.ErrInvalid)
		ahead := newRequest(t, user, user, now().Add(store.CreatedAheadMax+time.Hour))
		_, _, err = st.Create(ctx(t), ahead)
		wantErr(t, "Create(created a day and an hour ahead)", err, store.ErrInvalid)
		for _, id := range []uint64{long.ID, far.ID, ahead.ID} {
			if _, err := st.Get(ctx(t), id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("refused request %d: Get err = %v, want ErrNotFound", id, err)
			}
		}
		ok := newRequest(t, user, user, now())
		ok.IdempotencyKey = strings.Repeat("k", store.IdempotencyKeyMax)
		mustCreate(t, st, ok)
	})
	t.Run("concurrent creates with one key create once", func(t *testing.T) {
		testConcurrentKey(t, st)
	})
	t.Run("refusals before any write say nothing was written", func(t *testing.T) {
		user := randID(t)
		invalid := newRequest(t, user, user, now())
		invalid.ID = 0
		_, _, err := st.Create(ctx(t), invalid)
		wantErr(t, "Create(id 0)", err, store.ErrNothingWritten)
		late, cancel := context.WithCancel(ctx(t))
		cancel()
		gone := newRequest(t, user, user, now())
		gone.IdempotencyKey = randHex(t, 8)
		_, _, err = st.Create(late, gone)
		wantErr(t, "Create(deadline past)", err, store.ErrNothingWritten)
		if _, err := st.Get(ctx(t), gone.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("request %d refused for its deadline: Get err = %v, want ErrNotFound", gone.ID, err)
		}
		dup := newRequest(t, user, user, now())
		mustCreate(t, st, dup)
		again := newRequest(t, user, user, now())
		again.ID = dup.ID
		_, _, err = st.Create(ctx(t), again)
		wantErr(t, "Create(existing id)", err, store.ErrNothingWritten)
	})
}

// testConcurrentKey races creates of distinct ids under one key: exactly one
// creates and every caller gets that request back.
func testConcurrentKey(t *testing.T, st store.Store) {
	const racers = 16
	user, key := randID(t), randHex(t, 8)
	type result struct {
		got     store.Request
		created bool
		err     error
		id      uint64
	}
	results := make([]result, racers)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range results {
		r := newRequest(t, user, user, now())
		r.IdempotencyKey = key
		results[i].id = r.ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			results[i].got, results[i].created, results[i].err = st.Create(ctx(t), r)
		}()
	}
	start.Done()
	wg.Wait()
	var winner uint64
	for _, res := range results {
		if res.err != nil {
			t.Fatalf("Create: %v", res.err)
		}
		if res.created {
			if winner != 0 {
				t.Fatalf("two creates with one key: %d and %d", winner, res.got.ID)
			}
			winner = res.got.ID
		}
	}
	if winner == 0 {
		t.Fatal("no create won")
	}
	for _, res := range results {
		if res.got.ID != winner {
			t.Errorf("caller of %d got %d, want the winner %d", res.id, res.got.ID, winner)
		}
		if res.id != winner {
			_, err := st.Get(ctx(t), res.id)
			wantErr(t, "Get(loser)", err, store.ErrNotFound)
		}
	}
}
