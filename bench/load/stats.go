package load

import (
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 10 min, 3 digits.
const (
	histMinUS = 1
	histMaxUS = 10 * 60 * 1_000_000
	histSig   = 3
)

// Quantiles of one latency histogram, in milliseconds.
type Quantiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

func quantiles(h *hdrhistogram.Histogram) Quantiles {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Quantiles{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
}

// stats are the run's counters and histograms, behind one mutex (a few
// hundred nanoseconds per request; the service takes tens of microseconds).
type stats struct {
	mu       sync.Mutex
	all      *hdrhistogram.Histogram // every HTTP attempt that got an answer
	accepted *hdrhistogram.Histogram // attempts answered 200
	settle   *hdrhistogram.Histogram // accepted → final, sampled
	shed     *hdrhistogram.Histogram // attempts answered 429 or 503
	counts   map[string]int64
}

func newStats() *stats {
	return &stats{
		all:      hdrhistogram.New(histMinUS, histMaxUS, histSig),
		accepted: hdrhistogram.New(histMinUS, histMaxUS, histSig),
		settle:   hdrhistogram.New(histMinUS, histMaxUS, histSig),
		shed:     hdrhistogram.New(histMinUS, histMaxUS, histSig),
		counts:   map[string]int64{},
	}
}

func clampUS(d time.Duration) int64 {
	us := d.Microseconds()
	return max(histMinUS, min(us, histMaxUS))
}

// attempt records one HTTP attempt.
func (s *stats) attempt(a *answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts["attempts"]++
	if a.status == 0 {
		if a.err != nil && a.err.Error() == "timeout" {
			s.counts["attempt_timeout"]++
		} else {
			s.counts["attempt_conn_error"]++
		}
		return
	}
	_ = s.all.RecordValue(clampUS(a.latency))
	switch a.status {
	case 200:
		_ = s.accepted.RecordValue(clampUS(a.latency))
	case 429, 503:
		_ = s.shed.RecordValue(clampUS(a.latency))
	}
	s.counts["attempt_http_"+strconv.Itoa(a.status)]++
}

func (s *stats) inc(name string, n int64) {
	s.mu.Lock()
	s.counts[name] += n
	s.mu.Unlock()
}

func (s *stats) settled(d time.Duration) {
	s.mu.Lock()
	_ = s.settle.RecordValue(clampUS(d))
	s.mu.Unlock()
}

// snapshot copies the counters, sorted by name for stable output.
func (s *stats) snapshot() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.counts))
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = s.counts[k]
	}
	return out
}
