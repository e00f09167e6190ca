package load

import (
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
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
//
// Two kinds of latency are kept. An attempt's runs from its HTTP call to
// its answer (or its failure). A transfer's runs from when the arrival was
// due — its place in the open loop's schedule, or the closed-loop worker's
// start on it — to its definitive answer, or to the generator giving up on
// it: it includes the generator's own lateness (a GC pause, the dispatcher
// waiting for a CPU the service holds) and every failed attempt and backoff
// before the answer, which is what a client waits. The reports quote the
// transfers' (no coordinated omission); the attempts' are kept beside.
type stats struct {
	mu       sync.Mutex
	all      *hdrhistogram.Histogram // every HTTP attempt, answered or failed (at its elapsed time)
	accepted *hdrhistogram.Histogram // attempts answered 200
	settle   *hdrhistogram.Histogram // accepted → final, sampled
	shed     *hdrhistogram.Histogram // attempts answered 429 or 503
	// transfers: every arrival sent, due → definitive answer or giving
	// up; transfersOK: those answered 200; lag: due → first attempt.
	transfers, transfersOK, lag *hdrhistogram.Histogram
	counts                      map[string]int64
	start                       time.Time // of the load phase; zero before it
	seconds                     []Second  // accepted transfers per second of the load phase and its drain
}

// Second is one second of the run, by when the answers came: how many
// transfers were accepted, how many of those took longer than SlowMS (due
// → answer), and the slowest.
// A tail made by a few seconds of stalls (a disk's slow fsyncs) and one
// spread over the whole run (the CPU's queueing) look alike in a p99; here
// they do not.
type Second struct {
	S        int     `json:"s"`
	Accepted int64   `json:"accepted"`
	Slow     int64   `json:"slow"`
	MaxMS    float64 `json:"max_ms"`
}

// SlowMS is the latency Second.Slow counts answers above: the 5K/s target's p99.
const SlowMS = 20

// timelineSecondsMax bounds the timeline (an hour).
const timelineSecondsMax = 3600

func newStats() *stats {
	return &stats{
		all:      hdrhistogram.New(histMinUS, histMaxUS, histSig),
		accepted: hdrhistogram.New(histMinUS, histMaxUS, histSig),
		settle:   hdrhistogram.New(histMinUS, histMaxUS, histSig),
		shed:     hdrhistogram.New(histMinUS, histMaxUS, histSig),

		transfers:   hdrhistogram.New(histMinUS, histMaxUS, histSig),
		transfersOK: hdrhistogram.New(histMinUS, histMaxUS, histSig),
		lag:         hdrhistogram.New(histMinUS, histMaxUS, histSig),
		counts:      map[string]int64{},
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
	_ = s.all.RecordValue(clampUS(a.latency))
	if a.status == 0 {
		if errors.Is(a.err, fasthttp.ErrTimeout) {
			s.counts["attempt_timeout"]++
		} else {
			s.counts["attempt_conn_error"]++
		}
		return
	}
	switch a.status {
	case 200:
		_ = s.accepted.RecordValue(clampUS(a.latency))
	case 429, 503:
		_ = s.shed.RecordValue(clampUS(a.latency))
	}
	s.counts["attempt_http_"+strconv.Itoa(a.status)]++
}

// begin marks the start of the load phase: the timeline counts from it.
func (s *stats) begin(t time.Time) {
	s.mu.Lock()
	s.start = t
	s.mu.Unlock()
}

// sent records the lateness of an arrival's first attempt: due → sent.
func (s *stats) sent(lag time.Duration) {
	s.mu.Lock()
	_ = s.lag.RecordValue(clampUS(lag))
	s.mu.Unlock()
}

// transfer records an arrival's whole wait, from due to a's arrival (the
// definitive answer, or the last attempt's failure when the generator gave
// up), and adds an accepted one to the timeline.
func (s *stats) transfer(due time.Time, a *answer) {
	at := a.at
	if at.IsZero() { // no attempt was made
		at = time.Now()
	}
	d := at.Sub(due)
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.transfers.RecordValue(clampUS(d))
	if a.status == 200 {
		_ = s.transfersOK.RecordValue(clampUS(d))
		s.second(at, d)
	}
}

// second adds a transfer accepted at at after waiting d to the timeline;
// s.mu is held.
func (s *stats) second(at time.Time, d time.Duration) {
	if s.start.IsZero() || at.Before(s.start) {
		return
	}
	i := int(at.Sub(s.start) / time.Second)
	if i >= timelineSecondsMax {
		return
	}
	for len(s.seconds) <= i {
		s.seconds = append(s.seconds, Second{S: len(s.seconds)})
	}
	sec := &s.seconds[i]
	sec.Accepted++
	ms := float64(d.Microseconds()) / 1000
	if ms > SlowMS {
		sec.Slow++
	}
	sec.MaxMS = max(sec.MaxMS, ms)
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
