package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/cmd/internal/node"
	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/ingress/auth"
)

// svc is one running embedded service under test, reached over real HTTP on
// loopback.
type svc struct {
	t         testing.TB
	cfg       *config.Config
	node      *node.Node // nil when the service is a child process
	apiBase   string     // http://host:port of the user API
	adminBase string     // http://host:port of the admin API
	http      *http.Client
}

func newSvc(t testing.TB, cfg *config.Config, n *node.Node) *svc {
	return &svc{t: t, cfg: cfg, node: n, apiBase: "http://" + n.APIAddr(), adminBase: "http://" + n.AdminAddr(),
		http: &http.Client{Timeout: 10 * time.Second}}
}

// testConfig is the dev config on free ports with data in dir.
func testConfig(dir string) *config.Config {
	cfg := config.Defaults()
	cfg.Server.DataDir = dir
	cfg.Server.AdminPort = 0
	cfg.Server.LogLevel = "warn"
	cfg.Server.ShutdownGrace = 5000
	cfg.Monitoring.HealthCheckPort = 0
	cfg.Monitoring.PrometheusPort = 0
	cfg.Kafka.EmbeddedListen = "127.0.0.1:0"
	cfg.Kafka.Partitions = 4
	cfg.Auth.JWTSecret = "test-jwt-secret-0123456789abcdef0123"
	cfg.Auth.AdminToken = "test-admin-token-0123456789abcdef0123"
	cfg.RateLimiting.MaxRequestsPerMinute = 100_000
	cfg.Settlement.ScannerIntervalMS = 200
	cfg.Settlement.GraceMS = 500
	cfg.Routes = append(cfg.Routes, config.Route{From: "funding", To: "funding", CrossUser: true})
	return cfg
}

func startNode(cfg *config.Config) (*node.Node, *config.Config, error) {
	level := slog.LevelWarn
	if os.Getenv("NODE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg, log, node.Gateway)
	return n, cfg, err
}

// start runs a service of the test's own, stopped when the test ends.
func start(t testing.TB, cfg *config.Config) *svc {
	t.Helper()
	n, _, err := startNode(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	s := newSvc(t, cfg, n)
	t.Cleanup(s.stop)
	return s
}

func (s *svc) stop() {
	if s.node != nil {
		if err := s.node.Stop(); err != nil {
			s.t.Errorf("stop: %v", err)
		}
		s.node = nil
	}
}

// envelope is the API's answer.
type envelope struct {
	Status  int             `json:"-"`
	Header  http.Header     `json:"-"`
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

func (e envelope) code() string {
	if e.Error == nil {
		return ""
	}
	return e.Error.Code
}

// transfer is the API's transfer object.
type transfer struct {
	RequestID   string `json:"request_id"`
	Status      string `json:"status"`
	Amount      string `json:"amount"`
	ErrorCode   string `json:"error_code"`
	FromAccount struct {
		UserID      uint64 `json:"user_id"`
		AccountType string `json:"account_type"`
	} `json:"from_account"`
	ToAccount struct {
		UserID      uint64 `json:"user_id"`
		AccountType string `json:"account_type"`
	} `json:"to_account"`
}

type balance struct {
	AccountType string `json:"account_type"`
	Asset       string `json:"asset"`
	Available   string `json:"available"`
	Held        string `json:"held"`
	Incoming    string `json:"incoming"`
	Frozen      bool   `json:"frozen"`
}

func (s *svc) call(method, url, bearer string, body any, header ...string) envelope {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		s.t.Fatalf("%s %s: status %d, body not an envelope: %q", method, url, resp.StatusCode, raw)
	}
	e.Status, e.Header = resp.StatusCode, resp.Header
	return e
}

func (s *svc) token(user uint64) string {
	tok, err := auth.SignHS256([]byte(s.cfg.Auth.JWTSecret), user, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func (s *svc) api(path string) string   { return s.apiBase + path }
func (s *svc) admin(path string) string { return s.adminBase + path }

func (s *svc) deposit(user uint64, account, asset, amount string) {
	s.t.Helper()
	e := s.call("POST", s.admin("/admin/v1/deposit"), s.cfg.Auth.AdminToken,
		map[string]any{"user_id": user, "account_type": account, "asset": asset, "amount": amount})
	if e.Status != 200 {
		s.t.Fatalf("deposit: %d %s", e.Status, e.code())
	}
}

func transferBody(from, to, asset, amount string, toUser uint64, key string) map[string]any {
	toAcct := map[string]any{"account_type": to, "asset": asset}
	if toUser != 0 {
		toAcct["user_id"] = toUser
	}
	b := map[string]any{"from_account": map[string]any{"account_type": from, "asset": asset}, "to_account": toAcct, "amount": amount}
	if key != "" {
		b["client_transfer_id"] = key
	}
	return b
}

func (s *svc) post(user uint64, body any) (envelope, transfer) {
	s.t.Helper()
	e := s.call("POST", s.api("/api/v1/user/internal_transfer"), s.token(user), body)
	var tr transfer
	if e.Success {
		if err := json.Unmarshal(e.Data, &tr); err != nil {
			s.t.Fatalf("transfer: %v in %s", err, e.Data)
		}
	}
	return e, tr
}

func (s *svc) get(user uint64, id string) (envelope, transfer) {
	s.t.Helper()
	e := s.call("GET", s.api("/api/v1/user/internal_transfer/"+id), s.token(user), nil)
	var tr transfer
	if e.Success {
		_ = json.Unmarshal(e.Data, &tr)
	}
	return e, tr
}

// settleWait bounds how long a test waits for settlement to finish a
// transfer: a hang guard, generous for a slow, busy CI machine (settlement
// goes through Kafka and two fsyncs); how fast it is, benchmarks measure.
const settleWait = 15 * time.Second

// waitStatus polls until request id is final or the deadline passes.
func (s *svc) waitStatus(user uint64, id string, within time.Duration) transfer {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, tr := s.get(user, id)
		if tr.Status == "success" || tr.Status == "failed" || time.Now().After(deadline) {
			return tr
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *svc) balances(user uint64) map[string]balance {
	s.t.Helper()
	e := s.call("GET", s.api("/api/v1/user/balances"), s.token(user), nil)
	if e.Status != 200 {
		s.t.Fatalf("balances: %d %s", e.Status, e.code())
	}
	var data struct {
		Balances []balance `json:"balances"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]balance{}
	for _, b := range data.Balances {
		out[b.AccountType+"/"+b.Asset] = b
	}
	return out
}

func (s *svc) wantBalance(user uint64, account, asset, available, held string) {
	s.t.Helper()
	b := s.balances(user)[account+"/"+asset]
	if b.Available != available || b.Held != held {
		s.t.Fatalf("user %d %s/%s: available %s held %s, want %s and %s", user, account, asset, b.Available, b.Held, available, held)
	}
}

var nextUser = uint64(time.Now().UnixNano() % 1_000_000_000)

// newUser returns a user id no other test uses.
func newUser() uint64 { nextUser++; return nextUser }

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
