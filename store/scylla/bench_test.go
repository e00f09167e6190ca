package scylla

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/gocql/gocql"
)

// writersBench is the number of concurrent writers of the write benchmarks.
const writersBench = 64

// parallel runs body from writersBench goroutines over b.N iterations.
func parallel(b *testing.B, body func(pb *testing.PB)) {
	b.Helper()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((writersBench + procs - 1) / procs)
	b.RunParallel(body)
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	hosts := clusterHosts(b)
	return openTest(b, hosts, freshKeyspace(b, hosts), Options{})
}

// BenchmarkCreate measures Create with an idempotency key (the LWT claim
// plus the logged batch) from 64 concurrent writers.
func BenchmarkCreate(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	parallel(b, func(pb *testing.PB) {
		for pb.Next() {
			r := testRequest(b, time.Now())
			r.IdempotencyKey = "bench"
			if _, created, err := s.Create(ctx, r); err != nil || !created {
				b.Errorf("Create: created %v, err %v", created, err)
				return
			}
		}
	})
}

// BenchmarkAdvance measures Advance requesting → pending (read, then the
// logged batch) from 64 concurrent writers over pre-created requests.
func BenchmarkAdvance(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	ids := make([]uint64, b.N)
	for i := range ids {
		r, _, err := s.Create(ctx, testRequest(b, time.Now()))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	parallel(b, func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)-1]
			if _, err := s.Advance(ctx, id, store.StatusPending, store.Outcome{}); err != nil {
				b.Errorf("Advance: %v", err)
				return
			}
		}
	})
}

// BenchmarkHistoryFirstPage measures the first page (50) of a user with
// 500 requests spread over five days.
func BenchmarkHistoryFirstPage(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	user := randomID(b)
	start := time.Now().Add(-5 * 24 * time.Hour)
	for i := range 500 {
		r := testRequest(b, start.Add(time.Duration(i)*14*time.Minute))
		r.UserID = user
		if _, _, err := s.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		page, err := s.History(ctx, store.HistoryQuery{UserID: user, Limit: 50})
		if err != nil || len(page.Requests) != 50 {
			b.Fatalf("History: %d requests, %v", len(page.Requests), err)
		}
	}
}

// BenchmarkAdvanceBatchBuild measures the client-side cost of one status
// change — the row conversion and the batch's bound values — without a
// cluster, so it runs everywhere.
func BenchmarkAdvanceBatchBuild(b *testing.B) {
	r := store.Request{ID: 1, UserID: 2, ToUserID: 3, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 100, Status: store.StatusSuccess, CreatedAt: toMillis(time.Now()), UpdatedAt: toMillis(time.Now())}
	b.ReportAllocs()
	for b.Loop() {
		bt := batch{&gocql.Batch{}}
		addRequestRows(bt, &r)
		if len(bt.b.Entries) != 4 {
			b.Fatalf("%d entries", len(bt.b.Entries))
		}
	}
}
