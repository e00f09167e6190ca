package settlement

import (
	"context"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/store"
)

// BenchmarkSettle measures settlement end to end through the embedded
// broker: b.N pending requests are published (their holds already in the
// ledger), and the clock runs from the first publish until the store holds
// every outcome. records/s is the figure to compare.
func BenchmarkSettle(b *testing.B) {
	e := newEnv(b, "", 8)
	const users = 64
	for u := uint64(1); u <= users; u++ {
		e.fund(u, 1<<40)
	}
	reqs := make([]store.Request, b.N)
	for i := range reqs {
		u := uint64(i%users + 1)
		reqs[i] = e.pendingRequest(u, u, 1)
	}
	svc := e.startService(e.options(time.Hour))
	before := svc.consumer.settled.Load()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	// The producer refuses records beyond its buffer (ErrBufferFull) rather
	// than block; keep the records awaiting an ack below it.
	inflight := make(chan struct{}, stream.DefaultBufferedRecordsMax/2)
	for _, r := range reqs {
		inflight <- struct{}{}
		e.producer.PublishAsync(r, func(err error) {
			<-inflight
			if err != nil {
				b.Error(err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Minute)
	for svc.consumer.settled.Load()-before < int64(b.N) {
		if b.Failed() {
			b.FailNow() // a record was never published: it would never settle
		}
		if time.Now().After(deadline) {
			b.Fatalf("settled %d of %d", svc.consumer.settled.Load()-before, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last, err := e.store.Get(ctx, reqs[len(reqs)-1].ID)
	if err != nil || last.Status != store.StatusSuccess {
		b.Fatalf("last request %s, %v", last.Status, err)
	}
}

// BenchmarkScannerRepublish times one scanner pass over b.N pending holds
// that were never published (a Kafka outage's backlog), against the
// in-process broker: each is looked up in the ledger and re-published.
func BenchmarkScannerRepublish(b *testing.B) {
	e := newEnv(b, "", 8)
	const users = 64
	for u := uint64(1); u <= users; u++ {
		e.fund(u, 1<<40)
	}
	for i := range b.N {
		u := uint64(i%users + 1)
		req := e.create(e.request(u, u, 1, time.Second))
		e.hold(req)
		e.markPending(req)
	}
	sc := NewScanner(NewSettler(e.settlerOptions()), e.store,
		ScannerOptions{Grace: time.Millisecond, PerRunMax: b.N, PageSize: store.OpenLimitMax, Logger: e.log})
	b.ResetTimer()
	start := time.Now()
	stats, err := sc.RunOnce(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "holds/s")
	if stats.Driven != b.N || stats.Errors != 0 {
		b.Fatalf("stats %+v, want %d driven without errors", stats, b.N)
	}
}
