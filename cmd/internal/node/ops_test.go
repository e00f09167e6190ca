package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/deploy"
	"github.com/exchange/internal-transfer/ingress/auth"
)

// Operations tests (issue 7): the operators' own tools — HAProxy and
// Prometheus — in front of and scraping the running embedded service, and
// every kind of real answer checked against docs/openapi.yaml. A tool that
// is missing skips its test with the apt package to install, except under
// CI=true, where it fails.

// needTool returns tool's path, or skips (fails under CI=true) when it is
// not installed.
func needTool(t *testing.T, tool, aptPackage string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err == nil {
		return path
	}
	msg := tool + " not found; install it with: apt-get install -y " + aptPackage
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing tool is a failure)")
	}
	t.Skip(msg)
	return ""
}

// loopbackAddr returns a loopback host:port that was free just now.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runTool starts tool in the background and stops it (SIGTERM, 5 s grace)
// when the test ends; its output is logged when the test failed.
func runTool(t *testing.T, tool string, args ...string) *deploy.Process {
	t.Helper()
	p, err := deploy.StartProcess(tool, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(5 * time.Second); err != nil {
			t.Errorf("stop %s: %v", filepath.Base(tool), err)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(tool), p.Output())
		}
	})
	return p
}

// eventually polls cond every 100 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, p *deploy.Process, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if p != nil && p.Exited() {
			t.Fatalf("the tool exited while waiting for %s:\n%s", what, p.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var opsClient = &http.Client{Timeout: 5 * time.Second}

// rawResponse is one real answer, byte for byte.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// rawCall sends one request and returns the answer unparsed; err only when
// there was no answer.
func rawCall(method, url, bearer string, body []byte, header ...string) (rawResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return rawResponse{}, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := opsClient.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return rawResponse{resp.StatusCode, resp.Header, raw}, err
}

// rawCallLengthOnly is rawCall that sends the request's headers, with
// body's length as its Content-Length, but not the body.
func rawCallLengthOnly(method, rawURL, bearer string, body []byte, header ...string) (rawResponse, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawResponse{}, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return rawResponse{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, u.RequestURI(), u.Host, len(body))
	if bearer != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return rawResponse{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return rawResponse{resp.StatusCode, resp.Header, raw}, err
}

// mustJSON encodes v for a request body.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpsHAProxyInFrontOfService puts the loopback HAProxy of
// deploy.RenderLocalHAProxy in front of the running service, next to a
// gateway entry on a dead port: the health check must take the dead entry
// out, and health, deposits, transfers, reads and refusals must pass through
// HAProxy unchanged for users hashed anywhere.
func TestOpsHAProxyInFrontOfService(t *testing.T) {
	haproxy := needTool(t, "haproxy", "haproxy")
	s := service(t)
	userListen, adminListen, stats, dead := loopbackAddr(t), loopbackAddr(t), loopbackAddr(t), loopbackAddr(t)
	cfg, err := deploy.RenderLocalHAProxy(deploy.LocalHAProxy{
		UserListen:    userListen,
		Gateways:      []string{s.node.APIAddr(), dead},
		AdminListen:   adminListen,
		AdminGateways: []string{s.node.AdminAddr()},
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
	p := runTool(t, haproxy, "-db", "-f", path)
	statsURL := "http://" + stats + "/stats"
	var states map[string]string
	eventually(t, 10*time.Second, "HAProxy to mark the live gateway UP and the dead one DOWN", p, func() bool {
		states, _ = deploy.HAProxyServerStates(context.Background(), opsClient, statsURL)
		return states["be_gateway/gw1"] == "UP" && states["be_gateway/gw2"] == "DOWN"
	})

	via := *s
	via.apiBase, via.adminBase = "http://"+userListen, "http://"+adminListen
	t.Run("health", func(t *testing.T) {
		r, err := rawCall("GET", via.api("/health"), "", nil)
		var h struct{ Status string }
		if err != nil || r.status != 200 || json.Unmarshal(r.body, &h) != nil || h.Status != "healthy" {
			t.Fatalf("GET /health through HAProxy: %v %d %s", err, r.status, r.body)
		}
	})
	t.Run("transfers", func(t *testing.T) {
		v := via
		v.t = t
		// Users hash over both entries; the dead one is out, so all are served.
		for i := 0; i < 12; i++ {
			user := newUser()
			v.deposit(user, "funding", "USDT", "10")
			e, tr := v.post(user, transferBody("funding", "spot", "USDT", "4", 0, "haproxy-"+itoa(user)))
			if e.Status != 200 || tr.RequestID == "" {
				t.Fatalf("user %d: POST through HAProxy: %d %s", user, e.Status, e.code())
			}
			if final := v.waitStatus(user, tr.RequestID, settleWait); final.Status != "success" || final.RequestID != tr.RequestID {
				t.Fatalf("user %d: GET through HAProxy: %+v, want %s success", user, final, tr.RequestID)
			}
			v.wantBalance(user, "funding", "USDT", "6.00000000", "0.00000000")
			if e, _ := v.post(user, transferBody("funding", "spot", "USDT", "7", 0, "")); e.Status != 422 || e.code() != "INSUFFICIENT_BALANCE" {
				t.Fatalf("user %d: overdraft through HAProxy: %d %s, want 422 INSUFFICIENT_BALANCE", user, e.Status, e.code())
			}
		}
		if e := v.call("GET", v.api("/api/v1/user/balances"), "", nil); e.Status != 401 {
			t.Fatalf("no token through HAProxy: %d, want 401", e.Status)
		}
	})
	states, err = deploy.HAProxyServerStates(context.Background(), opsClient, statsURL)
	if err != nil || states["be_gateway/gw2"] != "DOWN" {
		t.Fatalf("dead gateway after the traffic: %v %v, want DOWN", states, err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("HAProxy did not stop on SIGTERM within 5 s: %v", err)
	}
	if _, err := rawCall("GET", via.api("/health"), "", nil); err == nil {
		t.Fatal("HAProxy still answers after Stop")
	}
}

// background keeps transfers flowing on the service until the returned stop
// is called, so that every rate and quantile of the dashboard has samples in
// its window. It uses no *testing.T: a failed call is simply retried on the
// next tick.
func background(s *svc, users []uint64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			user := users[i%len(users)]
			from, to := "funding", "spot"
			if i/len(users)%2 == 1 {
				from, to = to, from
			}
			tok, _ := auth.SignHS256([]byte(s.cfg.Auth.JWTSecret), user, time.Hour)
			body, _ := json.Marshal(transferBody(from, to, "USDT", "0.01", 0, ""))
			_, _ = rawCall("POST", s.api("/api/v1/user/internal_transfer"), tok, body)
		}
	}()
	return func() { cancel(); <-done }
}

// TestOpsPrometheusScrapesService runs a real Prometheus scraping the
// running service's /metrics with the shipped alert rules, after and during
// real traffic (deposits, transfers, refusals): every alert rule must load
// and evaluate with health ok, and every panel query of the shipped Grafana
// dashboard must return data.
func TestOpsPrometheusScrapesService(t *testing.T) {
	prometheus := needTool(t, "prometheus", "prometheus")
	s := service(t)
	users := []uint64{newUser(), newUser(), newUser(), newUser()}
	for _, u := range users {
		s.deposit(u, "funding", "USDT", "100")
		s.deposit(u, "spot", "USDT", "100")
		if e, _ := s.post(u, transferBody("funding", "spot", "USDT", "1000", 0, "")); e.Status != 422 {
			t.Fatalf("overdraft: %d %s, want 422", e.Status, e.code())
		}
		if e, _ := s.post(u, transferBody("funding", "spot", "USDT", "1e3", 0, "")); e.Status != 400 {
			t.Fatalf("bad amount: %d %s, want 400", e.Status, e.code())
		}
	}
	stop := background(s, users)
	defer stop()

	dir := t.TempDir()
	configPath, err := deploy.WriteLocalPrometheus(dir, deploy.LocalPrometheus{
		GatewayTargets: []string{s.node.MetricsAddr()},
		ScrapeInterval: time.Second,
		RuleInterval:   time.Second, // production evaluates every 30 s
	})
	if err != nil {
		t.Fatal(err)
	}
	listen := loopbackAddr(t)
	p := runTool(t, prometheus, "--config.file="+configPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	promURL := "http://" + listen
	eventually(t, 20*time.Second, "Prometheus to be ready", p, func() bool {
		r, err := rawCall("GET", promURL+"/-/ready", "", nil)
		return err == nil && r.status == 200
	})
	// A comparison filters: each query has data only once it holds.
	scraped := []deploy.DashboardQuery{
		{Panel: "scrapes", RefID: "A", Expr: `count_over_time(up{job="` + deploy.JobGateway + `"}[1m]) >= 2`},
		{Panel: "scrapes", RefID: "B", Expr: `up{job="` + deploy.JobGateway + `"} == 1`},
	}
	eventually(t, 20*time.Second, "two successful scrapes of the service", p, func() bool {
		r := deploy.EvaluateQueries(context.Background(), opsClient, promURL, time.Time{}, scraped)
		return !r[0].NoData() && !r[1].NoData()
	})

	t.Run("alert rules loaded and healthy", func(t *testing.T) {
		var rules []deploy.Rule
		eventually(t, 15*time.Second, "every rule to be evaluated", p, func() bool {
			rules, err = deploy.PrometheusRules(context.Background(), opsClient, promURL)
			if err != nil || len(rules) == 0 {
				return false
			}
			for _, r := range rules {
				if r.Health == "unknown" || r.Health == "" {
					return false
				}
			}
			return true
		})
		names := map[string]bool{}
		for _, r := range rules {
			names[r.Name] = true
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
			}
		}
		for _, alert := range []string{"HighFailureRate", "StuckTransfers", "HighLatency", "TigerBeetleDown", "DatabaseDown",
			"KafkaDown", "SettlementLag", "SettlementScannerStalled", "InternalTransferTargetDown"} {
			if !names[alert] {
				t.Errorf("alert %s not loaded; have %v", alert, names)
			}
		}
	})

	t.Run("every dashboard panel has data", func(t *testing.T) {
		var missing []deploy.QueryResult
		deadline := time.Now().Add(60 * time.Second)
		for {
			missing, err = deploy.CheckDashboard(context.Background(), opsClient, promURL)
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
	})
}

// openAPISpec loads docs/openapi.yaml from the repository root.
func openAPISpec(t *testing.T) *deploy.OpenAPI {
	t.Helper()
	spec, err := deploy.LoadOpenAPIFile(filepath.Join("..", "..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// apiCall is one request whose real answer must have status want and match
// docs/openapi.yaml.
type apiCall struct {
	name    string
	method  string
	url     string // full URL: s.api(…) or s.admin(…)
	bearer  string
	body    []byte
	want    int
	header  []string // request header name, value pairs
	wantHdr string   // a response header that must be present
	// lengthOnly announces body's length but sends only the headers: for a
	// body the server must refuse by its Content-Length. Sending it all
	// races the server's close after its 413 (the client's write then
	// fails with a broken pipe).
	lengthOnly bool
}

// checkAgainstSpec sends each call and checks status and body against spec;
// it returns the answers' bodies by call name.
func checkAgainstSpec(t *testing.T, spec *deploy.OpenAPI, calls []apiCall) map[string][]byte {
	t.Helper()
	bodies := map[string][]byte{}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			call := rawCall
			if c.lengthOnly {
				call = rawCallLengthOnly
			}
			r, err := call(c.method, c.url, c.bearer, c.body, c.header...)
			if err != nil {
				t.Fatalf("%s %s: %v", c.method, c.url, err)
			}
			bodies[c.name] = r.body
			if r.status != c.want {
				t.Errorf("%s %s: status %d, want %d; body %s", c.method, c.url, r.status, c.want, r.body)
			}
			if c.wantHdr != "" && r.header.Get(c.wantHdr) == "" {
				t.Errorf("%s %s: %d without a %s header", c.method, c.url, r.status, c.wantHdr)
			}
			path := c.url[strings.Index(c.url[len("http://"):], "/")+len("http://"):]
			if err := spec.ValidateResponse(c.method, path, r.status, r.body); err != nil {
				t.Errorf("does not match docs/openapi.yaml: %v\nbody: %s", err, r.body)
			}
		})
	}
	return bodies
}

// requestIDOf returns data.request_id, or error.details.request_id.
func requestIDOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Data struct {
			RequestID string `json:"request_id"`
		} `json:"data"`
		Error struct {
			Details struct {
				RequestID string `json:"request_id"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	if id := e.Data.RequestID; id != "" {
		return id
	}
	if id := e.Error.Details.RequestID; id != "" {
		return id
	}
	t.Fatalf("no request_id in %s", body)
	return ""
}

// TestOpsOpenAPIMatchesRealResponses sends the user and admin APIs of the
// running service one request of every documented kind of answer and
// validates status and body against docs/openapi.yaml.
func TestOpsOpenAPIMatchesRealResponses(t *testing.T) {
	spec := openAPISpec(t)
	s := service(t)
	u := opsUsers{user: newUser(), other: newUser(), stranger: newUser()}
	setup := checkAgainstSpec(t, spec, u.writeCalls(t, s))
	id := requestIDOf(t, setup["transfer 200"])
	// Settle before freezing: a hold whose account is frozen before
	// settlement posts it is voided (ACCOUNT_FROZEN), as it should be.
	if final := s.waitStatus(u.user, id, settleWait); final.Status != "success" {
		t.Fatalf("transfer %s ended %q, want success", id, final.Status)
	}
	checkAgainstSpec(t, spec, u.freezeCalls(t, s))
	failedID := requestIDOf(t, setup["transfer insufficient 422"])
	checkAgainstSpec(t, spec, u.readCalls(s, id, failedID))
}

// opsUsers are the users of the OpenAPI test: user moves money, other is
// a second user with accounts, stranger has none.
type opsUsers struct{ user, other, stranger uint64 }

// writeCalls deposit, withdraw and transfer, with each refusal.
func (u opsUsers) writeCalls(t *testing.T, s *svc) []apiCall {
	tok, admin := s.token(u.user), s.cfg.Auth.AdminToken
	transferURL := s.api("/api/v1/user/internal_transfer")
	money := func(user uint64, amount, key string) []byte {
		b := map[string]any{"user_id": user, "account_type": "funding", "asset": "USDT", "amount": amount}
		if key != "" {
			b["idempotency_key"] = key
		}
		return mustJSON(t, b)
	}
	body := func(amount, key string, toUser uint64) []byte {
		return mustJSON(t, transferBody("funding", "spot", "USDT", amount, toUser, key))
	}
	depKey, key := "ops-dep-"+itoa(u.user), "ops-"+itoa(u.user)
	return []apiCall{
		{name: "admin deposit 200", method: "POST", url: s.admin("/admin/v1/deposit"), bearer: admin, body: money(u.user, "100", depKey), want: 200},
		{name: "admin deposit replay 200", method: "POST", url: s.admin("/admin/v1/deposit"), bearer: admin, body: money(u.user, "100", depKey), want: 200},
		{name: "admin deposit conflict 409", method: "POST", url: s.admin("/admin/v1/deposit"), bearer: admin, body: money(u.user, "99", depKey), want: 409},
		{name: "admin deposit other 200", method: "POST", url: s.admin("/admin/v1/deposit"), bearer: admin, body: money(u.other, "1", ""), want: 200},
		{name: "admin deposit bad amount 400", method: "POST", url: s.admin("/admin/v1/deposit"), bearer: admin, body: money(u.user, "1.000000001", ""), want: 400},
		{name: "admin deposit user token 401", method: "POST", url: s.admin("/admin/v1/deposit"), bearer: tok, body: money(u.user, "1", ""), want: 401},
		{name: "admin deposit GET 405", method: "GET", url: s.admin("/admin/v1/deposit"), bearer: admin, want: 405, wantHdr: "Allow"},
		{name: "admin withdraw 200", method: "POST", url: s.admin("/admin/v1/withdraw"), bearer: admin, body: money(u.user, "10", ""), want: 200},
		{name: "admin withdraw overdraft 422", method: "POST", url: s.admin("/admin/v1/withdraw"), bearer: admin, body: money(u.user, "1000", ""), want: 422},
		{name: "transfer 200", method: "POST", url: transferURL, bearer: tok, body: body("10", key, 0), want: 200},
		{name: "transfer replay 200", method: "POST", url: transferURL, bearer: tok, body: body("10", key, 0), want: 200},
		{name: "transfer conflict 409", method: "POST", url: transferURL, bearer: tok, body: body("11", key, 0), want: 409},
		{name: "transfer insufficient 422", method: "POST", url: transferURL, bearer: tok, body: body("1000", "", 0), want: 422},
		{name: "transfer precision 400", method: "POST", url: transferURL, bearer: tok, body: body("1.000000001", "", 0), want: 400},
		{name: "transfer unknown field 400", method: "POST", url: transferURL, bearer: tok, body: []byte(`{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"spot","asset":"USDT"},"amount":"1","debit_user":7}`), want: 400},
		{name: "transfer no token 401", method: "POST", url: transferURL, body: body("1", "", 0), want: 401},
		{name: "transfer cross-user route 403", method: "POST", url: transferURL, bearer: tok, body: body("1", "", u.other), want: 403},
		{name: "transfer too large 413", method: "POST", url: transferURL, bearer: tok, body: append(bytes.Repeat([]byte(" "), 64<<10), "{}"...), want: 413, lengthOnly: true},
		{name: "transfer to unknown user 422", method: "POST", url: transferURL, bearer: tok, body: mustJSON(t, transferBody("funding", "funding", "USDT", "1", u.stranger+1_000_000, "")), want: 422},
		{name: "transfer PUT 405", method: "PUT", url: transferURL, bearer: tok, want: 405, wantHdr: "Allow"},
	}
}

// freezeCalls freeze and unfreeze accounts, with a transfer refused while
// the user's account is frozen.
func (u opsUsers) freezeCalls(t *testing.T, s *svc) []apiCall {
	tok, admin := s.token(u.user), s.cfg.Auth.AdminToken
	acct := func(user uint64) []byte {
		return mustJSON(t, map[string]any{"user_id": user, "account_type": "spot", "asset": "USDT"})
	}
	body := mustJSON(t, transferBody("funding", "spot", "USDT", "1", 0, ""))
	transferURL := s.api("/api/v1/user/internal_transfer")
	return []apiCall{
		{name: "admin freeze 200", method: "POST", url: s.admin("/admin/v1/freeze"), bearer: admin, body: acct(u.user), want: 200},
		{name: "transfer to frozen 423", method: "POST", url: transferURL, bearer: tok, body: body, want: 423},
		{name: "admin unfreeze 200", method: "POST", url: s.admin("/admin/v1/unfreeze"), bearer: admin, body: acct(u.user), want: 200},
		{name: "admin freeze new account 200", method: "POST", url: s.admin("/admin/v1/freeze"), bearer: admin, body: acct(u.stranger), want: 200},
		{name: "admin freeze bad body 400", method: "POST", url: s.admin("/admin/v1/freeze"), bearer: admin, body: []byte(`{"user_id":"x"}`), want: 400},
	}
}

// readCalls read the transfer, history, balances, health and the operator
// tools; id is a settled request of u.user, failedID a failed one.
func (u opsUsers) readCalls(s *svc, id, failedID string) []apiCall {
	tok, admin := s.token(u.user), s.cfg.Auth.AdminToken
	manual := []byte(`{"operator":"ops","reason":"test"}`)
	return []apiCall{
		{name: "get transfer 200", method: "GET", url: s.api("/api/v1/user/internal_transfer/" + id), bearer: tok, want: 200},
		{name: "get failed transfer 200", method: "GET", url: s.api("/api/v1/user/internal_transfer/" + failedID), bearer: tok, want: 200},
		{name: "get transfer of another 404", method: "GET", url: s.api("/api/v1/user/internal_transfer/" + id), bearer: s.token(u.other), want: 404},
		{name: "get transfer bad id 400", method: "GET", url: s.api("/api/v1/user/internal_transfer/abc"), bearer: tok, want: 400},
		{name: "get transfer no token 401", method: "GET", url: s.api("/api/v1/user/internal_transfer/" + id), want: 401},
		{name: "history 200", method: "GET", url: s.api("/api/v1/user/internal_transfer/history?limit=1"), bearer: tok, want: 200},
		{name: "history filtered 200", method: "GET", url: s.api("/api/v1/user/internal_transfer/history?status=failed&limit=100"), bearer: tok, want: 200},
		{name: "history bad limit 400", method: "GET", url: s.api("/api/v1/user/internal_transfer/history?limit=1000"), bearer: tok, want: 400},
		{name: "balances 200", method: "GET", url: s.api("/api/v1/user/balances"), bearer: tok, want: 200},
		{name: "balances 401", method: "GET", url: s.api("/api/v1/user/balances"), bearer: "not-a-jwt", want: 401},
		{name: "health 200", method: "GET", url: s.api("/health"), want: 200},
		{name: "ready 200", method: "GET", url: s.api("/ready"), want: 200},
		{name: "admin balances 200", method: "GET", url: s.admin("/admin/v1/balances?user_id=" + itoa(u.user)), bearer: admin, want: 200},
		{name: "admin balances no user 400", method: "GET", url: s.admin("/admin/v1/balances"), bearer: admin, want: 400},
		{name: "admin stuck 200", method: "GET", url: s.admin("/admin/v1/stuck"), bearer: admin, want: 200},
		{name: "admin stuck 401", method: "GET", url: s.admin("/admin/v1/stuck"), bearer: tok, want: 401},
		{name: "admin reconcile 200", method: "GET", url: s.admin("/admin/v1/reconcile/" + id), bearer: admin, want: 200},
		{name: "admin reconcile unknown 404", method: "GET", url: s.admin("/admin/v1/reconcile/424242424242"), bearer: admin, want: 404},
		{name: "admin reconcile bad id 400", method: "GET", url: s.admin("/admin/v1/reconcile/0"), bearer: admin, want: 400},
		{name: "admin transfer 200", method: "GET", url: s.admin("/admin/v1/transfers/" + id), bearer: admin, want: 200},
		{name: "admin transfer unknown 404", method: "GET", url: s.admin("/admin/v1/transfers/424242424242"), bearer: admin, want: 404},
		{name: "admin transfer bad id 400", method: "GET", url: s.admin("/admin/v1/transfers/abc"), bearer: admin, want: 400},
		{name: "admin void bad id 400", method: "POST", url: s.admin("/admin/v1/transfers/-1/void"), bearer: admin, body: manual, want: 400},
		{name: "admin void settled 400", method: "POST", url: s.admin("/admin/v1/transfers/" + id + "/void"), bearer: admin, body: manual, want: 400},
		{name: "admin post settled 400", method: "POST", url: s.admin("/admin/v1/transfers/" + id + "/post"), bearer: admin, body: manual, want: 400},
		{name: "admin void unknown 404", method: "POST", url: s.admin("/admin/v1/transfers/424242424242/void"), bearer: admin, body: manual, want: 404},
		{name: "admin post no reason 400", method: "POST", url: s.admin("/admin/v1/transfers/" + id + "/post"), bearer: admin, body: []byte(`{"operator":"ops"}`), want: 400},
		{name: "admin void blank reason 400", method: "POST", url: s.admin("/admin/v1/transfers/424242424242/void"), bearer: admin, body: []byte(`{"operator":" ","reason":"   "}`), want: 400},
		{name: "admin resend settled 400", method: "POST", url: s.admin("/admin/v1/transfers/" + id + "/resend"), bearer: admin, want: 400},
		{name: "admin reconcile POST 405", method: "POST", url: s.admin("/admin/v1/reconcile/" + id), bearer: admin, want: 405, wantHdr: "Allow"},
	}
}

// TestOpsOpenAPIRateLimited checks the 429 answer against docs/openapi.yaml
// on a service of its own with a limit of 2 requests a minute.
func TestOpsOpenAPIRateLimited(t *testing.T) {
	spec := openAPISpec(t)
	cfg := testConfig(t.TempDir())
	cfg.RateLimiting.MaxRequestsPerMinute = 2
	s := start(t, cfg)
	user := newUser()
	calls := make([]apiCall, 3)
	for i := range calls {
		calls[i] = apiCall{name: "transfer " + strconv.Itoa(i+1), method: "POST", url: s.api("/api/v1/user/internal_transfer"),
			bearer: s.token(user), body: mustJSON(t, transferBody("funding", "spot", "USDT", "1", 0, "")), want: 422}
	}
	calls[2].want, calls[2].wantHdr = 429, "Retry-After"
	checkAgainstSpec(t, spec, calls)
}

// TestOpsEveryExportedMetricIsCatalogued scrapes a running service: every
// internal_transfer_* family it exports is in deploy.Metrics (which the
// alerts, dashboards and docs are checked against) with its kind, and every
// histogram is Prometheus-style (le buckets, for histogram_quantile), not
// VictoriaMetrics' vmrange.
func TestOpsEveryExportedMetricIsCatalogued(t *testing.T) {
	s := service(t)
	user := newUser()
	s.deposit(user, "funding", "USDT", "10")
	_, tr := s.post(user, transferBody("funding", "spot", "USDT", "1", 0, ""))
	s.waitStatus(user, tr.RequestID, settleWait)
	resp, err := http.Get("http://" + s.node.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	kinds := map[string]string{}
	for _, m := range deploy.Metrics {
		kinds[m.Name] = m.Kind
	}
	histograms := map[string]bool{}
	exported := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "internal_transfer_") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		switch {
		case strings.Contains(line, "vmrange="):
			t.Errorf("%s is a VictoriaMetrics histogram (vmrange buckets): histogram_quantile cannot read it", name)
		case strings.HasSuffix(name, "_bucket") && strings.Contains(line, `le="`):
			histograms[strings.TrimSuffix(name, "_bucket")] = true
			exported[strings.TrimSuffix(name, "_bucket")] = deploy.KindHistogram
		case histograms[strings.TrimSuffix(name, "_sum")] || histograms[strings.TrimSuffix(name, "_count")]:
		default:
			if _, seen := exported[name]; !seen {
				exported[name] = "counter or gauge"
			}
		}
	}
	if len(exported) < 10 {
		t.Fatalf("only %d internal_transfer_ families on /metrics:\n%s", len(exported), body)
	}
	for name, kind := range exported {
		want, ok := kinds[name]
		switch {
		case !ok:
			t.Errorf("%s is exported but not in deploy.Metrics", name)
		case kind == deploy.KindHistogram && want != deploy.KindHistogram, kind != deploy.KindHistogram && want == deploy.KindHistogram:
			t.Errorf("%s is exported as a %s, catalogued as a %s", name, kind, want)
		}
	}
}
