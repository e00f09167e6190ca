package ingress

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/google/go-cmp/cmp"
)

func (h *harness) adminDo(method, path, body string) reply {
	h.t.Helper()
	return h.do(h.admCl, method, path, body, "Authorization", "Bearer "+testAdminToken)
}

func TestAdminAuth(t *testing.T) {
	h := newHarness(t, nil)
	body := `{"user_id":1000,"account_type":"funding","asset":"USDT","amount":"100"}`
	for name, hdr := range map[string][]string{
		"missing":         nil,
		"wrong token":     {"Authorization", "Bearer " + testAdminToken + "x"},
		"prefix of token": {"Authorization", "Bearer " + testAdminToken[:10]},
		"user JWT":        {"Authorization", "Bearer " + h.token(1000)},
		"basic":           {"Authorization", "Basic " + testAdminToken},
		"twice":           {"Authorization", "Bearer " + testAdminToken, "Authorization", "Bearer " + testAdminToken},
	} {
		t.Run(name, func(t *testing.T) {
			h.do(h.admCl, "POST", "/admin/v1/deposit", body, hdr...).wantError(t, 401, codeUnauthorized, "")
		})
	}
	// Without the token no path or method tells anything: not which
	// routes exist (405 for a known one), nor the operator tools.
	for _, req := range [][2]string{{"GET", "/admin/v1/deposit"}, {"GET", "/admin/v1/nothing-here"},
		{"DELETE", "/admin/v1/requests/1/void"}, {"GET", "/"}} {
		h.do(h.admCl, req[0], req[1], "").wantError(t, 401, codeUnauthorized, "")
	}
	if calls := h.admin.log(); len(calls) != 0 {
		t.Fatalf("admin service called without a valid token: %v", calls)
	}
	// The user listener does not serve admin routes, nor the admin one user routes.
	h.user(1000, "POST", "/admin/v1/deposit", body).wantError(t, 404, codeNotFound, "")
	h.adminDo("GET", pathBalances, "").wantError(t, 404, codeNotFound, "")
}

func TestAdminOperations(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		name, method, path, body string
		call                     string
		data                     string
	}{
		{"deposit", "POST", "/admin/v1/deposit", `{"user_id":1000,"account_type":"funding","asset":"USDT","amount":"100","idempotency_key":"dep-1"}`,
			`deposit 1000 funding USDT 10000000000 "dep-1"`,
			`{"user_id":1000,"account_type":"funding","asset":"USDT","amount":"100.00000000","idempotency_key":"dep-1"}`},
		// Without a key, one is made and told (see TestAdminKeyMadeForAnUnknownOutcome).
		{"withdraw", "POST", "/admin/v1/withdraw", `{"user_id":"7","account_type":"spot","asset":"JPY","amount":"5"}`,
			`withdraw 7 spot JPY 5 "{key}"`,
			`{"user_id":7,"account_type":"spot","asset":"JPY","amount":"5","idempotency_key":"{key}"}`},
		{"freeze", "POST", "/admin/v1/freeze", `{"user_id":1000,"account_type":"funding","asset":"BTC"}`,
			`freeze 1000 funding BTC`, `{"user_id":1000,"account_type":"funding","asset":"BTC","frozen":true}`},
		{"unfreeze", "POST", "/admin/v1/unfreeze", `{"user_id":1000,"account_type":"funding","asset":"BTC"}`,
			`unfreeze 1000 funding BTC`, `{"user_id":1000,"account_type":"funding","asset":"BTC","frozen":false}`},
		{"balances", "GET", "/admin/v1/balances?user_id=1000", "", `balances 1000`,
			`{"user_id":1000,"balances":[{"account_type":"funding","asset":"USDT","available":"1.50000000","held":"0.00000001","incoming":"0.00000002","frozen":true},` +
				`{"account_type":"spot","asset":"USDT","available":"0.00000005","held":"0.00000000","incoming":"0.00000000","frozen":false}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.adminDo(tc.method, tc.path, tc.body)
			r.wantOK(t, nil)
			calls := h.admin.log()
			last := calls[len(calls)-1]
			if strings.Contains(tc.call, "{key}") {
				key := madeKey.FindString(last)
				if key == "" {
					t.Fatalf("call %q: no key made", last)
				}
				tc.call = strings.ReplaceAll(tc.call, "{key}", key)
				tc.data = strings.ReplaceAll(tc.data, "{key}", key)
			}
			if string(r.Data) != tc.data {
				t.Fatalf("data\n got %s\nwant %s", r.Data, tc.data)
			}
			if diff := cmp.Diff(tc.call, last); diff != "" {
				t.Fatalf("service call (-want +got):\n%s", diff)
			}
		})
	}
}

// madeKey matches a key the admin API made for an operation sent without one.
var madeKey = regexp.MustCompile(`admin-[0-9a-f]{32}`)

// A deposit sent without a key whose outcome is unknown (it may still be
// applied) names the key it was made with, and a retry with that key is
// the same operation (the same ledger id): it cannot apply twice.
func TestAdminKeyMadeForAnUnknownOutcome(t *testing.T) {
	h := newHarness(t, nil)
	h.admin.err = &transfers.RetryableError{Err: transfers.ErrOutcomeUnknown, RetryAfter: time.Second}
	r := h.adminDo("POST", "/admin/v1/deposit", `{"user_id":1000,"account_type":"funding","asset":"USDT","amount":"1"}`)
	r.wantError(t, 503, r.Error.Code, "")
	key := madeKey.FindString(r.Error.Message)
	calls := h.admin.log()
	if key == "" || !strings.Contains(calls[len(calls)-1], `"`+key+`"`) {
		t.Fatalf("answer %q, call %q: want the key the call was made with named in the answer", r.Error.Message, calls[len(calls)-1])
	}
	h.admin.err = nil
	h.adminDo("POST", "/admin/v1/deposit", `{"user_id":1000,"account_type":"funding","asset":"USDT","amount":"1","idempotency_key":"`+key+`"}`).wantOK(t, nil)
	if calls := h.admin.log(); calls[len(calls)-1] != calls[len(calls)-2] {
		t.Fatalf("retry called %q, first try %q: want the same operation", calls[len(calls)-1], calls[len(calls)-2])
	}
	// A definite refusal needs no retry hint.
	h.admin.err = transfers.ErrInsufficientBalance
	if r := h.adminDo("POST", "/admin/v1/withdraw", `{"user_id":1000,"account_type":"funding","asset":"USDT","amount":"1"}`); strings.Contains(r.Error.Message, "retry") {
		t.Fatalf("a refusal with a retry hint: %q", r.Error.Message)
	}
}

func TestAdminValidation(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"unknown route", "POST", "/admin/v1/nothing", `{}`, 404, codeNotFound, ""},
		{"wrong method", "GET", "/admin/v1/deposit", "", 405, codeMethodNotAllowed, ""},
		{"missing user", "POST", "/admin/v1/deposit", `{"account_type":"funding","asset":"USDT","amount":"1"}`, 400, codeInvalidRequest, "user_id"},
		{"missing amount", "POST", "/admin/v1/deposit", `{"user_id":1,"account_type":"funding","asset":"USDT"}`, 400, codeInvalidRequest, "amount"},
		{"amount on freeze", "POST", "/admin/v1/freeze", `{"user_id":1,"account_type":"funding","asset":"USDT","amount":"1"}`, 400, codeInvalidRequest, "amount"},
		{"unknown field", "POST", "/admin/v1/deposit", `{"user_id":1,"account_type":"funding","asset":"USDT","amount":"1","memo":"x"}`, 400, codeInvalidRequest, "memo"},
		{"duplicate field", "POST", "/admin/v1/deposit", `{"user_id":1,"user_id":2,"account_type":"funding","asset":"USDT","amount":"1"}`, 400, codeInvalidRequest, "user_id"},
		{"bad amount", "POST", "/admin/v1/deposit", `{"user_id":1,"account_type":"funding","asset":"USDT","amount":"-1"}`, 400, codeInvalidAmount, "amount"},
		{"bad precision", "POST", "/admin/v1/withdraw", `{"user_id":1,"account_type":"funding","asset":"JPY","amount":"1.5"}`, 400, codeInvalidPrecision, "amount"},
		{"unknown asset", "POST", "/admin/v1/deposit", `{"user_id":1,"account_type":"funding","asset":"DOGE","amount":"1"}`, 400, codeInvalidAsset, "asset"},
		{"unknown type", "POST", "/admin/v1/freeze", `{"user_id":1,"account_type":"vault","asset":"USDT"}`, 400, codeInvalidAccountType, "account_type"},
		{"bad key", "POST", "/admin/v1/deposit", `{"user_id":1,"account_type":"funding","asset":"USDT","amount":"1","idempotency_key":"` + strings.Repeat("k", 65) + `"}`, 400, codeInvalidRequest, "idempotency_key"},
		{"balances without user", "GET", "/admin/v1/balances", "", 400, codeInvalidRequest, "user_id"},
		{"balances bad user", "GET", "/admin/v1/balances?user_id=x", "", 400, codeInvalidRequest, "user_id"},
		{"balances extra param", "GET", "/admin/v1/balances?user_id=1&x=2", "", 400, codeInvalidRequest, "user_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.adminDo(tc.method, tc.path, tc.body).wantError(t, tc.status, tc.code, tc.field)
		})
	}
	if calls := h.admin.log(); len(calls) != 0 {
		t.Fatalf("admin service called for refused requests: %v", calls)
	}
}

func TestAdminServiceErrors(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{transfers.ErrInsufficientBalance, 422, codeInsufficientBalance},
		{transfers.ErrAccountFrozen, 423, codeAccountFrozen},
		{&transfers.RetryableError{Err: transfers.ErrOverloaded}, 503, codeOverloaded},
		{errors.New("boom"), 500, codeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			h.admin.err = tc.err
			h.adminDo("POST", "/admin/v1/withdraw", `{"user_id":1,"account_type":"funding","asset":"USDT","amount":"1"}`).
				wantError(t, tc.status, tc.code, "")
		})
	}
	t.Run("outcome unknown", func(t *testing.T) {
		h.admin.err = &transfers.RetryableError{Err: transfers.ErrOutcomeUnknown, RetryAfter: time.Second}
		r := h.adminDo("POST", "/admin/v1/deposit", `{"user_id":1,"account_type":"funding","asset":"USDT","amount":"1"}`)
		r.wantError(t, 503, codeUnavailable, "")
		if !strings.Contains(r.Error.Message, "idempotency key") || strings.Contains(r.Error.Message, "request_id") {
			t.Fatalf("message %q: want the advice to retry with the same idempotency key, and no request_id to look up", r.Error.Message)
		}
	})
	// Freeze and unfreeze take no idempotency key: the advice is to repeat
	// the same request.
	for _, path := range []string{"/admin/v1/freeze", "/admin/v1/unfreeze"} {
		t.Run("outcome unknown "+path, func(t *testing.T) {
			h.admin.err = &transfers.RetryableError{Err: transfers.ErrOutcomeUnknown, RetryAfter: time.Second}
			r := h.adminDo("POST", path, `{"user_id":1,"account_type":"funding","asset":"USDT"}`)
			r.wantError(t, 503, codeUnavailable, "")
			if !strings.Contains(r.Error.Message, "repeat this same request") || strings.Contains(r.Error.Message, "idempotency key") ||
				r.header["Retry-After"] == "" {
				t.Fatalf("message %q, Retry-After %q: want the advice to repeat the request, none about keys", r.Error.Message, r.header["Retry-After"])
			}
		})
	}
}
