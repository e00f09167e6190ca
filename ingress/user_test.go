package ingress

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress/auth"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
)

// Every way a token can be bad is 401 UNAUTHORIZED and reaches no service.
func TestUserAPIRejectsBadTokens(t *testing.T) {
	h := newHarness(t, nil)
	now := h.clock.Now()
	claims := func(sub string, exp time.Time) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute))}
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	valid := claims("1000", now.Add(time.Hour))
	notYet := valid
	notYet.NotBefore = jwt.NewNumericDate(now.Add(time.Hour))
	cases := []struct{ name, header string }{
		{"missing header", ""},
		{"basic scheme", "Basic dXNlcjpwYXNz"},
		{"bearer without token", "Bearer "},
		{"malformed", "Bearer abc.def"},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, testSecret, claims("1000", now.Add(-time.Second)))},
		{"not yet valid", "Bearer " + sign(jwt.SigningMethodHS256, testSecret, notYet)},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid)},
		{"wrong alg HS384", "Bearer " + sign(jwt.SigningMethodHS384, testSecret, valid)},
		{"wrong alg EdDSA", "Bearer " + sign(jwt.SigningMethodEdDSA, edKey, valid)},
		{"wrong signature", "Bearer " + sign(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), valid)},
		{"missing sub", "Bearer " + sign(jwt.SigningMethodHS256, testSecret, claims("", now.Add(time.Hour)))},
		{"non-numeric sub", "Bearer " + sign(jwt.SigningMethodHS256, testSecret, claims("bob", now.Add(time.Hour)))},
		{"numeric sub with sign", "Bearer " + sign(jwt.SigningMethodHS256, testSecret, claims("+1000", now.Add(time.Hour)))},
	}
	routes := []struct{ method, path, body string }{
		{"POST", pathTransfer, okBody},
		{"GET", pathTransfer + "/77", ""},
		{"GET", pathHistory, ""},
		{"GET", pathBalances, ""},
	}
	for _, tc := range cases {
		for _, rt := range routes {
			t.Run(tc.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				var hdr []string
				if tc.header != "" {
					hdr = []string{"Authorization", tc.header}
				}
				h.do(h.client, rt.method, rt.path, rt.body, hdr...).wantError(t, 401, codeUnauthorized, "")
			})
		}
	}
	if n := h.svc.calls.Load(); n != 0 {
		t.Fatalf("service called %d times by unauthenticated requests", n)
	}
	t.Run("two Authorization headers", func(t *testing.T) {
		// Even two valid ones: which user would be debited is a guess.
		h.do(h.client, "GET", pathBalances, "", "Authorization", "Bearer "+h.token(1000),
			"Authorization", "Bearer "+h.token(2000)).wantError(t, 401, codeUnauthorized, "")
	})
	if n := h.svc.calls.Load(); n != 0 {
		t.Fatalf("service called %d times by a request with two tokens", n)
	}
	t.Run("lower-case bearer scheme works", func(t *testing.T) {
		h.do(h.client, "GET", pathBalances, "", "Authorization", "bearer "+h.token(1000)).wantOK(t, nil)
	})
}

func TestUserAPIRateLimit(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxRequestsPerMinute = 3 })
	for i := 0; i < 3; i++ {
		h.post(1000, okBody).wantOK(t, nil)
	}
	calls := h.svc.calls.Load()
	r := h.post(1000, okBody)
	r.wantError(t, 429, codeRateLimited, "")
	if r.header["Retry-After"] != "20" { // one token per 20 s
		t.Fatalf("Retry-After %q, want 20", r.header["Retry-After"])
	}
	h.user(1000, "GET", pathBalances, "").wantError(t, 429, codeRateLimited, "") // one budget for the whole API
	if h.svc.calls.Load() != calls {
		t.Fatal("service called while rate limited")
	}
	h.post(2000, strings.Replace(okBody, "10.5", "1", 1)).wantOK(t, nil) // other users unaffected
	h.clock.Advance(19 * time.Second)
	if r := h.post(1000, okBody); r.status != 429 || r.header["Retry-After"] != "1" {
		t.Fatalf("after 19 s: %d Retry-After %q, want 429 and 1", r.status, r.header["Retry-After"])
	}
	h.clock.Advance(time.Second)
	h.post(1000, okBody).wantOK(t, nil)
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	l := newRateLimiter(60, 1000)
	now := testStart.UnixNano()
	for u := uint64(1); u <= 50_000; u++ {
		if ok, _ := l.allow(u, now); !ok {
			t.Fatalf("user %d refused on first request", u)
		}
	}
	if n, max := l.tracked(), limiterShards*(1000/limiterShards+1); n > max {
		t.Fatalf("tracking %d users, bound %d", n, max)
	}
	// A minute later every bucket has refilled: a sweep drops them all
	// without changing anyone's budget.
	later := now + int64(time.Minute)
	var touched [limiterShards]bool
	fresh := 0
	for u := uint64(1_000_000); fresh < limiterShards; u++ { // one new user per shard
		if !touched[shardOf(u)] {
			touched[shardOf(u)] = true
			fresh++
			l.allow(u, later)
		}
	}
	if n := l.tracked(); n != limiterShards {
		t.Fatalf("after a minute idle %d users tracked, want only the %d new ones", n, limiterShards)
	}
}

func TestGetTransfer(t *testing.T) {
	h := newHarness(t, nil)
	stored := store.Request{ID: 555, UserID: 1000, ToUserID: 2000, FromAccountType: "funding", ToAccountType: "funding",
		Asset: "BTC", Amount: 1, Status: store.StatusFailed, ErrorCode: "ACCOUNT_FROZEN", ErrorMessage: `frozen "dest"`,
		IdempotencyKey: "k", CreatedAt: testStart.Add(time.Nanosecond), UpdatedAt: testStart.Add(time.Second)}
	h.svc.get = func(id uint64) (store.Request, error) {
		if id == stored.ID {
			return stored, nil
		}
		return store.Request{}, transfers.ErrNotFound
	}
	for _, user := range []uint64{1000, 2000} { // either side sees it
		var got transferJSON
		h.user(user, "GET", pathTransfer+"/555", "").wantOK(t, &got)
		if got.RequestID != "555" || got.Status != "failed" || got.Amount != "0.00000001" ||
			*got.ErrorMessage != `frozen "dest"` || *got.CreatedAt != "2026-03-04T05:06:07.000000001Z" ||
			got.ToAccount.UserID != 2000 {
			t.Fatalf("user %d got %+v", user, got)
		}
		// The key is the sender's: the receiver does not see it.
		if user == 1000 && (got.ClientTransferID == nil || *got.ClientTransferID != "k") {
			t.Fatalf("the sender got client_transfer_id %v, want \"k\"", got.ClientTransferID)
		}
		if user == 2000 && got.ClientTransferID != nil {
			t.Fatalf("the receiver got the sender's client_transfer_id %q", *got.ClientTransferID)
		}
	}
	other := h.user(3000, "GET", pathTransfer+"/555", "")
	other.wantError(t, 404, codeNotFound, "")
	unknown := h.user(1000, "GET", pathTransfer+"/556", "")
	unknown.wantError(t, 404, codeNotFound, "")
	if string(other.body) != string(unknown.body) {
		t.Fatalf("another user's request is distinguishable from an unknown one:\n%s\n%s", other.body, unknown.body)
	}
	for _, bad := range []string{"abc", "0", "-1", "012", "18446744073709551616", "1.5"} {
		h.user(1000, "GET", pathTransfer+"/"+bad, "").wantError(t, 400, codeInvalidRequest, "request_id")
	}
}

func TestHistory(t *testing.T) {
	h := newHarness(t, nil)
	h.svc.history = func(q store.HistoryQuery) (store.HistoryPage, error) {
		return store.HistoryPage{Requests: []store.Request{
			{ID: 2, UserID: 1000, ToUserID: 1000, FromAccountType: "spot", ToAccountType: "funding", Asset: "USDT", Amount: 5, Status: store.StatusSuccess, IdempotencyKey: "mine"},
			{ID: 1, UserID: 9, ToUserID: 1000, FromAccountType: "funding", ToAccountType: "funding", Asset: "JPY", Amount: 5, Status: store.StatusPending, IdempotencyKey: "theirs"},
		}, NextCursor: "c2"}, nil
	}
	var page struct {
		Transfers  []transferJSON `json:"transfers"`
		NextCursor *string        `json:"next_cursor"`
	}
	h.user(1000, "GET", pathHistory+"?status=success&from=2026-01-01T00:00:00Z&to=1767225600001&limit=2&cursor=c1", "").wantOK(t, &page)
	if len(page.Transfers) != 2 || page.Transfers[0].RequestID != "2" || page.Transfers[1].Amount != "5" || *page.NextCursor != "c2" {
		t.Fatalf("page %+v", page)
	}
	if k := page.Transfers[0].ClientTransferID; k == nil || *k != "mine" {
		t.Fatalf("own transfer's client_transfer_id %v, want \"mine\"", k)
	}
	if k := page.Transfers[1].ClientTransferID; k != nil {
		t.Fatalf("a received transfer shows the sender's client_transfer_id %q", *k)
	}
	want := store.HistoryQuery{UserID: 1000, Status: store.StatusSuccess, From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		To: time.UnixMilli(1767225600001).UTC(), Limit: 2, Cursor: "c1"}
	if got := h.svc.queries[len(h.svc.queries)-1]; got != want {
		t.Fatalf("query %+v, want %+v", got, want)
	}
	h.user(1000, "GET", pathHistory, "").wantOK(t, nil)
	if got := h.svc.queries[len(h.svc.queries)-1]; got != (store.HistoryQuery{UserID: 1000, Limit: 20}) {
		t.Fatalf("default query %+v", got)
	}
	bad := []struct{ query, field string }{
		{"status=done", "status"},
		{"limit=0", "limit"},
		{"limit=101", "limit"},
		{"limit=abc", "limit"},
		{"limit=%2B5", "limit"},
		{"from=yesterday", "from"},
		{"from=2026-01-01", "from"},
		{"to=99999999999999999", "to"},
		{"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{"from=1767225600000&to=1767225600000", "from"},
		{"to=0001-01-01T00:00:00Z", "to"}, // the store's "no bound"
		{"from=2030-01-01T00:00:00Z&to=0001-01-01T00:00:00Z", "to"},
		{"from=1969-12-31T23:59:59Z", "from"},
		{"limit=5&limit=6", "limit"},
		{"user_id=2000", "user_id"},
		{"cursor=", "cursor"},
		{"cursor=" + strings.Repeat("c", 1025), "cursor"},
	}
	calls := h.svc.calls.Load()
	for _, tc := range bad {
		t.Run(tc.query, func(t *testing.T) {
			h.user(1000, "GET", pathHistory+"?"+tc.query, "").wantError(t, 400, codeInvalidRequest, tc.field)
		})
	}
	if h.svc.calls.Load() != calls {
		t.Fatal("service called for a bad history query")
	}
	// A cursor only the store can judge (well formed, but not one it made).
	h.svc.history = func(q store.HistoryQuery) (store.HistoryPage, error) {
		return store.HistoryPage{}, fmt.Errorf("%w: store: cannot decode cursor %q: invalid argument", transfers.ErrInvalid, q.Cursor)
	}
	r := h.user(1000, "GET", pathHistory+"?cursor=abc", "")
	r.wantError(t, 400, codeInvalidRequest, "cursor")
	if strings.Contains(r.Error.Message, "store") {
		t.Fatalf("message %q speaks of the store, not of the parameter", r.Error.Message)
	}
}

func TestBalances(t *testing.T) {
	h := newHarness(t, nil)
	h.svc.balances = func(user uint64) ([]transfers.Balance, error) {
		if user != 1000 {
			return nil, errors.New("wrong user")
		}
		return []transfers.Balance{
			{AccountType: "spot", Asset: "USDT", Available: ledger.U128(1)},
			{AccountType: "funding", Asset: "USDT", Available: ledger.U128(150_000_000), Held: ledger.U128(2), Incoming: ledger.U128(3), Frozen: true},
			{AccountType: "funding", Asset: "JPY", Available: ledger.U128(1000)},
			// More than 2^64 units: 2^64 + 5, and 2^65 - 1.
			{AccountType: "spot", Asset: "JPY", Available: ledger.Uint128{Hi: 1, Lo: 5}, Held: ledger.Uint128{Hi: 1, Lo: ^uint64(0)}},
		}, nil
	}
	type balance struct {
		AccountType string `json:"account_type"`
		Asset       string `json:"asset"`
		Available   string `json:"available"`
		Held        string `json:"held"`
		Incoming    string `json:"incoming"`
		Frozen      bool   `json:"frozen"`
	}
	var got struct {
		UserID   uint64    `json:"user_id"`
		Balances []balance `json:"balances"`
	}
	h.user(1000, "GET", pathBalances, "").wantOK(t, &got)
	want := []balance{
		{"funding", "JPY", "1000", "0", "0", false},
		{"funding", "USDT", "1.50000000", "0.00000002", "0.00000003", true},
		{"spot", "JPY", "18446744073709551621", "36893488147419103231", "0", false},
		{"spot", "USDT", "0.00000001", "0.00000000", "0.00000000", false},
	}
	if got.UserID != 1000 || len(got.Balances) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got.Balances[i] != want[i] {
			t.Fatalf("balance %d = %+v, want %+v", i, got.Balances[i], want[i])
		}
	}
	h.svc.balances = func(uint64) ([]transfers.Balance, error) {
		return nil, &transfers.RetryableError{Err: transfers.ErrUnavailable, RetryAfter: time.Second}
	}
	h.user(1000, "GET", pathBalances, "").wantError(t, 503, codeUnavailable, "")
}

func TestRoutingAndMethods(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", pathTransfer, 405, codeMethodNotAllowed, "POST"},
		{"PUT", pathTransfer, 405, codeMethodNotAllowed, "POST"},
		{"POST", pathBalances, 405, codeMethodNotAllowed, "GET"},
		{"DELETE", pathTransfer + "/5", 405, codeMethodNotAllowed, "GET"},
		{"POST", pathHistory, 405, codeMethodNotAllowed, "GET"},
		{"POST", pathHealth, 405, codeMethodNotAllowed, "GET"},
		{"GET", "/api/v1/user/nothing", 404, codeNotFound, ""},
		{"GET", "/", 404, codeNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := h.user(1000, tc.method, tc.path, "")
			r.wantError(t, tc.status, tc.code, "")
			if r.header["Allow"] != tc.allow {
				t.Fatalf("Allow %q, want %q", r.header["Allow"], tc.allow)
			}
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	var mu sync.Mutex
	var readyErr error
	var sawDeadline bool
	h := newHarness(t, nil)
	srv, err := New(h.srv.opts, h.svc, nil, func(ctx context.Context) error {
		_, sawDeadline = ctx.Deadline()
		mu.Lock()
		defer mu.Unlock()
		return readyErr
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.readyCacheFor = 0 // every /ready probes: TestReadyProbesAreShared covers the cache
	client := serveInMemory(t, srv.ServeUser)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	monSrv := &fasthttp.Server{Handler: srv.HealthHandler()}
	monitor := serveInMemory(t, monSrv.Serve)
	t.Cleanup(func() { monSrv.Shutdown() })
	if r := h.do(monitor, "GET", pathHealth, ""); r.status != 200 {
		t.Fatalf("health on the monitoring handler: %d %s", r.status, r.body)
	}
	h.do(monitor, "GET", pathBalances, "").wantError(t, 404, codeNotFound, "")
	var health struct{ Status, Version string }
	r := h.do(client, "GET", pathHealth, "")
	if err := jsonStrict(r.body, &health); err != nil || r.status != 200 || health.Status != "healthy" || health.Version != "1.2.3" {
		t.Fatalf("health: %d %s (%v)", r.status, r.body, err)
	}
	if r := h.do(client, "GET", pathReady, ""); r.status != 200 || string(r.body) != `{"status":"ready"}` || !sawDeadline {
		t.Fatalf("ready: %d %s, probe had a deadline: %v", r.status, r.body, sawDeadline)
	}
	mu.Lock()
	readyErr = errors.New("store down")
	mu.Unlock()
	if r := h.do(client, "GET", pathReady, ""); r.status != 503 || r.header["Retry-After"] == "" || strings.Contains(string(r.body), "store down") {
		t.Fatalf("not ready: %d %s", r.status, r.body)
	}
}

// /ready answers the last probe's result for readyCacheFor, probing once
// for many requests: it needs no credential, and each probe calls every
// backend.
func TestReadyProbesAreShared(t *testing.T) {
	var probes atomic.Int32
	h := newHarness(t, nil)
	srv, err := New(h.srv.opts, h.svc, nil, func(context.Context) error {
		probes.Add(1)
		return errors.New("store down")
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.readyCacheFor = 300 * time.Millisecond
	client := serveInMemory(t, srv.ServeUser)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	start := time.Now()
	for range 20 {
		if r := h.do(client, "GET", pathReady, ""); r.status != 503 {
			t.Fatalf("not ready: %d %s", r.status, r.body)
		}
	}
	if n := probes.Load(); n != 1 && time.Since(start) < srv.readyCacheFor {
		t.Fatalf("%d probes for 20 requests within %v, want 1", n, srv.readyCacheFor)
	}
	time.Sleep(srv.readyCacheFor)
	before := probes.Load()
	h.do(client, "GET", pathReady, "")
	if probes.Load() != before+1 {
		t.Fatalf("no new probe after %v", srv.readyCacheFor)
	}
}

// /health shows the parts HealthParts reports with their details, and is
// unhealthy exactly when HealthParts says so: a detail such as the
// scanner's last error does not fail it.
func TestHealthParts(t *testing.T) {
	var mu sync.Mutex
	parts, healthy := map[string]string{}, true
	h := newHarness(t, func(o *Options) {
		o.HealthParts = func() (map[string]string, bool) {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(parts), healthy
		}
	})
	set := func(p map[string]string, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		parts, healthy = p, ok
	}
	for _, c := range []struct {
		parts   map[string]string
		healthy bool
		status  int
	}{
		{map[string]string{"scanner": "running", "consumer": "running"}, true, 200},
		{map[string]string{"scanner": "running", "consumer": "running", "scanner_error": "list open: deadline exceeded"}, true, 200},
		{map[string]string{"scanner": "stopped", "consumer": "running"}, false, 503},
	} {
		set(c.parts, c.healthy)
		r := h.do(h.client, "GET", pathHealth, "")
		var got map[string]string
		if err := json.Unmarshal(r.body, &got); err != nil || r.status != c.status {
			t.Fatalf("parts %v healthy %v: %d %s (%v)", c.parts, c.healthy, r.status, r.body, err)
		}
		if (r.header["Retry-After"] != "") != (r.status == 503) {
			t.Fatalf("/health %d with Retry-After %q: a 503 carries one, a 200 none", r.status, r.header["Retry-After"])
		}
		want := map[string]string{"status": "healthy", "version": "1.2.3"}
		if !c.healthy {
			want["status"] = "unhealthy"
		}
		maps.Copy(want, c.parts)
		if !maps.Equal(got, want) {
			t.Fatalf("/health = %v, want %v", got, want)
		}
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	h := newHarness(t, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	h.svc.submit = func(cmd transfers.Command) (store.Request, error) {
		close(entered)
		<-release
		return pendingFor(cmd, 1), nil
	}
	done := make(chan reply)
	go func() { done <- h.post(1000, okBody) }()
	<-entered
	shut := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- h.srv.Shutdown(ctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if r := <-done; r.status != 200 {
		t.Fatalf("in-flight request got %d %s", r.status, r.body)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := h.srv.ServeUser(nil); !errors.Is(err, ErrShutdown) {
		t.Fatalf("ServeUser after Shutdown: %v, want ErrShutdown", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	cat := testCatalog(t)
	svc := &fakeService{}
	base := Options{Catalog: cat, JWTSecret: testSecret, AdminToken: testAdminToken}
	cases := []struct {
		name   string
		mutate func(*Options)
		admin  AdminService
	}{
		{"no catalog", func(o *Options) { o.Catalog = nil }, nil},
		{"no key", func(o *Options) { o.JWTSecret = nil }, nil},
		{"short secret", func(o *Options) { o.JWTSecret = []byte("short") }, nil},
		{"min above max", func(o *Options) { o.MinAmount, o.MaxAmount = 10, 5 }, nil},
		{"negative rate", func(o *Options) { o.MaxRequestsPerMinute = -1 }, nil},
		{"short admin token", func(o *Options) { o.AdminToken = "x" }, &fakeAdmin{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mutate(&o)
			if _, err := New(o, svc, tc.admin, nil); !errors.Is(err, ErrOptions) {
				t.Fatalf("New err = %v, want ErrOptions", err)
			}
		})
	}
	if _, err := New(base, svc, nil, nil); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	_ = auth.HS256SecretMinBytes
}

// Concurrent users through the limiter: exactly the burst passes per user
// while the clock stands still (run with -race).
func TestRateLimiterConcurrent(t *testing.T) {
	l := newRateLimiter(50, 1000)
	now := testStart.UnixNano()
	var wg sync.WaitGroup
	passed := make([]int, 8)
	for g := range passed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if ok, _ := l.allow(uint64(g%4)+1, now); ok {
					passed[g]++
				}
			}
		}()
	}
	wg.Wait()
	perUser := map[int]int{}
	for g, n := range passed {
		perUser[g%4] += n
	}
	for u, n := range perUser {
		if n != 50 {
			t.Fatalf("user %d passed %d requests, want the burst of 50", u+1, n)
		}
	}
}

// An endpoint without query parameters refuses one, naming it, instead of
// ignoring what the client thinks it asked for; the service is not called.
func TestQueryOnAnEndpointWithoutOne(t *testing.T) {
	h := newHarness(t, nil)
	h.svc.balances = func(uint64) ([]transfers.Balance, error) {
		t.Error("balances called despite the query")
		return nil, nil
	}
	h.user(1000, "GET", pathBalances+"?asset=USDT", "").wantError(t, 400, codeInvalidRequest, "asset")
	h.user(1000, "GET", pathTransfer+"/555?verbose=1", "").wantError(t, 400, codeInvalidRequest, "verbose")
	body := `{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"spot","asset":"USDT"},"amount":"1"}`
	h.user(1000, "POST", pathTransfer+"?dry_run=true", body).wantError(t, 400, codeInvalidRequest, "dry_run")
	if n := h.svc.calls.Load(); n != 0 {
		t.Fatalf("service called %d times", n)
	}
}
