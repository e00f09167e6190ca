package ingress

import (
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics of the transfer POST, on the global VictoriaMetrics set (names from
// the deployment guide; GetOrCreate so other packages may share them).
var (
	transferRequests = metrics.GetOrCreateCounter("internal_transfer_total_requests")
	transferLatency  = metrics.GetOrCreatePrometheusHistogramExt("internal_transfer_latency_ms", latencyBucketsMs)
	rejectedByCode   = func() map[string]*metrics.Counter {
		m := make(map[string]*metrics.Counter, len(allCodes))
		for _, c := range allCodes {
			m[c] = metrics.GetOrCreateCounter(`internal_transfer_rejected_total{code="` + c + `"}`)
		}
		return m
	}()
	avgLatency = &latencyWindow{}
	_          = metrics.GetOrCreateGauge("internal_transfer_avg_latency_ms", func() float64 {
		return avgLatency.mean(time.Now())
	})
)

// latencyBucketsMs spans 0.1 ms to 10 s in 1-2.5-5 steps.
var latencyBucketsMs = []float64{
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
}

// observeTransfer records one transfer POST's handling time.
func observeTransfer(d time.Duration, now time.Time) {
	ms := float64(d) / float64(time.Millisecond)
	transferLatency.Update(ms)
	avgLatency.add(now, ms)
}

// countRejected counts a refused transfer POST by its error code.
func countRejected(code string) {
	if c, ok := rejectedByCode[code]; ok {
		c.Inc()
		return
	}
	panic("BUG: error code " + code + " missing from allCodes")
}

// latencyWindowSeconds is the trailing window of internal_transfer_avg_latency_ms.
const latencyWindowSeconds = 60

// latencyWindow keeps per-second sums and counts over the trailing minute.
type latencyWindow struct {
	mu    sync.Mutex
	slots [latencyWindowSeconds]latencySlot
}

type latencySlot struct {
	second int64 // Unix second the slot holds
	sumMs  float64
	count  uint64
}

func (w *latencyWindow) add(now time.Time, ms float64) {
	sec := now.Unix()
	w.mu.Lock()
	s := &w.slots[sec%latencyWindowSeconds]
	if s.second != sec {
		*s = latencySlot{second: sec}
	}
	s.sumMs += ms
	s.count++
	w.mu.Unlock()
}

// mean is the average latency in ms over the latencyWindowSeconds before
// now, 0 when nothing was observed.
func (w *latencyWindow) mean(now time.Time) float64 {
	sec := now.Unix()
	var sum float64
	var n uint64
	w.mu.Lock()
	for i := range w.slots {
		s := &w.slots[i]
		if s.count > 0 && s.second > sec-latencyWindowSeconds && s.second <= sec {
			sum += s.sumMs
			n += s.count
		}
	}
	w.mu.Unlock()
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
