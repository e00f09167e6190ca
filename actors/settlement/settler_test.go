package settlement

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/ledger/ledgertest"
	"github.com/exchange/internal-transfer/store"
)

// pendingRequest runs the gateway up to pending, without publishing.
func (e *env) pendingRequest(user, to, amount uint64) store.Request {
	e.t.Helper()
	req := e.create(e.request(user, to, amount, 0))
	e.hold(req)
	return e.markPending(req)
}

func TestSettleOutcomes(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	e.fund(2, 0)
	s := NewSettler(e.settlerOptions())
	ctx := context.Background()

	t.Run("route disabled since the hold", func(t *testing.T) {
		req := e.pendingRequest(1, 2, 10)
		// A catalog without the cross-user route, as after a config change.
		narrow, err := transfers.NewCatalog(
			[]transfers.Asset{{Name: testAsset, Ledger: assetLedger, Decimals: 8}},
			[]transfers.AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}},
			[]transfers.Route{{From: "funding", To: "spot"}})
		if err != nil {
			t.Fatal(err)
		}
		opts := e.settlerOptions()
		opts.Catalog = narrow
		got, err := NewSettler(opts).SettleRequest(ctx, req.ID)
		if err != nil || got.Status != store.StatusFailed || got.ErrorCode != CodePermissionDenied {
			t.Fatalf("got %s %q, %v; want failed %s", got.Status, got.ErrorCode, err, CodePermissionDenied)
		}
		e.checkAgrees(s, map[uint64]store.Request{req.ID: got})
	})
	t.Run("hold voided by someone else", func(t *testing.T) {
		req := e.pendingRequest(1, 1, 10)
		e.createOK(transfers.VoidTransfer(req, assetLedger))
		got, err := s.SettleRequest(ctx, req.ID)
		if err != nil || got.Status != store.StatusFailed || got.ErrorCode != CodeVoided {
			t.Fatalf("got %s %q, %v; want failed %s", got.Status, got.ErrorCode, err, CodeVoided)
		}
	})
	t.Run("post refused earlier, crash before the void", func(t *testing.T) {
		e.fund(3, 0)
		req := e.pendingRequest(1, 3, 10)
		e.freeze(e.accountID(3, "funding"))
		// The first settlement attempt's post is refused (the account is
		// frozen) and the process dies before voiding: the post id is now
		// pinned as failed, so a replayed post answers id_already_failed.
		res, err := e.ledger.CreateTransfers(ctx, []ledger.Transfer{transfers.PostTransfer(req, assetLedger)})
		if err != nil || len(res) != 1 || res[0].Result != ledger.TransferCreditAccountAlreadyClosed {
			t.Fatalf("first post: %v %v, want credit_account_already_closed", res, err)
		}
		got, err := s.SettleRequest(ctx, req.ID)
		if err != nil || got.Status != store.StatusFailed || got.ErrorCode != CodeAccountFrozen {
			t.Fatalf("replay: %s %q, %v; want failed %s with the hold voided", got.Status, got.ErrorCode, err, CodeAccountFrozen)
		}
		e.checkAgrees(s, map[uint64]store.Request{req.ID: got})
	})
	t.Run("final request is only confirmed", func(t *testing.T) {
		req := e.pendingRequest(1, 1, 10)
		first, err := s.SettleRequest(ctx, req.ID)
		if err != nil || first.Status != store.StatusSuccess {
			t.Fatalf("first settle: %s, %v", first.Status, err)
		}
		again, err := s.SettleRecord(ctx, stream.FromRequest(req))
		if err != nil || again.Status != store.StatusSuccess || !again.UpdatedAt.Equal(first.UpdatedAt) {
			t.Fatalf("replay: %+v, %v", again, err)
		}
	})
	t.Run("record of an unknown request with nothing held", func(t *testing.T) {
		ghost := e.request(1, 1, 10, 0) // never stored, never held
		_, err := s.SettleRecord(ctx, stream.FromRequest(ghost))
		if !errors.Is(err, ErrNoSuchRequest) {
			t.Fatalf("got %v, want ErrNoSuchRequest", err)
		}
	})
	t.Run("record of an unknown request whose hold exists", func(t *testing.T) {
		orphan := e.request(1, 1, 10, 0) // held, never stored
		e.hold(orphan)
		if _, err := s.SettleRecord(ctx, stream.FromRequest(orphan)); !errors.Is(err, ErrUnsettleable) {
			t.Fatalf("got %v, want ErrUnsettleable", err)
		}
	})
	t.Run("outcome unknown is retried with the same ids", func(t *testing.T) {
		fl := &faultLedger{Ledger: e.ledger}
		opts := e.settlerOptions()
		opts.Ledger = fl
		fs := NewSettler(opts)
		req := e.pendingRequest(1, 1, 10)
		fl.setFailures(1, true) // the post is applied, the answer lost
		if _, err := fs.SettleRequest(ctx, req.ID); err == nil {
			t.Fatal("lost answer reported as success")
		}
		if got := e.get(req.ID); got.Status != store.StatusPending {
			t.Fatalf("store moved to %s without the ledger's answer", got.Status)
		}
		got, err := fs.SettleRequest(ctx, req.ID)
		if err != nil || got.Status != store.StatusSuccess {
			t.Fatalf("retry: %s, %v", got.Status, err)
		}
		e.checkAgrees(s, map[uint64]store.Request{req.ID: got})
	})
}

func TestOperatorTools(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	s := NewSettler(e.settlerOptions())
	ctx := context.Background()

	t.Run("reason and operator required", func(t *testing.T) {
		req := e.pendingRequest(1, 1, 10)
		if _, err := s.ManualPost(ctx, req.ID, "alice", ""); !errors.Is(err, ErrReasonRequired) {
			t.Fatalf("ManualPost without reason = %v", err)
		}
		if _, err := s.ManualVoid(ctx, req.ID, "", "because"); !errors.Is(err, ErrReasonRequired) {
			t.Fatalf("ManualVoid without operator = %v", err)
		}
		if got := e.get(req.ID); got.Status != store.StatusPending {
			t.Fatalf("refused action changed the request to %s", got.Status)
		}
	})
	t.Run("manual post", func(t *testing.T) {
		req := e.pendingRequest(1, 1, 10)
		rec, err := s.Reconcile(ctx, req.ID)
		if err != nil || !rec.PendingFound || rec.Posted || !rec.Agrees {
			t.Fatalf("Reconcile before = %+v, %v", rec, err)
		}
		got, err := s.ManualPost(ctx, req.ID, "alice", "customer ticket 42")
		if err != nil || got.Status != store.StatusSuccess {
			t.Fatalf("ManualPost = %s, %v", got.Status, err)
		}
		actions, err := e.store.Actions(ctx, req.ID)
		if err != nil || len(actions) != 2 || actions[0].Kind != "post" || actions[0].Operator != "alice" || actions[0].Reason != "customer ticket 42" ||
			actions[1].Kind != "post-result" || actions[1].Operator != "alice" || actions[1].Reason != "result: request success" {
			t.Fatalf("Actions = %+v, %v; want the post and its result", actions, err)
		}
		// Settlement racing behind the operator changes nothing.
		again, err := s.SettleRequest(ctx, req.ID)
		if err != nil || again.Status != store.StatusSuccess {
			t.Fatalf("settle after manual post = %s, %v", again.Status, err)
		}
		if _, err := s.ManualVoid(ctx, req.ID, "bob", "oops"); !errors.Is(err, ErrFinal) {
			t.Fatalf("ManualVoid of a final request = %v, want ErrFinal", err)
		}
		e.checkAgrees(s, map[uint64]store.Request{req.ID: got})
	})
	t.Run("manual void releases the funds", func(t *testing.T) {
		_, beforePending, _, _ := e.balances(e.accountID(1, "funding"))
		req := e.pendingRequest(1, 1, 10)
		got, err := s.ManualVoid(ctx, req.ID, "alice", "fraud review")
		if err != nil || got.Status != store.StatusFailed || got.ErrorCode != CodeVoided {
			t.Fatalf("ManualVoid = %s %q, %v", got.Status, got.ErrorCode, err)
		}
		if _, p, _, _ := e.balances(e.accountID(1, "funding")); p != beforePending {
			t.Fatalf("debits pending %d, want %d after the void", p, beforePending)
		}
		e.checkAgrees(s, map[uint64]store.Request{req.ID: got})
	})
	t.Run("void loses to a post the store has not seen", func(t *testing.T) {
		req := e.pendingRequest(1, 1, 10)
		e.createOK(transfers.PostTransfer(req, assetLedger))
		rec, err := s.Reconcile(ctx, req.ID)
		if err != nil || !rec.Posted || rec.Agrees {
			t.Fatalf("Reconcile = %+v, %v; want posted, store behind", rec, err)
		}
		got, err := s.ManualVoid(ctx, req.ID, "alice", "late")
		if !errors.Is(err, ErrLedgerDisagrees) || got.Status != store.StatusSuccess {
			t.Fatalf("ManualVoid = %s, %v; want success and ErrLedgerDisagrees", got.Status, err)
		}
	})
	t.Run("resend", func(t *testing.T) {
		req := e.pendingRequest(1, 1, 10)
		if err := s.Resend(ctx, req.ID); err != nil {
			t.Fatalf("Resend: %v", err)
		}
		svc := e.startService(e.options(time.Hour))
		got := e.waitFinal(10*time.Second, req.ID)[req.ID]
		if got.Status != store.StatusSuccess {
			t.Fatalf("resent request ended %s", got.Status)
		}
		if err := s.Resend(ctx, req.ID); !errors.Is(err, ErrFinal) {
			t.Fatalf("Resend of a final request = %v, want ErrFinal", err)
		}
		e.checkAgrees(svc.Settler(), map[uint64]store.Request{req.ID: got})
	})
}

// A record whose settlement fails restarts its partition actor, which
// retries the same record after a backoff; records behind it wait.
// With RestartsMax exceeded the strategy stops the actor and the supervisor
// respawns it later: the partition is never left without a worker.
func TestPartitionRetriesFailedRecord(t *testing.T) {
	for _, restartsMax := range []int{DefaultRestartsMax, 1} {
		t.Run(fmt.Sprintf("restarts max %d", restartsMax), func(t *testing.T) {
			testPartitionRetries(t, restartsMax)
		})
	}
}

func testPartitionRetries(t *testing.T, restartsMax int) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	fl := &faultLedger{Ledger: e.ledger}
	opts := e.options(time.Hour)
	opts.Settler.Ledger = fl
	opts.Consumer.RestartsMax = restartsMax
	svc := e.startService(opts)
	restartsBefore := restartsTotal.Get()
	fl.setFailures(1_000_000, false) // the ledger is unreachable
	first := e.transfer(1, 1, 10)
	second := e.transfer(1, 1, 20)
	// Both records fetched and failing: the lag counts them, and the
	// partition actor restarts (with more than one restart allowed).
	waitFor(t, waitMax, "both records fetched and counted as lag", func() bool {
		return svc.consumer.lag() == 2 && lags.total() >= 2 &&
			(restartsMax <= 1 || restartsTotal.Get()-restartsBefore >= 2)
	})
	for _, r := range []store.Request{first, second} {
		if got := e.get(r.ID); got.Status != store.StatusPending {
			t.Fatalf("request %d is %s while the ledger is down", r.ID, got.Status)
		}
	}
	fl.setFailures(0, false) // the ledger is back
	final := e.waitFinal(10*time.Second, first.ID, second.ID)
	for id, r := range final {
		if r.Status != store.StatusSuccess {
			t.Errorf("request %d ended %s", id, r.Status)
		}
	}
	e.checkAgrees(svc.Settler(), final)
}

// A record every retry would fail the same way (its asset gone from the
// configuration) is skipped, not retried: the records behind it in its
// partition settle, and it stays open in the store for an operator.
func TestPartitionSkipsUnsettleableRecord(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	svc := e.startService(e.options(time.Hour))
	skippedBefore := skippedRecords.Get()
	orphan := e.request(1, 1, 10, 0)
	orphan.Asset = "DOGE" // no longer configured
	orphan = e.markPending(e.create(orphan))
	e.publish(orphan)
	behind := e.transfer(1, 1, 20)
	if got := e.waitFinal(10*time.Second, behind.ID)[behind.ID]; got.Status != store.StatusSuccess {
		t.Fatalf("record behind the unsettleable one ended %s, want success", got.Status)
	}
	if got := e.get(orphan.ID); got.Status != store.StatusPending {
		t.Fatalf("unsettleable request is %s, want still pending for an operator", got.Status)
	}
	if n := skippedRecords.Get() - skippedBefore; n != 1 {
		t.Fatalf("skipped %d records, want 1", n)
	}
	// The partition moved past both: a later record is not held behind
	// the skipped one.
	deadline := time.Now().Add(5 * time.Second)
	for svc.consumer.lag() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("partition lag %d, want 0: it is stuck behind the unsettleable record", svc.consumer.lag())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// corruptStore answers store.ErrCorrupt for one request, as a store whose
// row of it no longer decodes.
type corruptStore struct {
	store.Store
	id uint64
}

func (c corruptStore) Get(ctx context.Context, id uint64) (store.Request, error) {
	if id == c.id {
		return store.Request{}, fmt.Errorf("cannot read request %d: %w", id, store.ErrCorrupt)
	}
	return c.Store.Get(ctx, id)
}

// Records no retry can settle are skipped like the unsettleable one above,
// not retried for ever in front of the partition: a request the store
// cannot read, and a hold whose request the store does not have.
func TestPartitionSkipsRecordsNoRetryCanSettle(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	corrupt := e.markPending(e.create(e.request(1, 1, 10, 0)))
	opts := e.options(time.Hour)
	opts.Settler.Store = corruptStore{e.store, corrupt.ID}
	svc := e.startService(opts)
	skippedBefore := skippedRecords.Get()
	e.publish(corrupt)
	orphan := e.request(1, 1, 15, 0) // held, never stored
	e.hold(orphan)
	e.publish(orphan)
	behind := e.transfer(1, 1, 20)
	if got := e.waitFinal(10*time.Second, behind.ID)[behind.ID]; got.Status != store.StatusSuccess {
		t.Fatalf("record behind the unsettleable ones ended %s, want success", got.Status)
	}
	if n := skippedRecords.Get() - skippedBefore; n != 2 {
		t.Fatalf("skipped %d records, want 2", n)
	}
	waitFor(t, 5*time.Second, "the partition to move past them", func() bool { return svc.consumer.lag() == 0 })
}

// A partition paused behind a record that keeps failing is no longer
// fetched; its lag still counts every record published behind it, from the
// cluster's end offsets, so SettlementLag can see the backlog grow.
func TestLagCountsRecordsBehindAPausedPartition(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	fl := &faultLedger{Ledger: e.ledger}
	opts := e.options(time.Hour)
	opts.Settler.Ledger = fl
	opts.Consumer.PartitionQueueMax = 2
	opts.Consumer.EndOffsetsEvery = 100 * time.Millisecond
	svc := e.startService(opts)
	fl.setFailures(1_000_000, false) // every post fails: the head record never finishes
	for range 3 {
		e.transfer(1, 1, 1)
	}
	waitFor(t, 10*time.Second, "the first records to be fetched", func() bool { return svc.consumer.lag() >= 3 })
	for range 10 {
		e.transfer(1, 1, 1) // published while the partition is paused
	}
	waitFor(t, 10*time.Second, "lag to count the records behind the paused partition", func() bool { return svc.consumer.lag() == 13 })
	fl.setFailures(0, false)
	waitFor(t, 20*time.Second, "the backlog to drain", func() bool { return svc.consumer.lag() == 0 })
}

// waitFor polls cond every 20 ms until it holds, failing after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOperatorAnswersAfterSync: with a store that defers its fsyncs
// (SettlerOptions.Sync), an operator's post syncs before it answers, and a
// failed sync is the operator's error, not a silent success.
func TestOperatorAnswersAfterSync(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	var syncs atomic.Int64
	var fail atomic.Bool
	opts := e.settlerOptions()
	opts.Sync = func(context.Context) error {
		syncs.Add(1)
		if fail.Load() {
			return errors.New("sync refused by the test")
		}
		return nil
	}
	s := NewSettler(opts)
	ctx := context.Background()
	req := e.pendingRequest(1, 1, 10)
	if got, err := s.ManualPost(ctx, req.ID, "alice", "ticket 1"); err != nil || got.Status != store.StatusSuccess || syncs.Load() != 1 {
		t.Fatalf("ManualPost = %s, %v after %d syncs; want success after 1", got.Status, err, syncs.Load())
	}
	fail.Store(true)
	other := e.pendingRequest(1, 1, 10)
	if _, err := s.ManualVoid(ctx, other.ID, "alice", "ticket 2"); err == nil {
		t.Fatal("ManualVoid answered without error although its outcome could not be made durable")
	}
	if _, err := s.ManualPost(ctx, other.ID, "alice", ""); !errors.Is(err, ErrReasonRequired) || syncs.Load() != 2 {
		t.Fatalf("refused ManualPost = %v after %d syncs; want ErrReasonRequired and no sync", err, syncs.Load())
	}
}

// One partition's scratch carries batch after batch, as when a partition
// retries a failed batch: the retry, a smaller batch, a request named twice
// and one the store does not know each get their own outcome, never one
// left over from an earlier batch.
func TestSettleBatchesReuseScratch(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	fl := &faultLedger{Ledger: e.ledger}
	opts := e.settlerOptions()
	opts.Ledger = fl
	s := NewSettler(opts)
	ctx := context.Background()
	var b batchScratch
	var settled []uint64
	batch := func(n int) []stream.Confirmation {
		var confs []stream.Confirmation
		for i := 0; i < n; i++ {
			req := e.pendingRequest(1, 1, uint64(10+i))
			confs = append(confs, stream.FromRequest(req))
			settled = append(settled, req.ID)
		}
		confs = append(confs, confs[0]) // named twice: settled once
		unknown := confs[0]
		unknown.RequestID = 1<<40 + uint64(n) // no such request, and no hold
		unknown.PendingID = fmt.Sprintf("%032x", unknown.RequestID)
		return append(confs, unknown)
	}
	check := func(confs []stream.Confirmation, errs []error, wantErr bool) {
		t.Helper()
		n := len(confs) - 2
		if len(errs) != len(confs) {
			t.Fatalf("batch of %d: %d outcomes", len(confs), len(errs))
		}
		for i, err := range errs[:n+1] {
			if (err != nil) != wantErr {
				t.Fatalf("batch of %d: record %d: %v, want an error: %v", len(confs), i, err, wantErr)
			}
		}
		if err := errs[n+1]; !errors.Is(err, ErrNoSuchRequest) {
			t.Fatalf("batch of %d: unknown request: %v, want %v", len(confs), err, ErrNoSuchRequest)
		}
	}

	first := batch(3)
	fl.setFailures(1, false) // the ledger call of the first batch fails
	check(first, s.settleBatch(ctx, first, &b), true)
	check(first, s.settleBatch(ctx, first, &b), false) // its retry
	for _, n := range []int{1, 2} {
		confs := batch(n)
		check(confs, s.settleBatch(ctx, confs, &b), false)
	}
	final := e.waitFinal(time.Second, settled...)
	for id, r := range final {
		if r.Status != store.StatusSuccess {
			t.Errorf("request %d ended %s %s", id, r.Status, r.ErrorCode)
		}
	}
	e.checkAgrees(s, final)
	var want uint64
	for _, r := range final {
		want += r.Amount
	}
	if dp, dpend, _, _ := e.balances(e.accountID(1, "funding")); dp != want || dpend != 0 {
		t.Fatalf("debits posted %d pending %d, want %d 0", dp, dpend, want)
	}
}

// The posts of a batch whose ledger call failed are never reused for the
// next batch: the ledger may still read them, and would post what the next
// batch wrote over them.
func TestFailedBatchKeepsItsPosts(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	k := &ledgertest.KeepingLedger{Ledger: e.ledger}
	opts := e.settlerOptions()
	opts.Ledger = k
	s := NewSettler(opts)
	ctx := context.Background()
	var b batchScratch
	batch := func() []stream.Confirmation {
		return []stream.Confirmation{stream.FromRequest(e.pendingRequest(1, 1, 10)), stream.FromRequest(e.pendingRequest(1, 1, 20))}
	}
	for i, err := range s.settleBatch(ctx, batch(), &b) {
		if !errors.Is(err, ledger.ErrOutcomeUnknown) {
			t.Fatalf("first batch, record %d: %v, want ErrOutcomeUnknown", i, err)
		}
	}
	for i, err := range s.settleBatch(ctx, batch(), &b) {
		if err != nil {
			t.Fatalf("second batch, record %d: %v", i, err)
		}
	}
	if i, now, was := k.Changed(); i >= 0 {
		t.Fatalf("post %d of the failed batch changed after its call: %+v, was %+v", i, now, was)
	}
}

// A request recorded pending whose hold is not in the ledger (a lost ledger
// write, a ledger restored from an older backup). A post or void of a
// missing hold is refused and pins its id for good; with both ids pinned,
// the hold the scanner re-places could never be released. Every path that
// voids, and every manual action, re-places the hold first, so the request
// ends final with nothing left held.
func TestLostHoldEndsFinalWithNothingHeld(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	s := NewSettler(e.settlerOptions())
	ctx := context.Background()
	lost := func() store.Request { return e.markPending(e.create(e.request(1, 1, 10, time.Hour))) }
	settled := func(t *testing.T, id uint64, want store.Status) {
		t.Helper()
		got := e.get(id)
		st, err := s.ledgerState(ctx, got)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want || !st.PendingFound || st.Posted == st.Voided || st.Posted != (want == store.StatusSuccess) {
			t.Fatalf("request %s, ledger %+v; want %s, matching the ledger", got.Status, st, want)
		}
		if _, p, _, _ := e.balances(e.accountID(1, "funding")); p != 0 {
			t.Fatalf("%d still held", p)
		}
	}

	t.Run("settlement: the refused post's id is pinned, the void re-places the hold", func(t *testing.T) {
		req := lost()
		if _, err := s.SettleRequest(ctx, req.ID); err == nil {
			t.Fatal("a post of a missing hold settled")
		}
		got, err := s.SettleRequest(ctx, req.ID)
		if err != nil || got.Status != store.StatusFailed {
			t.Fatalf("settle again: %s %v; want failed (only the void remains)", got.Status, err)
		}
		settled(t, req.ID, store.StatusFailed)
	})
	t.Run("the scanner re-places it and settlement posts it", func(t *testing.T) {
		req := lost()
		got, err := s.Drive(ctx, req)
		if err != nil || got.Status != store.StatusPending {
			t.Fatalf("Drive: %s %v; want pending, its hold re-placed", got.Status, err)
		}
		if got, err = s.SettleRequest(ctx, req.ID); err != nil || got.Status != store.StatusSuccess {
			t.Fatalf("settle: %s %v", got.Status, err)
		}
		settled(t, req.ID, store.StatusSuccess)
	})
	t.Run("manual void", func(t *testing.T) {
		req := lost()
		got, err := s.ManualVoid(ctx, req.ID, "alice", "lost hold")
		if err != nil || got.Status != store.StatusFailed {
			t.Fatalf("ManualVoid: %s %v", got.Status, err)
		}
		settled(t, req.ID, store.StatusFailed)
	})
	t.Run("manual post", func(t *testing.T) {
		req := lost()
		got, err := s.ManualPost(ctx, req.ID, "alice", "lost hold")
		if err != nil || got.Status != store.StatusSuccess {
			t.Fatalf("ManualPost: %s %v", got.Status, err)
		}
		settled(t, req.ID, store.StatusSuccess)
	})
	t.Run("a re-placed hold the balance no longer covers leaves it failed", func(t *testing.T) {
		big := func() store.Request { return e.markPending(e.create(e.request(1, 1, 1_000_000, time.Hour))) }
		req := big()
		got, err := s.ManualPost(ctx, req.ID, "alice", "lost hold")
		if !errors.Is(err, ErrLedgerDisagrees) || got.Status != store.StatusFailed {
			t.Fatalf("ManualPost: %s %v; want failed and ErrLedgerDisagrees", got.Status, err)
		}
		req = big()
		if got, err = s.ManualVoid(ctx, req.ID, "alice", "lost hold"); err != nil || got.Status != store.StatusFailed {
			t.Fatalf("ManualVoid: %s %v; want failed, as asked", got.Status, err)
		}
		if _, p, _, _ := e.balances(e.accountID(1, "funding")); p != 0 {
			t.Fatalf("%d still held", p)
		}
	})
	t.Run("a manual post after a refused one is told only the void remains", func(t *testing.T) {
		req := lost()
		if _, err := s.SettleRequest(ctx, req.ID); err == nil { // pins the post id
			t.Fatal("a post of a missing hold settled")
		}
		if _, err := s.ManualPost(ctx, req.ID, "alice", "try"); !errors.Is(err, ErrLedgerDisagrees) {
			t.Fatalf("ManualPost of a pinned post id: %v, want ErrLedgerDisagrees", err)
		}
		// The record says the try was not done, so an auditor does not
		// read the post as what happened.
		actions, err := e.store.Actions(ctx, req.ID)
		if err != nil || len(actions) != 2 || actions[1].Kind != "post-result" || !strings.HasPrefix(actions[1].Reason, "not done: ") {
			t.Fatalf("Actions = %+v, %v; want the post and its result, not done", actions, err)
		}
		got, err := s.ManualVoid(ctx, req.ID, "alice", "then void")
		if err != nil || got.Status != store.StatusFailed {
			t.Fatalf("ManualVoid: %s %v", got.Status, err)
		}
		settled(t, req.ID, store.StatusFailed)
	})
}

// A hold under a request's pending id that carries another request's id (a
// key reused after the store forgot it) is not this request's: Reconcile
// must not report its post as this request's and call a consistent
// request inconsistent.
func TestReconcileIgnoresAnotherRequestsHold(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	s := NewSettler(e.settlerOptions())
	ctx := context.Background()
	a := e.pendingRequest(1, 1, 10)
	if got, err := s.SettleRequest(ctx, a.ID); err != nil || got.Status != store.StatusSuccess {
		t.Fatalf("settle a: %s %v", got.Status, err)
	}
	b := e.request(1, 1, 10, time.Hour)
	b.PendingID = a.PendingID
	b = e.create(b)
	if got, err := s.SettleRequest(ctx, b.ID); err != nil || got.Status != store.StatusFailed {
		t.Fatalf("settle b: %s %v; want failed (its key's hold is a's)", got.Status, err)
	}
	r, err := s.Reconcile(ctx, b.ID)
	if err != nil || !r.Agrees || r.Posted || r.PendingFound {
		t.Fatalf("Reconcile of b: %+v %v; want agreeing, with no hold of its own", r, err)
	}
	if r, err := s.Reconcile(ctx, a.ID); err != nil || !r.Agrees || !r.Posted {
		t.Fatalf("Reconcile of a: %+v %v; want agreeing and posted", r, err)
	}
}
