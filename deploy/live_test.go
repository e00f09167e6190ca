package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Tests that run the real HAProxy and Prometheus on loopback, in front of
// and scraping small stand-in HTTP servers, to prove the helpers a system
// test will use against the real service.

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs tool with args until the test ends; its output is
// logged when the test fails.
func startProcess(t *testing.T, tool string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(tool, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", tool, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(tool), out.String())
		}
	})
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var liveClient = &http.Client{Timeout: 2 * time.Second}

// gatewayStandIn answers /health (200, or 503 once sick) and names itself
// on every other path.
type gatewayStandIn struct {
	name string
	sick atomic.Bool
	srv  *httptest.Server
}

func newGatewayStandIn(t *testing.T, name string) *gatewayStandIn {
	g := &gatewayStandIn{name: name}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && g.sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, g.name)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gatewayStandIn) addr() string { return strings.TrimPrefix(g.srv.URL, "http://") }

// TestLocalHAProxyRouting starts HAProxy from RenderLocalHAProxy in front of
// three stand-in gateways and checks what production relies on: one user's
// requests always reach one node; when a node fails its health check only
// its users move; when it recovers they come back.
func TestLocalHAProxyRouting(t *testing.T) {
	haproxy := needTool(t, "haproxy", "haproxy")
	gws := []*gatewayStandIn{newGatewayStandIn(t, "gw1"), newGatewayStandIn(t, "gw2"), newGatewayStandIn(t, "gw3")}
	listen, stats := freeAddr(t), freeAddr(t)
	cfg, err := RenderLocalHAProxy(LocalHAProxy{
		UserListen:    listen,
		Gateways:      []string{gws[0].addr(), gws[1].addr(), gws[2].addr()},
		StatsListen:   stats,
		CheckInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, haproxy, "-db", "-f", path)

	owner := func(token string) string {
		req, _ := http.NewRequest(http.MethodGet, "http://"+listen+"/api/v1/user/balances", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := liveClient.Do(req)
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	// JWT-shaped tokens (HAProxy reads the subject, it does not verify):
	// session s of user i.
	jwt := func(i, s int) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
			enc([]byte(fmt.Sprintf(`{"sub":"%d","iat":%d}`, 1000+i, 1_700_000_000+s))) + "." + enc([]byte(fmt.Sprintf("sig-%d-%d", i, s)))
	}
	token := func(i int) string { return jwt(i, 0) }
	waitFor(t, 10*time.Second, "HAProxy to route", func() bool { return strings.HasPrefix(owner(token(0)), "gw") })

	const users = 30
	before := map[int]string{}
	perNode := map[string]int{}
	for i := 0; i < users; i++ {
		before[i] = owner(token(i))
		for s := range 4 { // the same token again, and other sessions (refreshed tokens) of the user
			if got := owner(jwt(i, s)); got != before[i] {
				t.Fatalf("user %d went to %s, then to %s with session %d's token", i, before[i], got, s)
			}
		}
		perNode[before[i]]++
	}
	for _, g := range gws {
		if perNode[g.name] == 0 {
			t.Fatalf("no user hashed to %s: %v", g.name, perNode)
		}
	}

	gws[1].sick.Store(true)
	waitFor(t, 5*time.Second, "gw2 to leave rotation", func() bool {
		for i := 0; i < users; i++ {
			if owner(token(i)) == "gw2" {
				return false
			}
		}
		return true
	})
	states, err := HAProxyServerStates(context.Background(), liveClient, "http://"+stats+"/stats")
	if err != nil || states["be_gateway/gw2"] != "DOWN" || states["be_gateway/gw1"] != "UP" {
		t.Errorf("HAProxy stats with gw2 sick: %v, %v; want gw2 DOWN, gw1 UP", states, err)
	}
	for i := 0; i < users; i++ {
		if got := owner(token(i)); before[i] != "gw2" && got != before[i] {
			t.Errorf("user %d moved from healthy %s to %s when gw2 failed (hashing is not consistent)", i, before[i], got)
		}
	}

	gws[1].sick.Store(false)
	waitFor(t, 5*time.Second, "gw2's users to return", func() bool {
		for i := 0; i < users; i++ {
			if owner(token(i)) != before[i] {
				return false
			}
		}
		return true
	})
}

// exporter serves every catalogued metric the way the services do
// (VictoriaMetrics/metrics), with values moving like a service under load.
func exporter(t *testing.T) string {
	set := metrics.NewSet()
	var counters []*metrics.Counter
	var histograms []*metrics.PrometheusHistogram
	for _, m := range Metrics {
		switch m.Kind {
		case KindCounter:
			name := m.Name
			if name == "internal_transfer_rejected_total" {
				name += `{code="INSUFFICIENT_BALANCE"}`
			}
			counters = append(counters, set.NewCounter(name))
		case KindGauge:
			set.NewGauge(m.Name, func() float64 { return 3 })
		case KindHistogram:
			histograms = append(histograms, set.NewPrometheusHistogram(m.Name))
		default:
			panic("BUG: unknown metric kind " + m.Kind)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, c := range counters {
				c.Inc()
			}
			for _, h := range histograms {
				h.Update(float64(n%50 + 1))
			}
		}
	}()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set.WritePrometheus(w)
	}))
	t.Cleanup(func() { cancel(); wg.Wait(); srv.Close() })
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestDashboardAgainstPrometheus runs Prometheus scraping an exporter of
// every catalogued metric and evaluates every dashboard query with
// EvaluateQueries: each must return data. The system test does the same
// against the running services.
func TestDashboardAgainstPrometheus(t *testing.T) {
	prometheus := needTool(t, "prometheus", "prometheus")
	target := exporter(t)
	dir := t.TempDir()
	configPath, err := WriteLocalPrometheus(dir, LocalPrometheus{
		GatewayTargets:    []string{target},
		SettlementTargets: []string{target},
	})
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	startProcess(t, prometheus, "--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen, "--log.level=warn")
	promURL := "http://" + listen
	waitFor(t, 20*time.Second, "Prometheus to be ready", func() bool {
		resp, err := liveClient.Get(promURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	t.Run("alert rules loaded", func(t *testing.T) {
		rules, err := PrometheusRules(context.Background(), liveClient, promURL)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, r := range rules {
			names[r.Name] = true
			if r.Type == "recording" && r.Group == "internal_transfer_recording" {
				if r.Health == "err" {
					t.Errorf("recording rule %s fails to evaluate: %s", r.Name, r.LastError)
				}
				continue
			}
			if r.Type != "alerting" || r.Group != "internal_transfer" {
				t.Errorf("rule %+v, want an alerting rule of group internal_transfer", r)
			}
			if r.Health == "err" {
				t.Errorf("alert rule %s fails to evaluate: %s", r.Name, r.LastError)
			}
		}
		for _, alert := range []string{"HighFailureRate", "StuckTransfers", "HighLatency", "TigerBeetleDown", "DatabaseDown", "SettlementLag"} {
			if !names[alert] {
				t.Errorf("Prometheus did not load alert %s: %v", alert, names)
			}
		}
		if _, err := PrometheusRules(context.Background(), liveClient, "http://"+freeAddr(t)); err == nil {
			t.Error("rules of an unreachable Prometheus: no error")
		}
	})

	// Rates need two scrapes in their window: poll until every panel has data.
	var missing []QueryResult
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing, err = CheckDashboard(context.Background(), liveClient, promURL)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, r := range missing {
		t.Errorf("no data: %s (series %d, err %v)", r.Query, r.Series, r.Err)
	}

	t.Run("reports what has no data", func(t *testing.T) {
		probe := []DashboardQuery{
			{Panel: "p", RefID: "A", Expr: "internal_transfer_no_such_metric"},
			{Panel: "p", RefID: "B", Expr: "sum("},
			{Panel: "p", RefID: "C", Expr: `histogram_quantile(0.5, sum by (le) (rate(internal_transfer_no_such_bucket[1m])))`},
			{Panel: "p", RefID: "D", Expr: "sum(internal_transfer_pending_count)"},
		}
		got := EvaluateQueries(context.Background(), liveClient, promURL, time.Now(), probe)
		if !got[0].NoData() || got[0].Err != nil {
			t.Errorf("missing metric: %+v, want no data without error", got[0])
		}
		if got[1].Err == nil {
			t.Errorf("bad PromQL: %+v, want an error", got[1])
		}
		if !got[2].NoData() {
			t.Errorf("quantile of nothing: %+v, want no data", got[2])
		}
		if got[3].NoData() || got[3].Values != 1 {
			t.Errorf("existing gauge: %+v, want one value", got[3])
		}
		down := EvaluateQueries(context.Background(), liveClient, "http://"+freeAddr(t), time.Time{}, probe[3:])
		if down[0].Err == nil {
			t.Errorf("unreachable Prometheus: %+v, want an error", down[0])
		}
	})
}
