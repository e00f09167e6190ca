package settlement

import (
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Metric names. They live in VictoriaMetrics/metrics' default set, which the
// /metrics endpoint of every service writes out.
const (
	metricSuccess        = "internal_transfer_success"
	metricFailed         = "internal_transfer_failed"
	metricTBErrors       = "internal_transfer_tb_errors"
	metricDBErrors       = "internal_transfer_db_errors"
	metricLatency        = "internal_transfer_settlement_latency_ms"
	metricLag            = "internal_transfer_settlement_lag"
	metricPending        = "internal_transfer_pending_count"
	metricStuck          = "internal_transfer_stuck_count"
	metricScannerRuns    = "internal_transfer_scanner_runs_total"
	metricSkipped        = "internal_transfer_settlement_skipped_records_total"
	metricRestarts       = "internal_transfer_settlement_partition_restarts_total"
	metricStreamErrors   = "internal_transfer_stream_errors"
	metricScannerDriven  = "internal_transfer_scanner_driven_total"
	metricScannerSeconds = "internal_transfer_scanner_run_duration_seconds"
)

var (
	successTotal    = metrics.GetOrCreateCounter(metricSuccess)
	failedTotal     = metrics.GetOrCreateCounter(metricFailed)
	tbErrors        = metrics.GetOrCreateCounter(metricTBErrors)
	dbErrors        = metrics.GetOrCreateCounter(metricDBErrors)
	streamErrors    = metrics.GetOrCreateCounter(metricStreamErrors)
	latencyMS       = metrics.GetOrCreatePrometheusHistogramExt(metricLatency, latencyBucketsMS)
	scannerRuns     = metrics.GetOrCreateCounter(metricScannerRuns)
	scannerDriven   = metrics.GetOrCreateCounter(metricScannerDriven)
	scannerDuration = metrics.GetOrCreatePrometheusHistogramExt(metricScannerSeconds, scannerBucketsS)
	skippedRecords  = metrics.GetOrCreateCounter(metricSkipped)
	restartsTotal   = metrics.GetOrCreateCounter(metricRestarts)
	_               = metrics.GetOrCreateGauge(metricLag, func() float64 { return float64(lags.total()) })
)

// scannerBucketsS are the upper bounds of the scanner pass histogram, in
// seconds: a pass is bounded by its page and per-run limits, and one that
// outlasts the interval delays the next.
var scannerBucketsS = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// The pending and stuck gauges exist once a scanner has run (RunOnce): a
// process without a running one (a gateway of the split layout, whose idle
// scanner only answers stuck reports) would only ever
// export zeros.
var (
	scannerGauges            sync.Once
	pendingGauge, stuckGauge *metrics.Gauge
)

func registerScannerGauges() {
	scannerGauges.Do(func() {
		pendingGauge = metrics.GetOrCreateGauge(metricPending, nil)
		stuckGauge = metrics.GetOrCreateGauge(metricStuck, nil)
	})
}

// latencyBucketsMS are the upper bounds of the settlement latency histogram:
// from accepted to final, in milliseconds.
var latencyBucketsMS = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000}

func observeLatency(createdAt time.Time) {
	if createdAt.IsZero() {
		return
	}
	ms := float64(time.Since(createdAt)) / float64(time.Millisecond)
	if ms < 0 {
		ms = 0
	}
	latencyMS.Update(ms)
}

// lagRegistry sums the lag of every running consumer in the process (tests
// run several; production runs one) into the one lag gauge.
type lagRegistry struct {
	mu      sync.Mutex
	sources map[*consumer]struct{}
}

var lags = &lagRegistry{sources: map[*consumer]struct{}{}}

func (r *lagRegistry) add(c *consumer) {
	r.mu.Lock()
	r.sources[c] = struct{}{}
	r.mu.Unlock()
}

func (r *lagRegistry) remove(c *consumer) {
	r.mu.Lock()
	delete(r.sources, c)
	r.mu.Unlock()
}

func (r *lagRegistry) total() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum int64
	for c := range r.sources {
		sum += c.lag()
	}
	return sum
}
