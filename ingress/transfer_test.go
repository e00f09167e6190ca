package ingress

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"
)

const okBody = `{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"spot","asset":"USDT"},"amount":"10.5"}`

func TestTransferAccepted(t *testing.T) {
	h := newHarness(t, nil)
	r := h.post(1000, okBody)
	var got transferJSON
	r.wantOK(t, &got)
	created := testStart.Format(time.RFC3339Nano)
	want := transferJSON{
		RequestID: "77", Status: "pending",
		FromAccount: accountJSON{1000, "funding", "USDT"},
		ToAccount:   accountJSON{1000, "spot", "USDT"},
		Amount:      "10.50000000",
		CreatedAt:   &created, UpdatedAt: &created,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("transfer (-want +got):\n%s", diff)
	}
	cmd := h.svc.lastSubmit(t)
	wantCmd := transfers.Command{
		UserID: 1000, ToUserID: 1000, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "USDT", Amount: 1_050_000_000, Fingerprint: cmd.Fingerprint, Received: testStart,
	}
	if diff := cmp.Diff(wantCmd, cmd); diff != "" {
		t.Fatalf("command (-want +got):\n%s", diff)
	}
	if len(cmd.Fingerprint) != 32 {
		t.Fatalf("fingerprint %q is not 32 hex digits", cmd.Fingerprint)
	}
}

// Every refusal: its status, code and field, and the service never called.
func TestTransferValidation(t *testing.T) {
	acct := func(typ, asset, extra string) string {
		return `{"account_type":"` + typ + `","asset":"` + asset + `"` + extra + `}`
	}
	body := func(from, to, amount string) string {
		return `{"from_account":` + from + `,"to_account":` + to + `,"amount":` + amount + `}`
	}
	fund, spot := acct("funding", "USDT", ""), acct("spot", "USDT", "")
	cases := []struct {
		name, body  string
		headers     []string
		status      int
		code, field string
	}{
		{"empty body", "", nil, 400, codeInvalidRequest, ""},
		{"not JSON", "hello", nil, 400, codeInvalidRequest, ""},
		{"array", "[]", nil, 400, codeInvalidRequest, ""},
		{"truncated", okBody[:40], nil, 400, codeInvalidRequest, ""},
		{"trailing data", okBody + `{}`, nil, 400, codeInvalidRequest, ""},
		{"trailing garbage", okBody + ` x`, nil, 400, codeInvalidRequest, ""},
		{"data after a NUL byte", okBody + "\x00" + `{"amount":"999"}`, nil, 400, codeInvalidRequest, ""},
		{"a NUL byte after the object", okBody + "\x00", nil, 400, codeInvalidRequest, ""},
		{"a NUL byte in place of a value", strings.Replace(okBody, `"10.5"`, "\x00", 1), nil, 400, codeInvalidAmount, "amount"},
		{"unknown field", strings.Replace(okBody, `"amount"`, `"memo":"x","amount"`, 1), nil, 400, codeInvalidRequest, "memo"},
		{"unknown nested field", body(acct("funding", "USDT", `,"x":1`), spot, `"1"`), nil, 400, codeInvalidRequest, "from_account.x"},
		{"duplicate key", strings.Replace(okBody, `"amount":"10.5"`, `"amount":"1","amount":"10.5"`, 1), nil, 400, codeInvalidRequest, "amount"},
		{"duplicate nested key", body(`{"account_type":"funding","account_type":"spot","asset":"USDT"}`, spot, `"1"`), nil, 400, codeInvalidRequest, "from_account.account_type"},
		{"duplicate key via escape", strings.Replace(okBody, `"amount":"10.5"`, `"amount":"1","\u0061mount":"10.5"`, 1), nil, 400, codeInvalidRequest, "amount"},
		{"missing from_account", `{"to_account":` + spot + `,"amount":"1"}`, nil, 400, codeInvalidRequest, "from_account"},
		{"missing to_account", `{"from_account":` + fund + `,"amount":"1"}`, nil, 400, codeInvalidRequest, "to_account"},
		{"missing amount", `{"from_account":` + fund + `,"to_account":` + spot + `}`, nil, 400, codeInvalidRequest, "amount"},
		{"missing asset", body(`{"account_type":"funding"}`, spot, `"1"`), nil, 400, codeInvalidRequest, "from_account.asset"},
		{"missing account_type", body(fund, `{"asset":"USDT"}`, `"1"`), nil, 400, codeInvalidRequest, "to_account.account_type"},
		{"account is a string", body(`"funding"`, spot, `"1"`), nil, 400, codeInvalidRequest, "from_account"},
		{"asset is a number", body(`{"account_type":"funding","asset":5}`, spot, `"1"`), nil, 400, codeInvalidRequest, "from_account.asset"},
		{"user_id is a float", body(fund, acct("funding", "USDT", `,"user_id":1.5`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"user_id is negative", body(fund, acct("funding", "USDT", `,"user_id":-1`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"user_id is zero", body(fund, acct("funding", "USDT", `,"user_id":0`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"user_id overflows", body(fund, acct("funding", "USDT", `,"user_id":18446744073709551616`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"user_id beyond int64", body(fund, acct("funding", "USDT", `,"user_id":9223372036854775808`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"user_id string beyond int64", body(fund, acct("funding", "USDT", `,"user_id":"9223372036854775808"`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"user_id exponent", body(fund, acct("funding", "USDT", `,"user_id":1e3`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"user_id bool", body(fund, acct("funding", "USDT", `,"user_id":true`), `"1"`), nil, 400, codeInvalidRequest, "to_account.user_id"},
		{"control char in string", body(acct("fund\x01ing", "USDT", ""), spot, `"1"`), nil, 400, codeInvalidRequest, "from_account.account_type"},
		{"invalid UTF-8", body(acct("fund\xffing", "USDT", ""), spot, `"1"`), nil, 400, codeInvalidRequest, "from_account.account_type"},
		{"client_transfer_id number", withField(okBody, `"client_transfer_id":5`), nil, 400, codeInvalidRequest, "client_transfer_id"},

		{"amount is a number", body(fund, spot, `10`), nil, 400, codeInvalidAmount, "amount"},
		{"amount is null", body(fund, spot, `null`), nil, 400, codeInvalidAmount, "amount"},
		{"amount zero", body(fund, spot, `"0"`), nil, 400, codeInvalidAmount, "amount"},
		{"amount negative", body(fund, spot, `"-1"`), nil, 400, codeInvalidAmount, "amount"},
		{"amount exponent", body(fund, spot, `"1e3"`), nil, 400, codeInvalidAmount, "amount"},
		{"amount whitespace", body(fund, spot, `" 1"`), nil, 400, codeInvalidAmount, "amount"},
		{"amount empty", body(fund, spot, `""`), nil, 400, codeInvalidAmount, "amount"},
		{"amount plus", body(fund, spot, `"+1"`), nil, 400, codeInvalidAmount, "amount"},
		{"amount hex", body(fund, spot, `"0x10"`), nil, 400, codeInvalidAmount, "amount"},
		{"amount overflow", body(fund, spot, `"999999999999999999999"`), nil, 400, codeInvalidAmount, "amount"},
		{"amount precision", body(fund, spot, `"1.000000001"`), nil, 400, codeInvalidPrecision, "amount"},
		{"amount precision JPY", body(acct("funding", "JPY", ""), acct("spot", "JPY", ""), `"1000.5"`), nil, 400, codeInvalidPrecision, "amount"},
		{"amount too small", body(fund, spot, `"0.00000099"`), nil, 400, codeAmountTooSmall, "amount"},
		{"amount too large", body(fund, spot, `"1000000.00000001"`), nil, 400, codeAmountTooLarge, "amount"},

		{"unknown asset", body(acct("funding", "DOGE", ""), acct("spot", "DOGE", ""), `"1"`), nil, 400, codeInvalidAsset, "from_account.asset"},
		{"unknown to asset", body(fund, acct("spot", "DOGE", ""), `"1"`), nil, 400, codeInvalidAsset, "to_account.asset"},
		{"asset case matters", body(acct("funding", "usdt", ""), acct("spot", "usdt", ""), `"1"`), nil, 400, codeInvalidAsset, "from_account.asset"},
		{"asset mismatch", body(fund, acct("spot", "BTC", ""), `"1"`), nil, 400, codeAssetMismatch, "to_account.asset"},
		{"unknown from account type", body(acct("savings", "USDT", ""), spot, `"1"`), nil, 400, codeInvalidAccountType, "from_account.account_type"},
		{"unknown to account type", body(fund, acct("savings", "USDT", ""), `"1"`), nil, 400, codeInvalidAccountType, "to_account.account_type"},
		{"same account", body(fund, fund, `"1"`), nil, 400, codeSameAccount, "to_account"},
		{"same account, own id given", body(fund, acct("funding", "USDT", `,"user_id":1000`), `"1"`), nil, 400, codeSameAccount, "to_account"},
		{"route not configured", body(fund, acct("margin", "USDT", ""), `"1"`), nil, 403, codePermissionDenied, "to_account"},
		{"route not cross-user", body(fund, acct("spot", "USDT", `,"user_id":2000`), `"1"`), nil, 403, codePermissionDenied, "to_account"},
		{"from user_id is someone else", body(acct("funding", "USDT", `,"user_id":2000`), spot, `"1"`), nil, 403, codePermissionDenied, "from_account.user_id"},

		{"key header and body differ", withField(okBody, `"client_transfer_id":"a"`), []string{"Idempotency-Key", "b"}, 400, codeInvalidRequest, "client_transfer_id"},
		{"key too long", withField(okBody, `"client_transfer_id":"`+strings.Repeat("k", 65)+`"`), nil, 400, codeInvalidRequest, "client_transfer_id"},
		{"key empty", withField(okBody, `"client_transfer_id":""`), nil, 400, codeInvalidRequest, "client_transfer_id"},
		{"key with space", withField(okBody, `"client_transfer_id":"a b"`), nil, 400, codeInvalidRequest, "client_transfer_id"},
		{"key non-ASCII", withField(okBody, `"client_transfer_id":"ключ"`), nil, 400, codeInvalidRequest, "client_transfer_id"},
		{"header key too long", okBody, []string{"Idempotency-Key", strings.Repeat("k", 65)}, 400, codeInvalidRequest, "Idempotency-Key"},
		{"header key empty", okBody, []string{"Idempotency-Key", ""}, 400, codeInvalidRequest, "Idempotency-Key"},
		{"header key blank", okBody, []string{"Idempotency-Key", "   "}, 400, codeInvalidRequest, "Idempotency-Key"},
		{"header key twice", okBody, []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, 400, codeInvalidRequest, "Idempotency-Key"},
		{"header key twice, same", okBody, []string{"Idempotency-Key", "a", "Idempotency-Key", "a"}, 400, codeInvalidRequest, "Idempotency-Key"},
	}
	h := newHarness(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.svc.calls.Load()
			r := h.post(1000, tc.body, tc.headers...)
			r.wantError(t, tc.status, tc.code, tc.field)
			if n := h.svc.calls.Load() - before; n != 0 {
				t.Fatalf("service called %d times for a refused request", n)
			}
		})
	}
	t.Run("a body cut short says so", func(t *testing.T) {
		r := h.post(1000, `{"from_account":`)
		r.wantError(t, 400, codeInvalidRequest, "from_account")
		if !strings.Contains(r.Error.Message, "cut short") {
			t.Fatalf("message %q does not say the JSON is cut short", r.Error.Message)
		}
	})
}

func TestTransferAcceptsEquivalentForms(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct{ name, body string }{
		{"canonical", okBody},
		{"spaced and reordered", " {\n\"amount\" : \"10.50\" ,\t\"to_account\":{\"asset\":\"USDT\",\"account_type\":\"spot\"},\"from_account\":{\"asset\":\"USDT\",\"account_type\":\"funding\"}}\n"},
		{"own user ids spelled out", `{"from_account":{"account_type":"funding","asset":"USDT","user_id":1000},"to_account":{"account_type":"spot","asset":"USDT","user_id":"1000"},"amount":"10.50000000"}`},
		{"nulls for optional fields", `{"from_account":{"account_type":"funding","asset":"USDT","user_id":null},"to_account":{"account_type":"spot","asset":"USDT","user_id":null},"amount":"010.5","client_transfer_id":null}`},
		{"escaped strings", `{"from_account":{"account_type":"fund\u0069ng","asset":"USDT"},"to_account":{"account_type":"spot","asset":"US\u0044T"},"amount":"10.5"}`},
	}
	var first string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.post(1000, tc.body).wantOK(t, nil)
			cmd := h.svc.lastSubmit(t)
			if cmd.Amount != 1_050_000_000 || cmd.ToUserID != 1000 || cmd.IdempotencyKey != "" {
				t.Fatalf("command %+v", cmd)
			}
			if first == "" {
				first = cmd.Fingerprint
			} else if cmd.Fingerprint != first {
				t.Fatalf("fingerprint %s differs from the canonical body's %s", cmd.Fingerprint, first)
			}
		})
	}
	t.Run("different meaning, different fingerprint", func(t *testing.T) {
		h.post(1000, strings.Replace(okBody, "10.5", "10.6", 1)).wantOK(t, nil)
		if h.svc.lastSubmit(t).Fingerprint == first {
			t.Fatal("a different amount has the same fingerprint")
		}
	})
}

// The token's subject is the debited user whatever the body says.
func TestTransferSubjectDecidesDebitedUser(t *testing.T) {
	h := newHarness(t, nil)
	cross := `{"from_account":{"account_type":"funding","asset":"USDT"},"to_account":{"account_type":"funding","asset":"USDT","user_id":1000},"amount":"1"}`
	h.post(2000, cross).wantOK(t, nil)
	if cmd := h.svc.lastSubmit(t); cmd.UserID != 2000 || cmd.ToUserID != 1000 {
		t.Fatalf("user 2000 sending to 1000 became %d → %d", cmd.UserID, cmd.ToUserID)
	}
	before := h.svc.calls.Load()
	steal := `{"from_account":{"account_type":"funding","asset":"USDT","user_id":1000},"to_account":{"account_type":"funding","asset":"USDT","user_id":2000},"amount":"1"}`
	h.post(2000, steal).wantError(t, 403, codePermissionDenied, "from_account.user_id")
	if h.svc.calls.Load() != before {
		t.Fatal("service called for a body naming another user as the debited one")
	}
}

func TestTransferIdempotencyKey(t *testing.T) {
	h := newHarness(t, nil)
	withKey := withField(okBody, `"client_transfer_id":"order-1"`)
	cases := []struct {
		name    string
		body    string
		headers []string
		want    string
	}{
		{"body", withKey, nil, "order-1"},
		{"header", okBody, []string{"Idempotency-Key", "order-2"}, "order-2"},
		{"both equal", withKey, []string{"Idempotency-Key", "order-1"}, "order-1"},
		{"none", okBody, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got transferJSON
			h.post(1000, tc.body, tc.headers...).wantOK(t, &got)
			if k := h.svc.lastSubmit(t).IdempotencyKey; k != tc.want {
				t.Fatalf("command key %q, want %q", k, tc.want)
			}
			if tc.want != "" && (got.ClientTransferID == nil || *got.ClientTransferID != tc.want) {
				t.Fatalf("client_transfer_id %v, want %q", got.ClientTransferID, tc.want)
			}
		})
	}
}

// The Command must not alias fasthttp's buffers, which the next request on
// the connection overwrites.
func TestTransferCommandOwnsItsMemory(t *testing.T) {
	h := newHarness(t, nil)
	body := func(key string) string {
		return withField(okBody, `"client_transfer_id":"`+key+`"`)
	}
	h.post(1000, body("AAAAAAAAAAAAAAAA")).wantOK(t, nil)
	first := h.svc.lastSubmit(t)
	for i := 0; i < 20; i++ {
		h.post(1000, body("BBBBBBBBBBBBBBBB"), "X-Pad", strings.Repeat("z", i)).wantOK(t, nil)
	}
	if first.IdempotencyKey != "AAAAAAAAAAAAAAAA" || first.FromAccountType != "funding" || first.Asset != "USDT" {
		t.Fatalf("first command changed after later requests: %+v", first)
	}
}

func TestTransferServiceErrors(t *testing.T) {
	failed := func(code string) func(transfers.Command) (store.Request, error) {
		return func(cmd transfers.Command) (store.Request, error) {
			r := pendingFor(cmd, 99)
			r.Status, r.ErrorCode = store.StatusFailed, code
			var err error
			switch code {
			case codeInsufficientBalance:
				err = transfers.ErrInsufficientBalance
			case codeAccountFrozen:
				err = transfers.ErrAccountFrozen
			case codeAccountNotFound:
				err = transfers.ErrAccountNotFound
			}
			return r, fmt.Errorf("cannot hold: %w", err)
		}
	}
	fails := func(err error) func(transfers.Command) (store.Request, error) {
		return func(transfers.Command) (store.Request, error) { return store.Request{}, err }
	}
	cases := []struct {
		name       string
		submit     func(transfers.Command) (store.Request, error)
		status     int
		code       string
		retryAfter string
		requestID  bool
	}{
		{"insufficient balance", failed(codeInsufficientBalance), 422, codeInsufficientBalance, "", true},
		{"frozen", failed(codeAccountFrozen), 423, codeAccountFrozen, "", true},
		{"destination missing", failed(codeAccountNotFound), 422, codeAccountNotFound, "", true},
		{"idempotency conflict", fails(transfers.ErrIdempotencyConflict), 409, codeIdempotencyConflict, "", false},
		{"overloaded with retry", fails(&transfers.RetryableError{Err: transfers.ErrOverloaded, RetryAfter: 2500 * time.Millisecond}), 503, codeOverloaded, "3", false},
		{"overloaded bare", fails(transfers.ErrOverloaded), 503, codeOverloaded, "1", false},
		{"unavailable", fails(fmt.Errorf("cannot reach store: %w", &transfers.RetryableError{Err: transfers.ErrUnavailable, RetryAfter: 5 * time.Second})), 503, codeUnavailable, "5", false},
		{"deadline", fails(context.DeadlineExceeded), 503, codeUnavailable, "1", false},
		{"invalid", fails(fmt.Errorf("%w: route disabled", transfers.ErrInvalid)), 400, codeInvalidRequest, "", false},
		{"unclassified", fails(errors.New("disk on fire")), 500, codeInternal, "", false},
	}
	h := newHarness(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.svc.submit = tc.submit
			r := h.post(1000, okBody)
			r.wantError(t, tc.status, tc.code, "")
			if got := r.header["Retry-After"]; got != tc.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if tc.requestID && (r.Error.Details["request_id"] != "99" || r.Error.Details["status"] != "failed") {
				t.Fatalf("details %v, want request_id \"99\" and status failed", r.Error.Details)
			}
			if !tc.requestID && r.Error.Details["request_id"] != nil {
				t.Fatalf("details carry a request_id: %v", r.Error.Details)
			}
		})
	}
	t.Run("outcome unknown", func(t *testing.T) {
		h.svc.submit = func(transfers.Command) (store.Request, error) {
			return store.Request{ID: 99, Status: store.StatusRequesting},
				&transfers.RetryableError{Err: transfers.ErrOutcomeUnknown, RetryAfter: 2 * time.Second}
		}
		r := h.post(1000, okBody)
		r.wantError(t, 503, codeUnavailable, "")
		if got := r.header["Retry-After"]; got != "2" {
			t.Fatalf("Retry-After %q, want 2", got)
		}
		if r.Error.Details["request_id"] != "99" || r.Error.Details["status"] != "requesting" {
			t.Fatalf("details %v, want request_id \"99\" and status requesting: the client can look it up", r.Error.Details)
		}
		if !strings.Contains(r.Error.Message, "request_id") || !strings.Contains(r.Error.Message, "client_transfer_id") {
			t.Fatalf("message %q does not say how to learn the outcome", r.Error.Message)
		}
	})
	t.Run("replay of a failed request", func(t *testing.T) {
		h.svc.submit = failed(codeInsufficientBalance)
		r := h.post(1000, okBody, "Idempotency-Key", "k1")
		r.wantError(t, 422, codeInsufficientBalance, "")
	})
}

func TestTransferServiceTimeout(t *testing.T) {
	h := newHarnessWith(t, func(o *Options) { o.RequestTimeout = 50 * time.Millisecond },
		func(f *fakeService) TransferService { return &slowService{fakeService: f} })
	start := time.Now()
	h.post(1000, okBody).wantError(t, 503, codeUnavailable, "")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timed-out call took %v", d)
	}
}

// slowService blocks Submit until its context ends.
type slowService struct{ *fakeService }

func (s *slowService) Submit(ctx context.Context, cmd transfers.Command) (store.Request, error) {
	<-ctx.Done()
	return store.Request{}, ctx.Err()
}

func TestTransferBodyTooLarge(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.BodyLimitBytes = 1024 })
	big := strings.Replace(okBody, `"amount"`, `"pad":"`+strings.Repeat("x", 2000)+`","amount"`, 1)
	h.post(1000, big).wantError(t, 413, codePayloadTooLarge, "")
	if n := h.svc.calls.Load(); n != 0 {
		t.Fatalf("service called %d times", n)
	}
	// The handler enforces the limit too when mounted on a server allowing more.
	small, err := New(Options{Catalog: testCatalog(t), JWTSecret: testSecret, BodyLimitBytes: 100, Now: h.clock.Now}, h.svc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI(pathTransfer)
	ctx.Request.Header.Set("Authorization", "Bearer "+h.token(1000))
	ctx.Request.SetBodyString(okBody)
	small.UserHandler()(&ctx)
	if ctx.Response.StatusCode() != 413 || !strings.Contains(string(ctx.Response.Body()), codePayloadTooLarge) {
		t.Fatalf("handler-level limit: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n := h.svc.calls.Load(); n != 0 {
		t.Fatalf("service called %d times", n)
	}
}

// Headers up to the read buffer are served (a large token fits); beyond it
// the answer is 431 in the envelope, not a bare parse error.
func TestLargeHeaders(t *testing.T) {
	h := newHarness(t, nil)
	h.post(1000, okBody, "X-Pad", strings.Repeat("p", 6000)).wantOK(t, nil)
	h.post(1000, okBody, "X-Pad", strings.Repeat("p", 10000)).wantError(t, 431, codeInvalidRequest, "")
}

// withField adds a top-level field to a JSON object body.
func withField(body, field string) string {
	return body[:len(body)-1] + "," + field + "}"
}
