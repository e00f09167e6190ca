package transfers

import (
	"context"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// successRateWindow is the trailing window internal_transfer_success_rate
// covers.
const successRateWindow = 60 * time.Second

var successTotal = metrics.GetOrCreateCounter("internal_transfer_success")

// rateTracker keeps one (success, failed) sample per second for the window.
type rateTracker struct {
	mu      sync.Mutex
	samples [][2]uint64 // oldest first, at most window/second + 1
}

// Rate is successes / (successes + failures) over the window; 1 when nothing
// finished (no failures is a perfect rate, and an idle service is not an alert).
func (r *rateTracker) Rate() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) < 2 {
		return 1
	}
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	ok, bad := last[0]-first[0], last[1]-first[1]
	if ok+bad == 0 {
		return 1
	}
	return float64(ok) / float64(ok+bad)
}

func (r *rateTracker) sample(success, failed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, [2]uint64{success, failed})
	if max := int(successRateWindow/time.Second) + 1; len(r.samples) > max {
		r.samples = append(r.samples[:0], r.samples[len(r.samples)-max:]...)
	}
}

// TrackSuccessRate publishes internal_transfer_success_rate (0..1 over the
// trailing 60 s, from internal_transfer_success and internal_transfer_failed)
// until ctx ends.
func TrackSuccessRate(ctx context.Context) {
	r := &rateTracker{}
	metrics.GetOrCreateGauge("internal_transfer_success_rate", r.Rate)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.sample(successTotal.Get(), failedTotal.Get())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
