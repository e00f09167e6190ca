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
