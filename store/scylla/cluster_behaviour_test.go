package scylla

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// These tests exercise what the conformance suite cannot see from outside:
// delayed writers, the open-minute index and key-holder repair. They need a
// cluster (SCYLLA_HOSTS) like the suite.

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomID(t testing.TB) uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint64(b[:])>>1 | 1
}

func testRequest(t testing.TB, created time.Time) store.Request {
	user := randomID(t)
	return store.Request{ID: randomID(t), UserID: user, ToUserID: randomID(t), FromAccountType: "funding",
		ToAccountType: "spot", Asset: "USDT", Amount: 100, Fingerprint: "fp", CreatedAt: toMillis(created)}
}

func TestClusterBehaviour(t *testing.T) {
	hosts := clusterHosts(t)
	keyspace := freshKeyspace(t, hosts)
	s := openTest(t, hosts, keyspace, Options{})
	t.Run("delayed write of an earlier status cannot regress", func(t *testing.T) {
		ctx := testCtx(t)
		r, _, err := s.Create(ctx, testRequest(t, time.Now().Add(-time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		pending, err := s.Advance(ctx, r.ID, store.StatusPending, store.Outcome{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Advance(ctx, r.ID, store.StatusSuccess, store.Outcome{}); err != nil {
			t.Fatal(err)
		}
		for _, late := range []store.Request{pending, r} { // a slow pending writer, a replayed create
			b := s.newBatch(ctx)
			addRequestRows(b, &late)
			if err := b.exec(); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Get(ctx, r.ID); err != nil || got.Status != store.StatusSuccess {
			t.Fatalf("after late writes: %s, %v; want success", got.Status, err)
		}
		page, err := s.ListOpen(ctx, store.OpenQuery{Before: time.Now(), Limit: store.OpenLimitMax})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Requests {
			if o.ID == r.ID {
				t.Fatalf("final request %d listed open after a late write", r.ID)
			}
		}
		h, err := s.History(ctx, store.HistoryQuery{UserID: r.ToUserID, Limit: 10})
		if err != nil || len(h.Requests) != 1 || h.Requests[0].Status != store.StatusSuccess {
			t.Fatalf("receiver history = %+v, %v; want the request in success", h.Requests, err)
		}
	})
	// later is the same keyspace through a store whose clock runs past the
	// seal time of any index row s writes now.
	later := openTest(t, hosts, keyspace, Options{Now: func() time.Time {
		return time.Now().Add(DefaultOpenSealAfter + time.Minute)
	}})
	t.Run("empty sealed minutes leave the index and come back", func(t *testing.T) {
		testMinuteIndex(t, s, later)
	})
	t.Run("a prune stamped after a create into a sealed minute cannot unlist it", func(t *testing.T) {
		ctx := testCtx(t)
		created := time.Now().Add(-50 * time.Hour).Truncate(time.Minute)
		minute := minuteBucket(toMillis(created))
		r, _, err := s.Create(ctx, testRequest(t, created))
		if err != nil {
			t.Fatal(err)
		}
		// A prune whose second look missed the create's batch, on a node
		// whose clock is a second ahead: its delete is stamped after the
		// batch. The index row must outlive it.
		del := map[string]any{"shard": bucketShard, "minute_bucket": minute, "ts": time.Now().Add(time.Second).UnixMicro()}
		if err := s.query(ctx, stmtBucketDelete, del).ExecRelease(); err != nil {
			t.Fatal(err)
		}
		if minutes, err := s.listMinutes(ctx, minute, minute); err != nil || len(minutes) != 1 {
			t.Fatalf("minute of an open request indexed: %v, %v; want it listed", minutes, err)
		}
		if !listedOpen(t, s, created.Add(time.Second), r.ID) {
			t.Fatalf("open request %d in a sealed minute not listed after a racing prune", r.ID)
		}
	})
	t.Run("a key whose holder was never written is restored", func(t *testing.T) {
		ctx := testCtx(t)
		holder := testRequest(t, time.Now())
		holder.IdempotencyKey, holder.Status, holder.UpdatedAt = "k-"+t.Name(), store.StatusRequesting, holder.CreatedAt
		row := toRow(&holder) // claim the key as a creator that died before its batch
		if applied, err := s.query(ctx, stmtKeyClaim, row.values(map[string]any{"ttl": 3600})).ExecCASRelease(); err != nil || !applied {
			t.Fatalf("claim: %v, %v", applied, err)
		}
		retry := testRequest(t, time.Now())
		retry.UserID, retry.IdempotencyKey = holder.UserID, holder.IdempotencyKey
		got, created, err := s.Create(ctx, retry)
		if err != nil || created || got.ID != holder.ID {
			t.Fatalf("Create = %d, %v, %v; want holder %d", got.ID, created, err, holder.ID)
		}
		if _, err := s.Get(ctx, holder.ID); err != nil {
			t.Fatalf("holder not restored: %v", err)
		}
		if _, err := s.Get(ctx, retry.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("loser written: %v", err)
		}
	})
	t.Run("failures with different codes keep one writer's outcome", func(t *testing.T) {
		ctx := testCtx(t)
		r, _, err := s.Create(ctx, testRequest(t, time.Now().Add(-time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		// Two finalisers that both read the request open, each writing its
		// own failure (Advance's read-then-write, interleaved).
		// At one timestamp each cell keeps its larger value: VOIDED and
		// "insufficient balance", a pair neither writer wrote.
		for _, o := range []store.Outcome{{ErrorCode: "VOIDED", ErrorMessage: "hold voided"},
			{ErrorCode: "INSUFFICIENT_BALANCE", ErrorMessage: "insufficient balance"}} {
			failed := r
			failed.Status, failed.UpdatedAt = store.StatusFailed, toMillis(time.Now())
			failed.ErrorCode, failed.ErrorMessage = o.ErrorCode, o.ErrorMessage
			b := s.newBatch(ctx)
			addRequestRows(b, &failed)
			if err := b.exec(); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		pairs := map[string]string{"VOIDED": "hold voided", "INSUFFICIENT_BALANCE": "insufficient balance"}
		if want, ok := pairs[got.ErrorCode]; !ok || got.ErrorMessage != want {
			t.Fatalf("stored outcome %q / %q mixes the two writers", got.ErrorCode, got.ErrorMessage)
		}
	})
	t.Run("an open row back after its request went final is deleted again", func(t *testing.T) {
		ctx := testCtx(t)
		created := time.Now().Add(-3 * time.Hour)
		r, _, err := s.Create(ctx, testRequest(t, created))
		if err != nil {
			t.Fatal(err)
		}
		// The request row goes final while its open row stays, as when a
		// replica that missed the delete outlives gc_grace_seconds unrepaired.
		final := r
		final.Status, final.UpdatedAt = store.StatusSuccess, toMillis(time.Now())
		row := toRow(&final)
		b := s.newBatch(ctx)
		b.addArgs(stmtRequestInsert, rowArgs(row.appendArgs(nil), writeTimestamp(final.CreatedAt, final.Status)))
		if err := b.exec(); err != nil {
			t.Fatal(err)
		}
		if !listedOpen(t, s, time.Now(), r.ID) {
			t.Fatal("setup: the open row is not listed")
		}
		if got, err := s.Advance(ctx, r.ID, store.StatusSuccess, store.Outcome{}); err != nil || got.Status != store.StatusSuccess {
			t.Fatalf("Advance to the final status again: %s, %v", got.Status, err)
		}
		if listedOpen(t, s, time.Now(), r.ID) {
			t.Fatal("the open row of a final request is still listed after Advance met it")
		}
	})
	t.Run("a count past its row bound is partial, not an error", func(t *testing.T) {
		ctx := testCtx(t)
		for i := 0; i < 3; i++ {
			if _, _, err := s.Create(ctx, testRequest(t, time.Now().Add(-time.Duration(i)*time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		whole, err := s.CountOpen(ctx, time.Now())
		if err != nil || whole.Partial || whole.Requesting+whole.Pending < 3 {
			t.Fatalf("whole count %+v, %v; want at least 3 open, not partial", whole, err)
		}
		bounded := openTest(t, hosts, keyspace, Options{})
		bounded.countMax = 2
		part, err := bounded.CountOpen(ctx, time.Now())
		if err != nil || !part.Partial || part.Requesting+part.Pending != 2 {
			t.Fatalf("bounded count %+v, %v; want 2 open, partial", part, err)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if err := s.Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("applying the schema twice is harmless", func(t *testing.T) {
		sess, err := Connect(testCtx(t), withClusterAuth(Options{Hosts: hosts, Timeout: SchemaTimeout}))
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if err := ApplySchema(testCtx(t), sess, keyspace, testReplication); err != nil {
			t.Fatal(err)
		}
	})
}

// testMinuteIndex finalises a request in a long-sealed minute, checks that a
// scan drops the minute from open_transfer_buckets (a scan by later, once
// the index row's own seal time is past, not one by s right away), then
// creates into that minute again and checks the minute is listed and its
// request found.
func testMinuteIndex(t *testing.T, s, later *Store) {
	ctx := testCtx(t)
	created := time.Now().Add(-48 * time.Hour).Truncate(time.Minute)
	minute := minuteBucket(toMillis(created))
	indexed := func() bool {
		minutes, err := s.listMinutes(ctx, minute, minute)
		if err != nil {
			t.Fatal(err)
		}
		return len(minutes) == 1
	}
	r, _, err := s.Create(ctx, testRequest(t, created))
	if err != nil {
		t.Fatal(err)
	}
	if !indexed() {
		t.Fatal("minute of a new request not indexed")
	}
	if _, err := s.Advance(ctx, r.ID, store.StatusFailed, store.Outcome{ErrorCode: "X"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountOpen(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !indexed() {
		t.Fatal("minute dropped by a count right after a create into it")
	}
	if _, err := later.CountOpen(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if indexed() {
		t.Fatal("empty sealed minute still indexed after a count past its row's seal time")
	}
	// Through later too: its prune's delete is stamped on its clock, which
	// an index row stamped on s's would not outlive.
	again, _, err := later.Create(ctx, testRequest(t, created.Add(time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	if !indexed() {
		t.Fatal("minute not indexed again by a create into it")
	}
	if !listedOpen(t, s, created.Add(time.Second), again.ID) {
		t.Fatalf("request %d in a re-indexed minute not listed", again.ID)
	}
}

// listedOpen reports whether ListOpen's first page of requests created
// before before holds request id.
func listedOpen(t *testing.T, s *Store, before time.Time, id uint64) bool {
	t.Helper()
	page, err := s.ListOpen(testCtx(t), store.OpenQuery{Before: before, Limit: store.OpenLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Requests {
		if o.ID == id {
			return true
		}
	}
	return false
}
