package transfers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
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
			el, err := ledgerembedded.Open(ledgerembedded.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			st, err := storeembedded.Open(storeembedded.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			cat, err := NewCatalog([]Asset{{Name: "USDT", Ledger: 1, Decimals: 8}},
				[]AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}}, []Route{{From: "funding", To: "spot"}})
			if err != nil {
				t.Fatal(err)
			}
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
				return slog.New(slog.NewTextHandler(io.Discard, nil))
			}))
			fc := c.store
			fc.Store = st
			svc, err := NewService(sys, el, fc, nil, cat, Options{NodeID: 1, MailboxMax: 10, InFlightMax: 10,
				IdleTimeout: time.Hour, RequestTimeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close(); sys.Shutdown(); _ = st.Close(); _ = el.Close() })
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
