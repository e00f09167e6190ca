package storetest

import (
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
)

func (s suite) testActions(t *testing.T) {
	st := s.store(t)
	t.Run("kept oldest first", func(t *testing.T) {
		r := mustCreate(t, st, newRequest(t, randID(t), randID(t), now()))
		got, err := st.Actions(ctx(t), r.ID)
		if err != nil || len(got) != 0 {
			t.Fatalf("Actions before any = %v, %v; want none", got, err)
		}
		base := now()
		var want []store.Action
		for i, kind := range []string{"resend", "void", "post"} {
			a := store.Action{RequestID: r.ID, Kind: kind, Operator: "op-" + randHex(t, 2),
				Reason: "ticket " + randHex(t, 4), At: base.Add(time.Duration(i) * time.Second)}
			if err := st.RecordAction(ctx(t), a); err != nil {
				t.Fatalf("RecordAction: %v", err)
			}
			want = append(want, a)
		}
		got, err = st.Actions(ctx(t), r.ID)
		if err != nil {
			t.Fatalf("Actions: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("actions (-want +got):\n%s", diff)
		}
	})
	t.Run("unknown request", func(t *testing.T) {
		err := st.RecordAction(ctx(t), store.Action{RequestID: randID(t), Kind: "post", Operator: "op", At: now()})
		wantErr(t, "RecordAction(unknown)", err, store.ErrNotFound)
		_, err = st.Actions(ctx(t), randID(t))
		wantErr(t, "Actions(unknown)", err, store.ErrNotFound)
	})
}

// expiryTTL is the idempotency TTL of the expiry test: one second, the
// smallest a CQL TTL can express.
const expiryTTL = time.Second

func (s suite) testExpiry(t *testing.T) {
	st := s.storeWith(t, Options{IdempotencyTTL: expiryTTL})
	user, key := randID(t), randHex(t, 8)
	first := newRequest(t, user, user, now())
	first.IdempotencyKey = key
	start := time.Now()
	mustCreate(t, st, first)
	retry := newRequest(t, user, user, now())
	retry.IdempotencyKey = key
	got, created, err := st.Create(ctx(t), retry)
	// Within the TTL the key holds, unless a slow disk spent the TTL on the
	// two writes already.
	if (err != nil || created || got.ID != first.ID) && time.Since(start) < expiryTTL {
		t.Fatalf("retry within TTL: got %d, created %v, err %v; want %d", got.ID, created, err, first.ID)
	}
	time.Sleep(expiryTTL + 2*time.Second)
	second := retry
	second.ID = randID(t)
	if got, created, err := st.Create(ctx(t), second); err != nil || !created || got.ID != second.ID {
		t.Fatalf("create after expiry: got %d, created %v, err %v; want %d created", got.ID, created, err, second.ID)
	}
	wantRequest(t, mustGet(t, st, first.ID), first, store.StatusRequesting)
	third := retry
	third.ID = randID(t)
	if got, created, err := st.Create(ctx(t), third); err != nil || created || got.ID != second.ID {
		t.Errorf("retry of the new key: got %d, created %v, err %v; want %d", got.ID, created, err, second.ID)
	}
}
