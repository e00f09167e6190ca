package deploy

import (
	"regexp"
	"sort"
	"strings"
)

// Metric kinds, as in the Prometheus exposition format's # TYPE line.
const (
	KindCounter   = "counter"
	KindGauge     = "gauge"
	KindHistogram = "histogram"
)

// Metric is one metric the services export, which rules and panels may name.
type Metric struct {
	Name string
	Kind string // KindCounter, KindGauge or KindHistogram
	Help string
}

// Metrics is the catalogue of Internal Transfer metrics (VictoriaMetrics/metrics,
// Prometheus exposition). Histograms are exposed as Name_bucket{le}, Name_sum
// and Name_count.
var Metrics = []Metric{
	{"internal_transfer_total_requests", KindCounter, "transfer POSTs received"},
	{"internal_transfer_success", KindCounter, "requests that reached success"},
	{"internal_transfer_failed", KindCounter, "requests that reached failed"},
	{"internal_transfer_rejected_total", KindCounter, `4xx/5xx rejections by error code (label code="…")`},
	{"internal_transfer_success_rate", KindGauge, "success / (success + failed) over a trailing 60 s window, 0..1; exported by a node running gateway and settlement in one process (embedded backends); a split cluster's is the recording rule cluster:internal_transfer_success_rate:ratio_rate1m"},
	{"internal_transfer_latency_ms", KindHistogram, "POST handling time in ms"},
	{"internal_transfer_avg_latency_ms", KindGauge, "mean POST handling time over a trailing 60 s window, ms"},
	{"internal_transfer_pending_count", KindGauge, "requests in requesting or pending; exported where the scanner runs (settlement nodes, embedded nodes)"},
	{"internal_transfer_stuck_count", KindGauge, "requests pending past settlement.stuck_threshold_ms; exported where the scanner runs"},
	{"internal_transfer_tb_errors", KindCounter, "ledger call errors"},
	{"internal_transfer_db_errors", KindCounter, "store call errors"},
	{"internal_transfer_ledger_batch_size", KindHistogram, "events per ledger batch"},
	{"internal_transfer_mailbox_depth", KindGauge, "messages waiting in actor mailboxes"},
	{"internal_transfer_settlement_lag", KindGauge, "settlement consumer lag in records"},
	{"internal_transfer_settlement_latency_ms", KindHistogram, "accepted → final time in ms"},
	{"internal_transfer_scanner_runs_total", KindCounter, "completed scanner passes"},
	{"internal_transfer_scanner_run_duration_seconds", KindHistogram, "duration of each scanner pass in seconds, completed or not"},
	{"internal_transfer_scanner_driven_total", KindCounter, "requests the scanner drove to a final state"},
	{"internal_transfer_stream_errors", KindCounter, "Kafka (stream) call errors"},
	{"internal_transfer_settlement_skipped_records_total", KindCounter, "confirmation records settlement skipped: undecodable, naming no stored request, or not settleable as configured (the request stays open for an operator)"},
	{"internal_transfer_settlement_partition_restarts_total", KindCounter, "partition actors restarted by their supervisor"},
	{"internal_transfer_ledger_queue_depth", KindGauge, "ledger events waiting for a batch"},
	{"internal_transfer_user_actors", KindGauge, "per-user actors alive"},
	{"internal_transfer_user_actors_evicted_total", KindCounter, "idle user actors stopped early to stay within actors.user_actors_max"},
	{"internal_transfer_embedded_wal_fsync_ms", KindHistogram, "duration of each fsync of the embedded Pebble WAL in ms (embedded backends only)"},
	{"internal_transfer_embedded_broker_refused_connections_total", KindCounter, "connections the embedded Kafka broker closed for a frame over its size limit (embedded backends only)"},
	{"internal_transfer_embedded_write_stall_ms", KindHistogram, "duration of each write stall of the shared embedded Pebble database in ms (embedded backends only)"},
}

// Job names Prometheus scrapes the two services under; rules and panels
// select on them.
const (
	JobGateway    = "internal-transfer-gateway"
	JobSettlement = "internal-transfer-settlement"
)

var metricNamePattern = regexp.MustCompile(`internal_transfer_[a-z0-9_]+`)

// UnknownMetrics returns the internal_transfer_* series names in the PromQL
// expression expr that no catalogued metric exports: a histogram exports
// its _bucket, _sum and _count series (not its bare name), the others their
// name. The result is sorted and without duplicates.
func UnknownMetrics(expr string) []string {
	exported := make(map[string]bool, 3*len(Metrics))
	for _, m := range Metrics {
		if m.Kind == KindHistogram {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[m.Name+suffix] = true
			}
			continue
		}
		exported[m.Name] = true
	}
	seen := map[string]bool{}
	var unknown []string
	for _, name := range metricNamePattern.FindAllString(expr, -1) {
		if exported[name] || seen[name] {
			continue
		}
		seen[name] = true
		unknown = append(unknown, name)
	}
	sort.Strings(unknown)
	return unknown
}

// MetricNames returns the internal_transfer_* series names expr mentions,
// sorted and without duplicates.
func MetricNames(expr string) []string {
	names := metricNamePattern.FindAllString(expr, -1)
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out
}

// trimHistogramSuffix maps a series name to its metric name: the _bucket,
// _sum or _count series of a catalogued histogram to the histogram, any
// other name (internal_transfer_pending_count is a gauge) to itself.
func trimHistogramSuffix(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suffix)
		if !ok {
			continue
		}
		for _, m := range Metrics {
			if m.Name == base && m.Kind == KindHistogram {
				return base
			}
		}
	}
	return series
}
