package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/cmd/internal/node"
)

// One service serves the tests that do not restart it; TestMain owns it.
var shared *svc

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "node-test-")
	if err != nil {
		panic(err)
	}
	n, cfg, err := startNode(testConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the shared service:", err)
		os.Exit(1)
	}
	shared = newSvc(nil, cfg, n)
	code := m.Run()
	if err := n.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func service(t *testing.T) *svc {
	s := *shared
	s.t = t
	return &s
}

func TestHappyPathSettlesAndMovesFunds(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "100")
	e, tr := s.post(user, transferBody("funding", "spot", "USDT", "10.00000000", 0, ""))
	if e.Status != 200 || tr.Status != "pending" && tr.Status != "success" {
		t.Fatalf("POST: %d %s %+v", e.Status, e.code(), tr)
	}
	if tr.FromAccount.UserID != user || tr.ToAccount.UserID != user || tr.Amount != "10.00000000" {
		t.Fatalf("transfer echoed wrongly: %+v", tr)
	}
	start := time.Now()
	final := s.waitStatus(user, tr.RequestID, settleWait)
	if final.Status != "success" {
		t.Fatalf("status after %v: %q, want success", time.Since(start), final.Status)
	}
	t.Logf("settled in %v", time.Since(start))
	s.wantBalance(user, "funding", "USDT", "90.00000000", "0.00000000")
	s.wantBalance(user, "spot", "USDT", "10.00000000", "0.00000000")
}

func TestInsufficientBalanceChangesNothing(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "5")
	e, _ := s.post(user, transferBody("funding", "spot", "USDT", "6", 0, ""))
	if e.Status != 422 || e.code() != "INSUFFICIENT_BALANCE" {
		t.Fatalf("got %d %s, want 422 INSUFFICIENT_BALANCE", e.Status, e.code())
	}
	if id, _ := e.Error.Details["request_id"].(string); id == "" {
		t.Fatalf("failed request has no request_id in details: %v", e.Error.Details)
	} else if _, tr := s.get(user, id); tr.Status != "failed" || tr.ErrorCode != "INSUFFICIENT_BALANCE" {
		t.Fatalf("stored request %+v, want failed INSUFFICIENT_BALANCE", tr)
	}
	s.wantBalance(user, "funding", "USDT", "5.00000000", "0.00000000")
	s.wantBalance(user, "spot", "USDT", "0.00000000", "0.00000000")
}

func TestBadInputGetsClear4xxAndChangesNothing(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "100")
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"too many decimals", transferBody("funding", "spot", "USDT", "1.000000001", 0, ""), 400, "INVALID_PRECISION"},
		{"zero", transferBody("funding", "spot", "USDT", "0", 0, ""), 400, "INVALID_AMOUNT"},
		{"negative", transferBody("funding", "spot", "USDT", "-1", 0, ""), 400, "INVALID_AMOUNT"},
		{"exponent", transferBody("funding", "spot", "USDT", "1e3", 0, ""), 400, "INVALID_AMOUNT"},
		{"below min", transferBody("funding", "spot", "USDT", "0.001", 0, ""), 400, "AMOUNT_TOO_SMALL"},
		{"above max", transferBody("funding", "spot", "USDT", "10000001", 0, ""), 400, "AMOUNT_TOO_LARGE"},
		{"unknown asset", transferBody("funding", "spot", "DOGE", "1", 0, ""), 400, "INVALID_ASSET"},
		{"same account", transferBody("funding", "funding", "USDT", "1", 0, ""), 400, "SAME_ACCOUNT"},
		{"route not allowed cross-user", transferBody("funding", "spot", "USDT", "1", user+1, ""), 403, "PERMISSION_DENIED"},
		{"asset mismatch", map[string]any{"from_account": map[string]any{"account_type": "funding", "asset": "USDT"},
			"to_account": map[string]any{"account_type": "spot", "asset": "BTC"}, "amount": "1"}, 400, "ASSET_MISMATCH"},
		{"unknown field", `{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"spot","asset":"USDT"},"amount":"1","debit_user":7}`, 400, ""},
		{"trailing data", `{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"spot","asset":"USDT"},"amount":"1"}{}`, 400, ""},
		{"number amount", `{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"spot","asset":"USDT"},"amount":1}`, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := s.post(user, c.body)
			if e.Status != c.status || c.code != "" && e.code() != c.code || e.Success {
				t.Fatalf("got %d %s, want %d %s", e.Status, e.code(), c.status, c.code)
			}
		})
	}
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = ' '
	}
	if e := s.call("POST", s.api("/api/v1/user/internal_transfer"), s.token(user), string(big)+"{}"); e.Status != 413 {
		t.Fatalf("oversized body: %d, want 413", e.Status)
	}
	s.wantBalance(user, "funding", "USDT", "100.00000000", "0.00000000")
	s.wantBalance(user, "spot", "USDT", "0.00000000", "0.00000000")
}

func TestAuthFailures(t *testing.T) {
	s := service(t)
	body := transferBody("funding", "spot", "USDT", "1", 0, "")
	for name, bearer := range map[string]string{
		"missing":   "",
		"malformed": "not-a-jwt",
		"forged":    s.token(1)[:len(s.token(1))-4] + "AAAA",
		"alg none":  "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIn0.",
	} {
		t.Run(name, func(t *testing.T) {
			if e := s.call("POST", s.api("/api/v1/user/internal_transfer"), bearer, body); e.Status != 401 || e.code() != "UNAUTHORIZED" {
				t.Fatalf("got %d %s, want 401 UNAUTHORIZED", e.Status, e.code())
			}
		})
	}
	if e := s.call("POST", s.admin("/admin/v1/deposit"), s.token(1), map[string]any{"user_id": 1, "account_type": "funding", "asset": "USDT", "amount": "1"}); e.Status != 401 {
		t.Fatalf("admin API with a user token: %d, want 401", e.Status)
	}
}

func TestOthersCannotSeeARequest(t *testing.T) {
	s := service(t)
	owner, other := newUser(), newUser()
	s.deposit(owner, "funding", "USDT", "10")
	_, tr := s.post(owner, transferBody("funding", "spot", "USDT", "1", 0, ""))
	if e, _ := s.get(other, tr.RequestID); e.Status != 404 || e.code() != "NOT_FOUND" {
		t.Fatalf("other user: %d %s, want 404 NOT_FOUND", e.Status, e.code())
	}
	if e, _ := s.get(owner, "999999999999"); e.Status != 404 {
		t.Fatalf("unknown id: %d, want 404", e.Status)
	}
	if e, got := s.get(owner, tr.RequestID); e.Status != 200 || got.RequestID != tr.RequestID {
		t.Fatalf("owner: %d %+v", e.Status, got)
	}
}

func TestCrossUserTransferVisibleToBothSides(t *testing.T) {
	s := service(t)
	from, to := newUser(), newUser()
	s.deposit(from, "funding", "USDT", "10")
	s.deposit(to, "funding", "USDT", "1") // creates the destination's accounts
	e, tr := s.post(from, transferBody("funding", "funding", "USDT", "4", to, ""))
	if e.Status != 200 {
		t.Fatalf("cross-user POST: %d %s", e.Status, e.code())
	}
	if final := s.waitStatus(from, tr.RequestID, settleWait); final.Status != "success" {
		t.Fatalf("cross-user transfer ended %q", final.Status)
	}
	if e, _ := s.get(to, tr.RequestID); e.Status != 200 {
		t.Fatalf("receiver cannot see the transfer: %d", e.Status)
	}
	s.wantBalance(from, "funding", "USDT", "6.00000000", "0.00000000")
	s.wantBalance(to, "funding", "USDT", "5.00000000", "0.00000000")
	// A destination that never existed is refused, and the hold released.
	e, _ = s.post(from, transferBody("funding", "funding", "USDT", "1", newUser()+1_000_000, ""))
	if e.Status/100 != 4 {
		t.Fatalf("transfer to an unknown user: %d %s, want a 4xx", e.Status, e.code())
	}
	s.wantBalance(from, "funding", "USDT", "6.00000000", "0.00000000")
}

func TestIdempotentReplayAndConflict(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "100")
	body := transferBody("funding", "spot", "USDT", "7", 0, "order-42")
	e1, first := s.post(user, body)
	e2, again := s.post(user, body)
	if e1.Status != 200 || e2.Status != 200 || first.RequestID != again.RequestID {
		t.Fatalf("replay: %d %d, ids %s %s", e1.Status, e2.Status, first.RequestID, again.RequestID)
	}
	// The same key in the header is the same key.
	e3 := s.call("POST", s.api("/api/v1/user/internal_transfer"), s.token(user), transferBody("funding", "spot", "USDT", "7", 0, ""), "Idempotency-Key", "order-42")
	if e3.Status != 200 {
		t.Fatalf("header replay: %d %s", e3.Status, e3.code())
	}
	e4, _ := s.post(user, transferBody("funding", "spot", "USDT", "8", 0, "order-42"))
	if e4.Status != 409 || e4.code() != "IDEMPOTENCY_CONFLICT" {
		t.Fatalf("conflict: %d %s, want 409 IDEMPOTENCY_CONFLICT", e4.Status, e4.code())
	}
	// The key's request is not this one: its id and status are not shown
	// as if they were the refused request's.
	if id, ok := e4.Error.Details["request_id"]; ok {
		t.Fatalf("conflict details name request %v (the key's first request) as this request's", id)
	}
	if final := s.waitStatus(user, first.RequestID, settleWait); final.Status != "success" {
		t.Fatalf("first transfer ended %q, want success", final.Status)
	}
	s.wantBalance(user, "funding", "USDT", "93.00000000", "0.00000000")
	s.wantBalance(user, "spot", "USDT", "7.00000000", "0.00000000")
}

func TestConcurrentFullBalanceTransfersOnlyOneWins(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "50")
	const n = 100
	var wg sync.WaitGroup
	type answer struct {
		status int
		id     string
	}
	answers := make(chan answer, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, tr := s.post(user, transferBody("funding", "spot", "USDT", "50", 0, ""))
			answers <- answer{e.Status, tr.RequestID}
		}()
	}
	wg.Wait()
	close(answers)
	won, winner := 0, ""
	for a := range answers {
		switch a.status {
		case 200:
			won++
			winner = a.id
		case 422, 503:
		default:
			t.Errorf("unexpected status %d", a.status)
		}
	}
	if won != 1 {
		t.Fatalf("%d transfers of the full balance succeeded, want exactly 1", won)
	}
	if tr := s.waitStatus(user, winner, 20*time.Second); tr.Status != "success" {
		t.Fatalf("the winning transfer %s is %q after 20 s, want success", winner, tr.Status)
	}
	s.wantBalance(user, "funding", "USDT", "0.00000000", "0.00000000")
	s.wantBalance(user, "spot", "USDT", "50.00000000", "0.00000000")
}

func TestFrozenDestinationIsRefused(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "10")
	freeze := map[string]any{"user_id": user, "account_type": "spot", "asset": "USDT"}
	if e := s.call("POST", s.admin("/admin/v1/freeze"), s.cfg.Auth.AdminToken, freeze); e.Status != 200 {
		t.Fatalf("freeze: %d %s", e.Status, e.code())
	}
	e, _ := s.post(user, transferBody("funding", "spot", "USDT", "3", 0, ""))
	if e.Status/100 != 4 || e.code() != "ACCOUNT_FROZEN" {
		t.Fatalf("transfer to a frozen account: %d %s, want ACCOUNT_FROZEN", e.Status, e.code())
	}
	s.wantBalance(user, "funding", "USDT", "10.00000000", "0.00000000")
	if e := s.call("POST", s.admin("/admin/v1/unfreeze"), s.cfg.Auth.AdminToken, freeze); e.Status != 200 {
		t.Fatalf("unfreeze: %d %s", e.Status, e.code())
	}
	e, tr := s.post(user, transferBody("funding", "spot", "USDT", "3", 0, ""))
	if e.Status != 200 || s.waitStatus(user, tr.RequestID, settleWait).Status != "success" {
		t.Fatalf("after unfreeze: %d %s", e.Status, e.code())
	}
}

func TestRateLimit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.RateLimiting.MaxRequestsPerMinute = 3
	s := start(t, cfg)
	user := newUser()
	var limited *envelope
	for i := 0; i < 6; i++ {
		e, _ := s.post(user, transferBody("funding", "spot", "USDT", "1", 0, ""))
		if e.Status == 429 {
			limited = &e
			break
		}
	}
	if limited == nil || limited.code() != "RATE_LIMITED" || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("no 429 RATE_LIMITED with Retry-After after 6 requests at 3/min: %+v", limited)
	}
}

func TestOverloadAnswers503Fast(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Actors.InFlightMax = 2
	s := start(t, cfg)
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	var overloaded int
	var slowest time.Duration
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := newUserSafe()
			start := time.Now()
			e, _ := s.post(user, transferBody("funding", "spot", "USDT", "1", 0, ""))
			took := time.Since(start)
			if e.Status == 503 {
				mu.Lock()
				overloaded++
				if took > slowest {
					slowest = took
				}
				mu.Unlock()
				if e.code() != "OVERLOADED" || e.Header.Get("Retry-After") == "" {
					t.Errorf("503 without OVERLOADED and Retry-After: %s %v", e.code(), e.Header)
				}
			}
		}()
	}
	wg.Wait()
	if overloaded == 0 {
		t.Fatalf("no request was refused with 503 at %d concurrent requests and in_flight_max 2", n)
	}
	// A refusal must not wait for a slot (the request budget is 5 s); 2.5 s
	// is half of it and leaves room for 200 connections dialled at once on
	// a slow, busy CI box.
	if slowest > 2500*time.Millisecond {
		t.Fatalf("a 503 took %v; refusals must be fast", slowest)
	}
}

var userMu sync.Mutex

func newUserSafe() uint64 {
	userMu.Lock()
	defer userMu.Unlock()
	return newUser()
}

func TestHealthReadyMetrics(t *testing.T) {
	s := service(t)
	s.deposit(newUser(), "funding", "USDT", "1") // a durable write: at least one WAL fsync
	for _, path := range []string{"/health", "/ready"} {
		resp, err := http.Get(s.api(path))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		if path == "/health" {
			var h map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
				t.Fatal(err)
			}
			// The guide's gateway and settlement checks both hold: settlement
			// runs in this process.
			if h["status"] != "healthy" || h["version"] == "" || h["scanner"] != "running" || h["consumer"] != "running" {
				t.Fatalf("/health = %v", h)
			}
		}
		resp.Body.Close()
	}
	scrape := func() []byte {
		resp, err := http.Get("http://" + s.node.MetricsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return body
	}
	// The pending and stuck gauges appear with the scanner's first pass.
	body := scrape()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(string(body), "internal_transfer_pending_count") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		body = scrape()
	}
	for _, name := range []string{"internal_transfer_total_requests", "internal_transfer_failed", "internal_transfer_success_rate",
		"internal_transfer_latency_ms_bucket", "internal_transfer_avg_latency_ms", "internal_transfer_pending_count",
		"internal_transfer_stuck_count", "internal_transfer_tb_errors", "internal_transfer_db_errors"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// The embedded database's WAL fsyncs are timed.
	if n := node.MetricValue(string(body), "internal_transfer_embedded_wal_fsync_ms_count"); n < 1 {
		t.Errorf("internal_transfer_embedded_wal_fsync_ms_count = %v after a deposit, want at least 1", n)
	}
}

func TestOperatorTools(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "10")
	_, tr := s.post(user, transferBody("funding", "spot", "USDT", "2", 0, ""))
	if s.waitStatus(user, tr.RequestID, settleWait).Status != "success" {
		t.Fatal("transfer did not settle")
	}
	tok := s.cfg.Auth.AdminToken
	e := s.call("GET", s.admin("/admin/v1/reconcile/"+tr.RequestID), tok, nil)
	var rec struct {
		Agrees bool `json:"agrees"`
		Ledger struct {
			PendingFound bool `json:"pending_found"`
			Posted       bool `json:"posted"`
			Voided       bool `json:"voided"`
		} `json:"ledger"`
	}
	if e.Status != 200 || jsonUnmarshal(e.Data, &rec) != nil || !rec.Agrees || !rec.Ledger.PendingFound || !rec.Ledger.Posted || rec.Ledger.Voided {
		t.Fatalf("reconcile of a settled request: %d %s %s", e.Status, e.code(), e.Data)
	}
	if e := s.call("GET", s.admin("/admin/v1/transfers/"+tr.RequestID), tok, nil); e.Status != 200 {
		t.Fatalf("admin view: %d %s", e.Status, e.code())
	}
	if e := s.call("POST", s.admin("/admin/v1/transfers/"+tr.RequestID+"/void"), tok, map[string]any{"operator": "ops", "reason": "test"}); e.Status != 400 {
		t.Fatalf("void of a settled request: %d %s, want 400", e.Status, e.code())
	}
	if e := s.call("POST", s.admin("/admin/v1/transfers/"+tr.RequestID+"/void"), tok, map[string]any{"operator": "ops", "reason": "test", "force": true}); e.Status != 400 {
		t.Fatalf("forced void of a settled request: %d %s, want 400", e.Status, e.code())
	}
	if e := s.call("POST", s.admin("/admin/v1/transfers/"+tr.RequestID+"/void"), tok, map[string]any{"operator": "ops", "reason": "test", "force": "yes"}); e.Status != 400 || e.Error == nil || !strings.Contains(e.Error.Message, "force") {
		t.Fatalf("void with force not a boolean: %d %+v, want 400 naming force", e.Status, e.Error)
	}
	if e := s.call("POST", s.admin("/admin/v1/transfers/424242424242/post"), tok, map[string]any{"operator": "ops", "reason": "test", "force": true}); e.Status != 404 {
		t.Fatalf("forced post of an unknown request: %d, want 404", e.Status)
	}
	if e := s.call("POST", s.admin("/admin/v1/transfers/"+tr.RequestID+"/void"), tok, map[string]any{"operator": "ops"}); e.Status != 400 {
		t.Fatalf("void without a reason: %d, want 400", e.Status)
	}
	if e := s.call("GET", s.admin("/admin/v1/reconcile/424242424242"), tok, nil); e.Status != 404 {
		t.Fatalf("reconcile of an unknown request: %d, want 404", e.Status)
	}
	if e := s.call("GET", s.admin("/admin/v1/stuck"), tok, nil); e.Status != 200 {
		t.Fatalf("stuck report: %d %s", e.Status, e.code())
	}
	s.wantBalance(user, "funding", "USDT", "8.00000000", "0.00000000")
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Clients keep connections they opened and never used (Go's transport dials
// one per waiting request). Stop must not wait for them: fasthttp alone
// counts such a connection as idle only about five seconds after accepting it.
// The admin API and the metrics listen on their own hosts when set (an
// operations network, Prometheus's network), the user API on bind_address.
func TestListenersOnTheirOwnHosts(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Server.AdminBindAddress = "127.0.0.2"
	cfg.Monitoring.BindAddress = "127.0.0.3"
	s := start(t, cfg)
	host := func(addr string) string {
		h, _, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%q: %v", addr, err)
		}
		return h
	}
	if got := host(s.node.AdminAddr()); got != "127.0.0.2" {
		t.Errorf("admin API on %s, want 127.0.0.2", got)
	}
	if got := host(s.node.MetricsAddr()); got != "127.0.0.3" {
		t.Errorf("metrics on %s, want 127.0.0.3", got)
	}
	if got := host(s.node.APIAddr()); got != "127.0.0.1" {
		t.Errorf("user API on %s, want 127.0.0.1 (server.bind_address)", got)
	}
	// (Not dialled on 127.0.0.1 at the admin port: another process may
	// listen there, as the port was free only on 127.0.0.2.)
}

func TestStopDoesNotWaitForUnusedConnections(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Server.ShutdownGrace = 2000
	n, _, err := startNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for _, addr := range []string{n.APIAddr(), n.AdminAddr(), n.HealthAddr(), n.MetricsAddr()} {
		if addr == "" {
			continue
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	if len(conns) < 3 {
		t.Fatalf("dialled %d listeners, want the API, admin and metrics ones at least", len(conns))
	}
	time.Sleep(50 * time.Millisecond) // let the servers accept them
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop with connections that never sent a request: %v", err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("connection to %s still open after Stop", c.RemoteAddr())
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection to %s still open after Stop", c.RemoteAddr())
		}
	}
}

// With monitoring.slow_trace_ms set, a transfer POST slower than it leaves a
// Go execution trace in <data_dir>/traces.
func TestSlowTransferLeavesATrace(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Monitoring.SlowTraceMS = 1 // a durable transfer takes longer than 1 ms
	s := start(t, cfg)
	user := newUser()
	s.deposit(user, "funding", "USDT", "10")
	deadline := time.Now().Add(10 * time.Second)
	var traces []string
	for i := 0; len(traces) == 0 && time.Now().Before(deadline); i++ {
		if i < 20 {
			s.post(user, transferBody("funding", "spot", "USDT", "0.1", 0, ""))
		}
		time.Sleep(50 * time.Millisecond)
		traces, _ = filepath.Glob(filepath.Join(cfg.Server.DataDir, "traces", "slow-*.trace"))
	}
	if len(traces) == 0 {
		t.Fatal("no execution trace written after transfers slower than monitoring.slow_trace_ms")
	}
}
