package settlement

import (
	"context"
	"testing"
	"time"

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
	for _, r := range reqs {
		e.producer.PublishAsync(r, func(err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Minute)
	for svc.consumer.settled.Load()-before < int64(b.N) {
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
