package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRenderLocalHAProxy(t *testing.T) {
	valid := LocalHAProxy{UserListen: "127.0.0.1:18080", Gateways: []string{"127.0.0.1:8080", "127.0.0.1:8090"}}
	t.Run("valid", func(t *testing.T) {
		cfg, err := RenderLocalHAProxy(valid)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"bind 127.0.0.1:18080", "server gw1 127.0.0.1:8080 check", "server gw2 127.0.0.1:8090 check",
			"balance hash var(txn.sub)", "jwt_payload_query('$.sub')", "hash-type consistent", "option httpchk GET /health",
			"inter 500ms", "local0 notice",
		} {
			if !strings.Contains(cfg, want) {
				t.Errorf("rendered config lacks %q:\n%s", want, cfg)
			}
		}
		for _, absent := range []string{"fe_admin", "fe_stats", "<no value>"} {
			if strings.Contains(cfg, absent) {
				t.Errorf("rendered config has %q without asking for it", absent)
			}
		}
	})
	t.Run("admin, stats, interval and log level", func(t *testing.T) {
		l := valid
		l.AdminListen, l.AdminGateways = "127.0.0.1:18081", []string{"127.0.0.1:8081"}
		l.StatsListen, l.CheckInterval, l.LogLevel = "127.0.0.1:18404", 2*time.Second, "info"
		cfg, err := RenderLocalHAProxy(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"bind 127.0.0.1:18081", "server gw1 127.0.0.1:8081", "bind 127.0.0.1:18404", "inter 2000ms", "local0 info"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("rendered config lacks %q", want)
			}
		}
	})
	bad := []struct {
		name   string
		change func(*LocalHAProxy)
	}{
		{"no listen address", func(l *LocalHAProxy) { l.UserListen = "" }},
		{"listen without port", func(l *LocalHAProxy) { l.UserListen = "127.0.0.1" }},
		{"port zero", func(l *LocalHAProxy) { l.UserListen = "127.0.0.1:0" }},
		{"port too large", func(l *LocalHAProxy) { l.UserListen = "127.0.0.1:65536" }},
		{"no gateways", func(l *LocalHAProxy) { l.Gateways = nil }},
		{"gateway breaking out of its line", func(l *LocalHAProxy) { l.Gateways = []string{"127.0.0.1:8080\n  server evil 1.2.3.4:80"} }},
		{"gateway with comment", func(l *LocalHAProxy) { l.Gateways = []string{"127.0.0.1:8080#x"} }},
		{"admin listen without admin gateways", func(l *LocalHAProxy) { l.AdminListen = "127.0.0.1:18081" }},
		{"admin gateways without admin listen", func(l *LocalHAProxy) { l.AdminGateways = []string{"127.0.0.1:8081"} }},
		{"bad stats address", func(l *LocalHAProxy) { l.StatsListen = "stats" }},
		{"negative interval", func(l *LocalHAProxy) { l.CheckInterval = -time.Second }},
		{"sub-millisecond interval", func(l *LocalHAProxy) { l.CheckInterval = time.Microsecond }},
		{"unknown log level", func(l *LocalHAProxy) { l.LogLevel = "loud" }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			l := valid
			l.Gateways = slices.Clone(valid.Gateways)
			tc.change(&l)
			if cfg, err := RenderLocalHAProxy(l); !errors.Is(err, ErrInvalidHAProxy) {
				t.Fatalf("err = %v, want ErrInvalidHAProxy; config:\n%s", err, cfg)
			}
		})
	}
}

func TestUnknownMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum(rate(internal_transfer_failed[5m])) / sum(rate(internal_transfer_total_requests[5m]))`, nil},
		{`histogram_quantile(0.99, sum by (le) (rate(internal_transfer_latency_ms_bucket[5m])))`, nil},
		{`rate(internal_transfer_ledger_batch_size_sum[5m]) / rate(internal_transfer_ledger_batch_size_count[5m])`, nil},
		// The guide's dashboard took quantiles of the bare histogram name, which has no series.
		{`histogram_quantile(0.5, internal_transfer_latency_ms)`, []string{"internal_transfer_latency_ms"}},
		{`internal_transfer_avg_latency_ms_bucket`, []string{"internal_transfer_avg_latency_ms_bucket"}},
		{`internal_transfer_typo + internal_transfer_typo + internal_transfer_abc`, []string{"internal_transfer_abc", "internal_transfer_typo"}},
		{`up{job="internal-transfer-gateway"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			if got := UnknownMetrics(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("UnknownMetrics = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestShippedDashboard(t *testing.T) {
	queries, err := DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	onDisk := readFile(t, filepath.Join("grafana", "internal_transfer.json"))
	if string(onDisk) != string(DashboardJSON) {
		t.Fatal("embedded dashboard differs from the file")
	}
	panels := map[string]bool{}
	shown := map[string]bool{}
	for _, q := range queries {
		panels[q.Panel] = true
		if unknown := UnknownMetrics(q.Expr); len(unknown) > 0 {
			t.Errorf("%s names metrics no service exports: %v", q, unknown)
		}
		if strings.Contains(q.Expr, "histogram_quantile") && !strings.Contains(q.Expr, "_bucket[") {
			t.Errorf("%s: histogram_quantile needs the rate of _bucket series", q)
		}
		for _, name := range MetricNames(q.Expr) {
			shown[trimHistogramSuffix(name)] = true
		}
	}
	for _, want := range []string{"Transfer Rate", "Success Rate", "Latency P50/P99", "Pending Transfers",
		"Stuck Transfers", "Ledger Batch Size", "Settlement Lag", "Error Rates"} {
		if !panels[want] {
			t.Errorf("panel %q missing", want)
		}
	}
	for _, m := range Metrics {
		if !shown[m.Name] {
			t.Errorf("metric %s is on no panel", m.Name)
		}
	}
}

// TestDashboardPromQL has promtool parse every panel query, as recording
// rules: a query Prometheus cannot parse shows "no data" in Grafana.
func TestDashboardPromQL(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	queries, err := DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range queries {
		expr, _ := json.Marshal(q.Expr) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, expr)
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, ".", promtool, "check", "rules", path)
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(queries))) {
		t.Fatalf("promtool check rules on the dashboard queries: %v\n%s", err, out)
	}
}

func TestParseDashboardRejects(t *testing.T) {
	const ds = `{"type":"prometheus","uid":"x"}`
	const grid = `{"h":8,"w":12,"x":0,"y":0}`
	panel := func(fields string) string {
		return `{"schemaVersion":38,"title":"t","uid":"u","panels":[` + fields + `]}`
	}
	tests := []struct{ name, json string }{
		{"not JSON", `{"panels":`},
		{"no schemaVersion", `{"title":"t","uid":"u","panels":[]}`},
		{"no panels", panel(``)},
		{"panel without id", panel(`{"title":"a","type":"timeseries","datasource":` + ds + `,"gridPos":` + grid + `,"targets":[{"refId":"A","expr":"up"}]}`)},
		{"panel without datasource", panel(`{"id":1,"title":"a","type":"timeseries","gridPos":` + grid + `,"targets":[{"refId":"A","expr":"up"}]}`)},
		{"panel without gridPos", panel(`{"id":1,"title":"a","type":"timeseries","datasource":` + ds + `,"targets":[{"refId":"A","expr":"up"}]}`)},
		{"panel wider than the grid", panel(`{"id":1,"title":"a","type":"timeseries","datasource":` + ds + `,"gridPos":{"h":8,"w":12,"x":13,"y":0},"targets":[{"refId":"A","expr":"up"}]}`)},
		{"panel without targets", panel(`{"id":1,"title":"a","type":"timeseries","datasource":` + ds + `,"gridPos":` + grid + `,"targets":[]}`)},
		{"target without expr (the guide's string targets)", panel(`{"id":1,"title":"a","type":"timeseries","datasource":` + ds + `,"gridPos":` + grid + `,"targets":[{"refId":"A"}]}`)},
		{"duplicate refId", panel(`{"id":1,"title":"a","type":"timeseries","datasource":` + ds + `,"gridPos":` + grid + `,"targets":[{"refId":"A","expr":"up"},{"refId":"A","expr":"up"}]}`)},
		{"duplicate panel id", panel(`{"id":1,"title":"a","type":"stat","datasource":` + ds + `,"gridPos":` + grid + `,"targets":[{"refId":"A","expr":"up"}]},{"id":1,"title":"b","type":"stat","datasource":` + ds + `,"gridPos":` + grid + `,"targets":[{"refId":"A","expr":"up"}]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseDashboard([]byte(tc.json)); !errors.Is(err, ErrInvalidDashboard) {
				t.Fatalf("err = %v, want ErrInvalidDashboard", err)
			}
		})
	}
	t.Run("the guide's dashboard", func(t *testing.T) {
		guide := `{"panels":[{"title":"Transfer Rate","targets":["rate(internal_transfer_total_requests[1m])"]}]}`
		if _, err := ParseDashboard([]byte(guide)); !errors.Is(err, ErrInvalidDashboard) {
			t.Fatalf("err = %v, want ErrInvalidDashboard", err)
		}
	})
}

func TestRenderLocalPrometheus(t *testing.T) {
	t.Run("valid, checked by promtool", func(t *testing.T) {
		cfg, err := RenderLocalPrometheus(LocalPrometheus{
			GatewayTargets:    []string{"127.0.0.1:9090", "127.0.0.1:9190"},
			SettlementTargets: []string{"127.0.0.1:9290"},
			ScrapeInterval:    2 * time.Second,
			RulesFile:         filepath.Join("prometheus", "alerts", "internal_transfer.yml"),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"job_name: " + JobGateway, "job_name: " + JobSettlement,
			`"127.0.0.1:9190"`, "scrape_interval: 2s", "internal_transfer.yml"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("rendered config lacks %q:\n%s", want, cfg)
			}
		}
		promtool := needTool(t, "promtool", "prometheus")
		path := filepath.Join(t.TempDir(), "prometheus.yml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runTool(t, ".", promtool, "check", "config", path); err != nil {
			t.Fatalf("promtool check config: %v\n%s\n%s", err, out, cfg)
		}
	})
	bad := map[string]LocalPrometheus{
		"no targets":           {},
		"target without port":  {GatewayTargets: []string{"127.0.0.1"}},
		"target with a quote":  {GatewayTargets: []string{`127.0.0.1:9090"`}},
		"sub-second interval":  {GatewayTargets: []string{"127.0.0.1:9090"}, ScrapeInterval: 500 * time.Millisecond},
		"fractional interval":  {GatewayTargets: []string{"127.0.0.1:9090"}, ScrapeInterval: 1500 * time.Millisecond},
		"rules path with line": {GatewayTargets: []string{"127.0.0.1:9090"}, RulesFile: "a\nb"},
	}
	for name, l := range bad {
		t.Run(name, func(t *testing.T) {
			if cfg, err := RenderLocalPrometheus(l); !errors.Is(err, ErrInvalidPrometheus) {
				t.Fatalf("err = %v, want ErrInvalidPrometheus; config:\n%s", err, cfg)
			}
		})
	}
}
