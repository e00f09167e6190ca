package settlement

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

func TestHappyPath(t *testing.T) {
	e := newEnv(t, "", 4)
	e.fund(1, 1_000)
	svc := e.startService(e.options(time.Hour))
	if h := svc.Health(); h["status"] != "healthy" || h["scanner"] != "running" {
		t.Fatalf("Health = %v, want healthy with the scanner running", h)
	}
	// A failed scanner run shows on /health (no credential) without its
	// cause, which can name backends and addresses: that is in the log.
	svc.scanner.mu.Lock()
	svc.scanner.lastErr = errors.New("dial tcp 10.0.3.7:9042: connection refused")
	svc.scanner.mu.Unlock()
	if h := svc.Health(); h["status"] != "healthy" || h["scanner_error"] == "" || strings.Contains(h["scanner_error"], "10.0.3.7") {
		t.Fatalf("Health after a failed run = %v; want healthy, a scanner_error, and no backend address", h)
	}
	svc.scanner.mu.Lock()
	svc.scanner.lastErr = nil
	svc.scanner.mu.Unlock()
	before := successTotal.Get()
	req := e.transfer(1, 1, 100)
	got := e.waitFinal(waitMax, req.ID)[req.ID]
	if got.Status != store.StatusSuccess {
		t.Fatalf("status %s (%s), want success", got.Status, got.ErrorCode)
	}
	dp, dpend, _, _ := e.balances(e.accountID(1, "funding"))
	_, _, cp, cpend := e.balances(e.accountID(1, "spot"))
	if dp != 100 || dpend != 0 || cp != 100 || cpend != 0 {
		t.Fatalf("funding debits posted %d pending %d, spot credits posted %d pending %d; want 100 0 100 0", dp, dpend, cp, cpend)
	}
	// The counter moves just after the store write the test saw.
	for deadline := time.Now().Add(waitMax); successTotal.Get() <= before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("internal_transfer_success did not count the settlement")
		}
	}
	e.checkAgrees(svc.Settler(), map[uint64]store.Request{req.ID: got})
	// The partition has settled everything up to its high watermark.
	for deadline := time.Now().Add(waitMax); svc.consumer.lag() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("lag %d after everything settled, want 0", svc.consumer.lag())
		}
	}
}

// freeze closes account id as the admin freeze does: a pending closing
// transfer that debits it.
func (e *env) freeze(id ledger.Uint128) {
	e.createOK(ledger.Transfer{ID: ledger.OperationID("freeze", fmt.Sprint(nextRequestID.Add(1))),
		DebitAccountID: id, CreditAccountID: ledger.OperatorAccountID(assetLedger),
		Ledger: assetLedger, Code: ledger.CodeFreeze, Flags: ledger.TransferPending | ledger.TransferClosingDebit})
}

func TestDestinationFrozen(t *testing.T) {
	e := newEnv(t, "", 2)
	e.fund(1, 1_000)
	e.fund(2, 0)
	req := e.create(e.request(1, 2, 300, 0))
	e.hold(req)
	req = e.markPending(req)
	e.freeze(e.accountID(2, "funding"))
	svc := e.startService(e.options(time.Hour))
	e.publish(req)
	got := e.waitFinal(5*time.Second, req.ID)[req.ID]
	if got.Status != store.StatusFailed || got.ErrorCode != CodeAccountFrozen {
		t.Fatalf("request ended %s %q, want failed %s", got.Status, got.ErrorCode, CodeAccountFrozen)
	}
	dp, dpend, _, _ := e.balances(e.accountID(1, "funding"))
	_, _, cp, cpend := e.balances(e.accountID(2, "funding"))
	if dp != 0 || dpend != 0 || cp != 0 || cpend != 0 {
		t.Fatalf("hold not released: debits posted %d pending %d, credits posted %d pending %d", dp, dpend, cp, cpend)
	}
	e.checkAgrees(svc.Settler(), map[uint64]store.Request{req.ID: got})
}

func TestReplayedRecord(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	svc := e.startService(e.options(time.Hour))
	req := e.transfer(1, 1, 100)
	first := e.waitFinal(5*time.Second, req.ID)[req.ID]
	for range 3 {
		e.publish(first) // replays, as a redelivery or a resend would
	}
	// One partition keeps order: once a later request is final, the
	// replays before it were settled too.
	marker := e.transfer(1, 1, 1)
	e.waitFinal(5*time.Second, marker.ID)
	again := e.get(req.ID)
	if again.Status != first.Status || !again.UpdatedAt.Equal(first.UpdatedAt) {
		t.Fatalf("replay changed the request: %+v, was %+v", again, first)
	}
	posts, _ := e.postsAndVoids(map[uint64]store.Request{req.ID: req})
	if n := posts[ledger.Uint128FromBytes(req.PendingID)]; n != 1 {
		t.Fatalf("%d post transfers for the request, want 1", n)
	}
	if dp, _, _, _ := e.balances(e.accountID(1, "funding")); dp != 101 {
		t.Fatalf("debits posted %d, want 101", dp)
	}
	e.checkAgrees(svc.Settler(), map[uint64]store.Request{req.ID: again})
}

// Two members settle while records flow; one leaves mid-stream. Every
// request ends final exactly once, with one post each.
func TestRebalance(t *testing.T) {
	e := newEnv(t, "", 6)
	const users, perUser = 12, 15
	for u := uint64(1); u <= users; u++ {
		e.fund(u, 10_000)
	}
	opts := e.options(time.Hour)
	opts.Consumer.PartitionQueueMax = 8 // exercise pausing too
	a := NewService(opts)
	b := e.startService(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for a.consumer.assignedCount() == 0 || b.consumer.assignedCount() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the two members never shared the partitions")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var mu sync.Mutex
	var ids []uint64
	var wg sync.WaitGroup
	stopped := make(chan struct{})
	for u := uint64(1); u <= users; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perUser; i++ {
				r := e.transfer(u, u, uint64(10+i))
				mu.Lock()
				ids = append(ids, r.ID)
				n := len(ids)
				mu.Unlock()
				if n == users*perUser/2 {
					go func() {
						defer close(stopped)
						for deadline := time.Now().Add(waitMax); a.consumer.settled.Load() == 0; time.Sleep(5 * time.Millisecond) {
							if time.Now().After(deadline) {
								t.Errorf("member a settled nothing within %v", waitMax)
								break
							}
						}
						stopCtx, cancel := context.WithTimeout(context.Background(), waitMax)
						defer cancel()
						if err := a.Stop(stopCtx); err != nil {
							t.Errorf("stop member a: %v", err)
						}
					}()
				}
			}
		}()
	}
	wg.Wait()
	<-stopped
	final := e.waitFinal(waitMax, ids...)
	if b.consumer.settled.Load() == 0 {
		t.Errorf("member b settled nothing")
	}
	for id, r := range final {
		if r.Status != store.StatusSuccess {
			t.Errorf("request %d ended %s %s", id, r.Status, r.ErrorCode)
		}
	}
	e.checkAgrees(b.Settler(), final)
	var want uint64
	for i := 0; i < perUser; i++ {
		want += uint64(10 + i)
	}
	for u := uint64(1); u <= users; u++ {
		if dp, dpend, _, _ := e.balances(e.accountID(u, "funding")); dp != want || dpend != 0 {
			t.Errorf("user %d: debits posted %d pending %d, want %d 0", u, dp, dpend, want)
		}
	}
	if h := a.Health(); h["status"] != "unhealthy" {
		t.Errorf("stopped member reports %v", h)
	}
}

// With the broker down, publishing fails and requests stay pending; once it
// is back on the same directory and port, the scanner re-publishes them and
// settlement completes them.
func TestKafkaUnavailable(t *testing.T) {
	skipIfExternal(t)
	e := newEnv(t, "", 2)
	e.fund(1, 1_000)
	svc := e.startService(e.options(200 * time.Millisecond))
	settled := e.transfer(1, 1, 10)
	e.waitFinal(5*time.Second, settled.ID)

	e.broker.Close()
	var reqs []store.Request
	for i := range 3 {
		req := e.create(e.request(1, 1, uint64(20+i), 0))
		e.hold(req)
		req = e.markPending(req)
		done := make(chan error, 1)
		e.producer.PublishAsync(req, func(err error) { done <- err })
		reqs = append(reqs, req)
		_ = done // delivery fails after RecordDeliveryTimeout or succeeds after restart; either is fine
	}
	time.Sleep(time.Second)
	for _, r := range reqs {
		if got := e.get(r.ID); got.Status != store.StatusPending {
			t.Fatalf("request %d is %s with Kafka down, want pending", r.ID, got.Status)
		}
	}
	e.startBroker(2)
	ids := []uint64{reqs[0].ID, reqs[1].ID, reqs[2].ID}
	final := e.waitFinal(waitMax, ids...)
	for id, r := range final {
		if r.Status != store.StatusSuccess {
			t.Errorf("request %d ended %s", id, r.Status)
		}
	}
	e.checkAgrees(svc.Settler(), final)
}

// committedOffset is the env's group's committed offset of partition 0, or
// -1 when none is committed.
func (e *env) committedOffset() int64 {
	e.t.Helper()
	adm := e.admin()
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offsets, err := adm.FetchOffsets(ctx, e.group)
	if err != nil {
		e.t.Fatalf("fetch offsets of %s: %v", e.group, err)
	}
	o, ok := offsets.Lookup(e.topic, 0)
	if !ok || o.Err != nil {
		return -1
	}
	return o.At
}

// TestOffsetWaitsForDurableOutcomes: with a store that defers its fsyncs
// (SettlerOptions.Sync), the consumer commits an offset only after a sync
// has made the outcomes before it durable: a record past a committed offset
// is never delivered again, so an outcome lost in a power loss after the
// commit could not be recovered from Kafka.
func TestOffsetWaitsForDurableOutcomes(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	var failing atomic.Bool
	var syncs atomic.Int64
	failing.Store(true)
	opts := e.options(time.Hour)
	opts.Settler.Sync = func(ctx context.Context) error {
		syncs.Add(1)
		if failing.Load() {
			return errors.New("disk gone")
		}
		return nil
	}
	e.startService(opts)

	first := e.transfer(1, 1, 100)
	if got := e.waitFinal(5*time.Second, first.ID)[first.ID]; got.Status != store.StatusSuccess {
		t.Fatalf("status %s, want success", got.Status)
	}
	for deadline := time.Now().Add(5 * time.Second); syncs.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the consumer never synced the store after settling a record")
		}
	}
	time.Sleep(200 * time.Millisecond) // room for a commit that should not happen
	if at := e.committedOffset(); at != -1 {
		t.Fatalf("offset %d committed although every sync failed", at)
	}

	failing.Store(false)
	second := e.transfer(1, 1, 100)
	if got := e.waitFinal(5*time.Second, second.ID)[second.ID]; got.Status != store.StatusSuccess {
		t.Fatalf("status %s, want success", got.Status)
	}
	for deadline := time.Now().Add(5 * time.Second); e.committedOffset() != 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("committed offset %d once syncs succeed, want 2 (after both records)", e.committedOffset())
		}
	}
}

// The partition actors never wait for an offset commit: while the store
// sync before a commit hangs, records go on settling (when each actor
// committed for itself, its partition stalled for the whole sync), and the
// commit follows once the sync returns.
func TestSettlementGoesOnWhileACommitWaits(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	release := make(chan struct{})
	var syncs atomic.Int64
	opts := e.options(time.Hour)
	// Far longer than the wait for the second record below.
	opts.Settler.CallTimeout, opts.Consumer.CommitTimeout = 20*time.Second, 20*time.Second
	opts.Settler.Sync = func(ctx context.Context) error {
		syncs.Add(1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.startService(opts)

	first := e.transfer(1, 1, 100)
	if got := e.waitFinal(5*time.Second, first.ID)[first.ID]; got.Status != store.StatusSuccess {
		t.Fatalf("status %s, want success", got.Status)
	}
	waitFor(t, 5*time.Second, "a commit waiting for its store sync", func() bool { return syncs.Load() > 0 })
	second := e.transfer(1, 1, 100)
	if got := e.waitFinal(2*time.Second, second.ID)[second.ID]; got.Status != store.StatusSuccess {
		t.Fatalf("status %s, want success", got.Status)
	}
	if at := e.committedOffset(); at != -1 {
		t.Fatalf("offset %d committed before the store sync returned", at)
	}
	close(release)
	waitFor(t, 5*time.Second, "the offset after both records committed", func() bool { return e.committedOffset() == 2 })
}

// A failing commit is retried less and less often, not every interval, and
// the offset is committed once the store syncs again.
func TestFailedCommitsBackOff(t *testing.T) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000)
	var failing atomic.Bool
	failing.Store(true)
	var syncs atomic.Int64
	opts := e.options(time.Hour)
	opts.Consumer.CommitInterval, opts.Consumer.RetryBackoffMax = 10*time.Millisecond, 400*time.Millisecond
	opts.Settler.Sync = func(context.Context) error {
		syncs.Add(1)
		if failing.Load() {
			return errors.New("store sync failed")
		}
		return nil
	}
	e.startService(opts)

	req := e.transfer(1, 1, 100)
	if got := e.waitFinal(5*time.Second, req.ID)[req.ID]; got.Status != store.StatusSuccess {
		t.Fatalf("status %s, want success", got.Status)
	}
	waitFor(t, 5*time.Second, "a failed commit", func() bool { return syncs.Load() > 0 })
	start := syncs.Load()
	time.Sleep(1500 * time.Millisecond)
	// Every 10 ms would be about 150 attempts; doubling up to 400 ms, about 8.
	if n := syncs.Load() - start; n > 20 {
		t.Fatalf("%d commit attempts in 1.5 s of failures, want them backing off", n)
	}
	if at := e.committedOffset(); at != -1 {
		t.Fatalf("offset %d committed while the store sync failed", at)
	}
	failing.Store(false)
	waitFor(t, 5*time.Second, "the offset committed after the store recovered", func() bool { return e.committedOffset() == 1 })
}
