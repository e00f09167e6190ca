package transfers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/exchange/internal-transfer/actors/batcher"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

// sharedPipeline is the node's embedded layout: ledger and store in one
// Pebble database, the store deferring its fsyncs to the ledger's
// (storeembedded.Options.DeferSync, transfers.Options.Sync), on a file
// system that can show what a power loss would leave.
type sharedPipeline struct {
	fs     *vfs.MemFS
	db     *pebble.DB
	store  *storeembedded.Store
	el     *ledgerembedded.Ledger
	svc    *transfers.Service
	admin  *transfers.Admin
	syncs  atomic.Int64 // calls of Options.Sync
	fail   atomic.Bool  // the ledger refuses to answer CreateTransfers
	sfail  atomic.Bool  // Options.Sync fails
	closed bool
}

// flakyLedger fails CreateTransfers without calling the ledger while on.
type flakyLedger struct {
	ledger.Ledger
	on *atomic.Bool
}

func (l flakyLedger) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	if l.on.Load() {
		return nil, ledger.ErrOutcomeUnknown
	}
	return l.Ledger.CreateTransfers(ctx, ts)
}

func newSharedPipeline(t *testing.T) *sharedPipeline {
	t.Helper()
	p := &sharedPipeline{fs: vfs.NewCrashableMem()}
	cache := pebble.NewCache(64 << 20)
	po := storeembedded.PebbleOptions(storeembedded.Options{}, cache)
	po.FS = p.fs
	db, err := pebble.Open("db", po)
	cache.Unref()
	if err != nil {
		t.Fatal(err)
	}
	p.db = db
	el, err := ledgerembedded.Open(ledgerembedded.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	st, err := storeembedded.Open(storeembedded.Options{DB: db, DeferSync: true, FilterBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	p.store, p.el = st, el
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	b := batcher.New(system, flakyLedger{Ledger: el, on: &p.fail}, batcher.Options{Width: 2, QueueMax: ledger.BatchEventsMax, CallTimeout: 5 * time.Second})
	opts := defaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Sync = func(ctx context.Context) error {
		p.syncs.Add(1)
		if p.sfail.Load() {
			return errors.New("sync refused by the test")
		}
		return st.Sync(ctx)
	}
	svc, err := transfers.NewService(system, b, st, nil, testCatalog(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	p.svc, p.admin = svc, transfers.NewAdmin(b, testCatalog(t), svc)
	if err := transfers.EnsureOperatorAccounts(context.Background(), b, testCatalog(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		_ = b.Close()
		system.Shutdown()
		_ = st.Close()
		_ = el.Close()
		_ = db.Close()
	})
	return p
}

// afterPowerLoss opens what the disk would hold if the power failed now
// (only synced data) and returns request id and whether its hold exists.
func (p *sharedPipeline) afterPowerLoss(t *testing.T, req store.Request) (store.Request, bool, bool) {
	t.Helper()
	clone := p.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	cache := pebble.NewCache(8 << 20)
	po := storeembedded.PebbleOptions(storeembedded.Options{}, cache)
	po.FS = clone
	db, err := pebble.Open("db", po)
	cache.Unref()
	if err != nil {
		t.Fatalf("reopen after power loss: %v", err)
	}
	defer db.Close()
	el, err := ledgerembedded.Open(ledgerembedded.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	defer el.Close()
	st, err := storeembedded.Open(storeembedded.Options{DB: db, FilterBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	got, err := st.Get(ctx, req.ID)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	holds, err := el.LookupTransfers(ctx, []ledger.Uint128{ledger.Uint128FromBytes(req.PendingID)})
	if err != nil {
		t.Fatal(err)
	}
	return got, found, len(holds) == 1
}

// TestAnsweredRequestsSurvivePowerLoss: with the store's fsyncs deferred to
// the ledger's, every request the service answers for is on disk when the
// answer leaves (what only a power loss, not a SIGKILL, can tell): a hold
// created now makes the record durable through the ledger's fsync, with no
// extra sync; any other answer syncs the store first.
func TestAnsweredRequestsSurvivePowerLoss(t *testing.T) {
	p := newSharedPipeline(t)
	ctx := context.Background()
	const user = 21
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}

	// The test can fail: a deferred write alone is lost.
	// Another user's, so user's actor never resumes it.
	probe := store.Request{ID: 1 << 40, UserID: user + 1, ToUserID: user + 1, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 1, Fingerprint: "probe"}
	if _, _, err := p.store.Create(ctx, probe); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := p.afterPowerLoss(t, probe); found {
		t.Fatal("a Create of a DeferSync store survived a power loss without any sync: the check below proves nothing")
	}

	check := func(name string, req store.Request, wantSyncs int64, wantHold bool) {
		t.Helper()
		if got := p.syncs.Swap(0); got != wantSyncs {
			t.Errorf("%s: %d store syncs before the answer, want %d", name, got, wantSyncs)
		}
		got, found, held := p.afterPowerLoss(t, req)
		if !found {
			t.Fatalf("%s: request %d answered (%s) but lost in a power loss", name, req.ID, req.Status)
		}
		if held != wantHold {
			t.Fatalf("%s: hold present after power loss %v, want %v", name, held, wantHold)
		}
		// A status recorded after the hold may be lost (the hold decides
		// it again); the record itself never is.
		if got.Status != req.Status && got.Status != store.StatusRequesting {
			t.Fatalf("%s: status %s after power loss, answered %s", name, got.Status, req.Status)
		}
	}

	held, err := p.svc.Submit(ctx, cmd(user, 10, "k-held"))
	if err != nil || held.Status != store.StatusPending {
		t.Fatalf("hold: %+v %v", held, err)
	}
	check("hold created now", held, 0, true)

	short, err := p.svc.Submit(ctx, cmd(user, 1000, "k-short"))
	if !errors.Is(err, transfers.ErrInsufficientBalance) {
		t.Fatalf("insufficient: %+v %v", short, err)
	}
	check("refused hold", short, 1, false)

	replay, err := p.svc.Submit(ctx, cmd(user, 10, "k-held"))
	if err != nil || replay.ID != held.ID {
		t.Fatalf("replay: %+v %v, want request %d", replay, err, held.ID)
	}
	check("replay", replay, 1, true)

	// The ledger does not answer: the client gets the request id to look
	// up, so the record must be on disk although no ledger write followed.
	p.fail.Store(true)
	unknown, err := p.svc.Submit(ctx, cmd(user, 5, "k-unknown"))
	p.fail.Store(false)
	if !errors.Is(err, transfers.ErrOutcomeUnknown) || unknown.ID == 0 {
		t.Fatalf("ledger without answer: %+v %v, want ErrOutcomeUnknown with the request", unknown, err)
	}
	check("ledger without answer", unknown, 1, false)

	// A sync that fails turns the answer into "outcome unknown".
	p.sfail.Store(true)
	_, err = p.svc.Submit(ctx, cmd(user, 1000, "k-short-2"))
	p.sfail.Store(false)
	p.syncs.Store(0)
	if !errors.Is(err, transfers.ErrOutcomeUnknown) {
		t.Fatalf("refusal whose sync failed: %v, want ErrOutcomeUnknown", err)
	}
}

// When the store's sync before an answer fails (the ledger did not answer,
// so nothing else made the request durable), the client is not given the
// request's id: after a power loss that id could name nothing, and every
// id handed out must reach a final state. It learns the outcome by
// retrying with its key.
func TestFailedSyncHandsOutNoRequestID(t *testing.T) {
	p := newSharedPipeline(t)
	ctx := context.Background()
	const user = 31
	if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
		t.Fatal(err)
	}
	p.fail.Store(true)  // the ledger gives no answer: no hold, no ledger fsync
	p.sfail.Store(true) // and the store's sync fails
	got, err := p.svc.Submit(ctx, cmd(user, 5, "k-lost"))
	p.fail.Store(false)
	p.sfail.Store(false)
	if !errors.Is(err, transfers.ErrOutcomeUnknown) {
		t.Fatalf("Submit: %v, want ErrOutcomeUnknown", err)
	}
	if got.ID != 0 {
		_, found, _ := p.afterPowerLoss(t, got)
		t.Fatalf("given request id %d with no sync behind it (after a power loss it exists: %v)", got.ID, found)
	}
	// The retry with the key finds the request and finishes it.
	again, err := p.svc.Submit(ctx, cmd(user, 5, "k-lost"))
	if err != nil || again.Status != store.StatusPending {
		t.Fatalf("retry with the key: %+v %v, want pending", again, err)
	}
	// Its hold is durable (the ledger's fsync), and so is the record
	// before it; pending itself may read requesting until a restart's
	// resume or the scanner records it again from the hold.
	if after, found, held := p.afterPowerLoss(t, again); !found || !held || after.Status.Final() {
		t.Fatalf("after a power loss: found %v, hold %v, status %s", found, held, after.Status)
	}
}

// What a GET shows is durable: a final status that settlement recorded
// without an fsync of its own (the store defers its fsyncs) is synced
// before it is shown, so a client shown success never reads pending after
// a power loss. A history page likewise.
func TestReadsShowOnlyDurableStatus(t *testing.T) {
	for _, read := range []string{"get", "history"} {
		t.Run(read, func(t *testing.T) {
			p := newSharedPipeline(t)
			ctx := context.Background()
			const user = 41
			if err := p.admin.Deposit(ctx, user, "funding", "USDT", 100, ""); err != nil {
				t.Fatal(err)
			}
			req, err := p.svc.Submit(ctx, cmd(user, 10, "k-get"))
			if err != nil || req.Status != store.StatusPending {
				t.Fatalf("submit: %+v %v", req, err)
			}
			// What settlement does: the post (synced by the ledger), then
			// success recorded without a sync.
			if res, err := p.el.CreateTransfers(ctx, []ledger.Transfer{transfers.PostTransfer(req, 1)}); err != nil || len(res) != 0 {
				t.Fatalf("post: %v %v", res, err)
			}
			if _, err := p.store.Advance(ctx, req.ID, store.StatusSuccess, store.Outcome{}); err != nil {
				t.Fatal(err)
			}
			var shown store.Request
			if read == "get" {
				shown, err = p.svc.Get(ctx, req.ID)
			} else {
				var page store.HistoryPage
				page, err = p.svc.History(ctx, store.HistoryQuery{UserID: user, Limit: 10})
				if err == nil && len(page.Requests) == 1 {
					shown = page.Requests[0]
				}
			}
			if err != nil || shown.Status != store.StatusSuccess {
				t.Fatalf("%s: %+v %v, want success", read, shown, err)
			}
			if after, found, _ := p.afterPowerLoss(t, req); !found || after.Status != store.StatusSuccess {
				t.Fatalf("shown success, after a power loss: found %v, status %s", found, after.Status)
			}
		})
	}
}
