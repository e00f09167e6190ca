package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress/auth"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

var (
	testSecret     = []byte("0123456789abcdef0123456789abcdef")
	testAdminToken = "admin-token-0123456789"
	testStart      = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
)

func testCatalog(t testing.TB) *transfers.Catalog {
	t.Helper()
	c, err := transfers.NewCatalog(
		[]transfers.Asset{{Name: "USDT", Ledger: 1, Decimals: 8}, {Name: "BTC", Ledger: 2, Decimals: 8}, {Name: "JPY", Ledger: 3, Decimals: 0}},
		[]transfers.AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}, {Name: "margin", Code: 3}},
		[]transfers.Route{{From: "funding", To: "spot"}, {From: "spot", To: "funding"}, {From: "funding", To: "funding", CrossUser: true}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testClock is a settable clock shared by the server and the token signer.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeService records what the ingress hands over; each method's answer
// is set per test. It stands in for the actor service in these unit tests.
type fakeService struct {
	mu       sync.Mutex
	submits  []transfers.Command
	calls    atomic.Int64
	submit   func(transfers.Command) (store.Request, error)
	get      func(uint64) (store.Request, error)
	history  func(store.HistoryQuery) (store.HistoryPage, error)
	queries  []store.HistoryQuery
	balances func(uint64) ([]transfers.Balance, error)
}

func (f *fakeService) Submit(ctx context.Context, cmd transfers.Command) (store.Request, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.submits = append(f.submits, cmd)
	f.mu.Unlock()
	if f.submit != nil {
		return f.submit(cmd)
	}
	return pendingFor(cmd, 77), nil
}

func (f *fakeService) Get(ctx context.Context, id uint64) (store.Request, error) {
	f.calls.Add(1)
	if f.get != nil {
		return f.get(id)
	}
	return store.Request{}, transfers.ErrNotFound
}

func (f *fakeService) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	if f.history != nil {
		return f.history(q)
	}
	return store.HistoryPage{}, nil
}

func (f *fakeService) Balances(ctx context.Context, user uint64) ([]transfers.Balance, error) {
	f.calls.Add(1)
	if f.balances != nil {
		return f.balances(user)
	}
	return nil, nil
}

func (f *fakeService) lastSubmit(t *testing.T) transfers.Command {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.submits) == 0 {
		t.Fatal("service was not called")
	}
	return f.submits[len(f.submits)-1]
}

func pendingFor(cmd transfers.Command, id uint64) store.Request {
	return store.Request{
		ID: id, UserID: cmd.UserID, ToUserID: cmd.ToUserID,
		FromAccountType: cmd.FromAccountType, ToAccountType: cmd.ToAccountType,
		Asset: cmd.Asset, Amount: cmd.Amount, IdempotencyKey: cmd.IdempotencyKey,
		Fingerprint: cmd.Fingerprint, Status: store.StatusPending,
		CreatedAt: cmd.Received, UpdatedAt: cmd.Received,
	}
}

// harness is a Server on an in-memory listener with a real fasthttp client.
type harness struct {
	t      *testing.T
	clock  *testClock
	svc    *fakeService
	admin  *fakeAdmin
	srv    *Server
	client *fasthttp.Client
	admCl  *fasthttp.Client
}

func newHarness(t *testing.T, mutate func(*Options)) *harness {
	t.Helper()
	return newHarnessWith(t, mutate, nil)
}

// newHarnessWith is newHarness with svc in front of the recording service
// (nil: the recording service alone).
func newHarnessWith(t *testing.T, mutate func(*Options), svc func(*fakeService) TransferService) *harness {
	t.Helper()
	h := &harness{t: t, clock: &testClock{}, svc: &fakeService{}, admin: &fakeAdmin{}}
	h.clock.ns.Store(testStart.UnixNano())
	opts := Options{
		Catalog:              testCatalog(t),
		MinAmount:            100,
		MaxAmount:            1_000_000 * 100_000_000,
		MaxRequestsPerMinute: 10_000,
		JWTSecret:            testSecret,
		AdminToken:           testAdminToken,
		Version:              "1.2.3",
		Now:                  h.clock.Now,
	}
	if mutate != nil {
		mutate(&opts)
	}
	var front TransferService = h.svc
	if svc != nil {
		front = svc(h.svc)
	}
	srv, err := New(opts, front, h.admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.client = serveInMemory(t, srv.ServeUser)
	h.admCl = serveInMemory(t, srv.ServeAdmin)
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		h.admCl.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return h
}

func serveInMemory(t *testing.T, serve func(net.Listener) error) *fasthttp.Client {
	ln := fasthttputil.NewInmemoryListener()
	go func() {
		if err := serve(ln); err != nil && !errors.Is(err, ErrShutdown) {
			t.Errorf("serve: %v", err)
		}
	}()
	return &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

// token signs a token for user valid for an hour from the harness clock.
func (h *harness) token(user uint64) string {
	h.t.Helper()
	tok, err := auth.SignHS256Claims(testSecret, auth.Claims{User: user, TTL: time.Hour, Now: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// reply is a decoded response.
type reply struct {
	status  int
	header  map[string]string
	body    []byte
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// do sends a request; headers alternate name, value.
func (h *harness) do(c *fasthttp.Client, method, path, body string, headers ...string) reply {
	h.t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://ingress" + path)
	req.Header.SetMethod(method)
	if body != "" {
		req.SetBodyString(body)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		r.header[string(k)] = string(v)
	}
	if err := json.Unmarshal(r.body, &r); err != nil {
		h.t.Fatalf("%s %s: response is not JSON: %v: %s", method, path, err, r.body)
	}
	return r
}

// user sends an authenticated user API request.
func (h *harness) user(user uint64, method, path, body string, headers ...string) reply {
	h.t.Helper()
	return h.do(h.client, method, path, body, append([]string{"Authorization", "Bearer " + h.token(user)}, headers...)...)
}

// post sends a transfer POST as user.
func (h *harness) post(user uint64, body string, headers ...string) reply {
	h.t.Helper()
	return h.user(user, "POST", pathTransfer, body, headers...)
}

// wantError checks the failure envelope, its status, code and (when given)
// details.field.
func (r reply) wantError(t *testing.T, status int, code, field string) {
	t.Helper()
	if r.status != status || r.Success || r.Error == nil || r.Error.Code != code || string(r.Data) != "null" {
		t.Fatalf("got %d %s; want %d %s", r.status, r.body, status, code)
	}
	if r.Error.Message == "" {
		t.Fatalf("error without message: %s", r.body)
	}
	challenge := ""
	for k, v := range r.header {
		if strings.EqualFold(k, "WWW-Authenticate") {
			challenge = v
		}
	}
	if (status == 401) != strings.HasPrefix(challenge, "Bearer") {
		t.Fatalf("%d with WWW-Authenticate %q: a 401 names the Bearer scheme (RFC 6750), nothing else carries one", status, challenge)
	}
	if field != "" && r.Error.Details["field"] != field {
		t.Fatalf("details.field = %v, want %q: %s", r.Error.Details["field"], field, r.body)
	}
}

// wantOK checks the success envelope and decodes data into v.
func (r reply) wantOK(t *testing.T, v any) {
	t.Helper()
	if r.status != 200 || !r.Success || r.Error != nil {
		t.Fatalf("got %d %s; want 200 success", r.status, r.body)
	}
	if v != nil {
		dec := json.NewDecoder(bytes.NewReader(r.Data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("data does not match %T: %v: %s", v, err, r.Data)
		}
	}
}

// fakeAdmin records admin calls; err, when set, is returned by every call.
type fakeAdmin struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (a *fakeAdmin) record(format string, args ...any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf(format, args...))
	return a.err
}

func (a *fakeAdmin) Deposit(ctx context.Context, user uint64, typ, asset string, amount uint64, key string) error {
	return a.record("deposit %d %s %s %d %q", user, typ, asset, amount, key)
}

func (a *fakeAdmin) Withdraw(ctx context.Context, user uint64, typ, asset string, amount uint64, key string) error {
	return a.record("withdraw %d %s %s %d %q", user, typ, asset, amount, key)
}

func (a *fakeAdmin) Freeze(ctx context.Context, user uint64, typ, asset string) error {
	return a.record("freeze %d %s %s", user, typ, asset)
}

func (a *fakeAdmin) Unfreeze(ctx context.Context, user uint64, typ, asset string) error {
	return a.record("unfreeze %d %s %s", user, typ, asset)
}

func (a *fakeAdmin) Balances(ctx context.Context, user uint64) ([]transfers.Balance, error) {
	if err := a.record("balances %d", user); err != nil {
		return nil, err
	}
	return []transfers.Balance{
		{AccountType: "spot", Asset: "USDT", Available: ledger.U128(5)},
		{AccountType: "funding", Asset: "USDT", Available: ledger.U128(150_000_000), Held: ledger.U128(1), Incoming: ledger.U128(2), Frozen: true},
	}, nil
}

func (a *fakeAdmin) log() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// transferJSON is the API's transfer object.
type transferJSON struct {
	RequestID        string      `json:"request_id"`
	Status           string      `json:"status"`
	FromAccount      accountJSON `json:"from_account"`
	ToAccount        accountJSON `json:"to_account"`
	Amount           string      `json:"amount"`
	ClientTransferID *string     `json:"client_transfer_id"`
	ErrorCode        *string     `json:"error_code"`
	ErrorMessage     *string     `json:"error_message"`
	CreatedAt        *string     `json:"created_at"`
	UpdatedAt        *string     `json:"updated_at"`
}

type accountJSON struct {
	UserID      uint64 `json:"user_id"`
	AccountType string `json:"account_type"`
	Asset       string `json:"asset"`
}

// jsonStrict decodes b into v refusing unknown fields.
func jsonStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
