package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// stubAdmin serves the admin API's deposit with status, recording the
// bodies; the config's admin port points at it.
func stubAdmin(t *testing.T, status int) *[]map[string]any {
	t.Helper()
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b map[string]any
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Errorf("body %s: %v", raw, err)
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"success":false,"data":null,"error":{"code":"UNAVAILABLE","message":"m"}}`))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	t.Setenv("IT_SERVER_ADMIN_PORT", port)
	return &bodies
}

// A deposit without --key still sends one, and when its outcome is unknown
// the error names it, so that repeating the command cannot deposit twice.
func TestMoveWithoutKeySendsOneAndNamesIt(t *testing.T) {
	bodies := stubAdmin(t, http.StatusServiceUnavailable)
	err := cmdMove("deposit", []string{"--user", "7", "--amount", "1", "--config", "../../config/dev.yaml"})
	if err == nil || len(*bodies) != 1 {
		t.Fatalf("deposit against a 503: %v, %d requests", err, len(*bodies))
	}
	key, _ := (*bodies)[0]["idempotency_key"].(string)
	if !strings.HasPrefix(key, "itctl-") || !strings.Contains(err.Error(), "--key "+key) {
		t.Fatalf("sent key %q; error %q should name it", key, err)
	}
	// A refusal is an outcome: no hint.
	stubAdmin(t, http.StatusUnprocessableEntity)
	err = cmdMove("withdraw", []string{"--user", "7", "--amount", "1", "--key", "mine", "--config", "../../config/dev.yaml"})
	if err == nil || strings.Contains(err.Error(), "--key") {
		t.Fatalf("withdraw refused with 422: %v; want an error without the retry hint", err)
	}
}
