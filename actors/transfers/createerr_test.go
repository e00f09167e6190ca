package transfers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// failingCreate fails every Create: after writing it (landed), or without
// writing (err says whether it says so).
type failingCreate struct {
	store.Store
	landed bool
	err    error
}

func (f failingCreate) Create(ctx context.Context, r store.Request) (store.Request, bool, error) {
	if f.landed {
		if _, _, err := f.Store.Create(ctx, r); err != nil {
			return store.Request{}, false, err
		}
	}
	return store.Request{}, false, f.err
}

// A Create that failed hands the client the request's id only when the
// request reads as stored: an id handed out must name a request that
// reaches a final state.
func TestFailedCreateHandsOutOnlyAStoredID(t *testing.T) {
	timeout := errors.New("write timed out")
	for _, c := range []struct {
		name   string
		store  failingCreate
		want   error
		withID bool
	}{
		{"landed", failingCreate{landed: true, err: timeout}, ErrOutcomeUnknown, true},
		{"never landed", failingCreate{err: timeout}, ErrOutcomeUnknown, false},
		{"refused before writing", failingCreate{err: store.NothingWritten(timeout)}, ErrUnavailable, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var st store.Store
			svc := newTestServiceWith(t, func(inner store.Store) store.Store {
				st = inner
				fc := c.store
				fc.Store = inner
				return fc
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := svc.Submit(ctx, Command{UserID: 5, ToUserID: 5, FromAccountType: "funding", ToAccountType: "spot",
				Asset: "USDT", Amount: 1, IdempotencyKey: "k", Fingerprint: "f", Received: time.Now()})
			if !errors.Is(err, c.want) {
				t.Fatalf("Submit: %v, want %v", err, c.want)
			}
			if (got.ID != 0) != c.withID {
				t.Fatalf("Submit answered request id %d; want an id: %v", got.ID, c.withID)
			}
			if got.ID != 0 {
				if _, err := st.Get(ctx, got.ID); err != nil {
					t.Fatalf("the id handed out, %d, names nothing stored: %v", got.ID, err)
				}
			}
		})
	}
}

// When the store defers its fsyncs (Options.Sync) and the sync before the
// answer fails, a Create that failed and did not read as stored is still
// "outcome unknown": the write may land later (a timed-out ScyllaDB write
// can), so "unavailable", which says nothing was written, would let a
// client without a key send it again. Only a key held by another request
// (nothing of this one written) is answered unavailable.
func TestFailedSyncAfterAFailedCreateIsOutcomeUnknown(t *testing.T) {
	syncErr := errors.New("fsync failed")
	timeout := errors.New("write timed out")
	svc := newTestServiceOpts(t, func(inner store.Store) store.Store {
		return failingCreate{Store: inner, err: timeout}
	}, func(o *Options) { o.Sync = func(context.Context) error { return syncErr } })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := svc.Submit(ctx, Command{UserID: 5, ToUserID: 5, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 1, IdempotencyKey: "k", Fingerprint: "f", Received: time.Now()})
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Submit: %v, want outcome unknown", err)
	}
}

// The other side: a key held by another request, with the sync failing,
// is answered unavailable and names nothing.
func TestFailedSyncAfterAKeyConflictIsUnavailable(t *testing.T) {
	var fail atomic.Bool
	svc := newTestServiceOpts(t, nil, func(o *Options) {
		o.Sync = func(context.Context) error {
			if fail.Load() {
				return errors.New("fsync failed")
			}
			return nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := Command{UserID: 5, ToUserID: 5, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 1, IdempotencyKey: "k", Fingerprint: "f", Received: time.Now()}
	if _, err := svc.Submit(ctx, cmd); !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("first Submit: %v", err)
	}
	fail.Store(true)
	cmd.Fingerprint = "another body"
	got, err := svc.Submit(ctx, cmd)
	if !errors.Is(err, ErrUnavailable) || got.ID != 0 {
		t.Fatalf("same key, another body, sync failing: %+v %v; want unavailable and no id", got, err)
	}
}
