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
	return stubAdminOn(t, "127.0.0.1", status)
}

// stubAdminOn is stubAdmin listening on host.
func stubAdminOn(t *testing.T, host string, status int) *[]map[string]any {
	t.Helper()
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		b := map[string]any{"method": r.Method, "path": r.URL.Path}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Errorf("body %s: %v", raw, err)
			}
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"success":false,"data":null,"error":{"code":"UNAVAILABLE","message":"m"}}`))
	}))
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
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

// With server.admin_bind_address set, the admin API is reached there, not
// on server.bind_address.
func TestAdminCommandsUseTheAdminHost(t *testing.T) {
	t.Setenv("IT_SERVER_ADMIN_BIND_ADDRESS", "127.0.0.2")
	bodies := stubAdminOn(t, "127.0.0.2", http.StatusUnprocessableEntity)
	err := cmdMove("deposit", []string{"--user", "7", "--amount", "1", "--key", "k", "--config", "../../config/dev.yaml"})
	if len(*bodies) != 1 {
		t.Fatalf("deposit with the admin API on 127.0.0.2: %v, %d requests reached it", err, len(*bodies))
	}
}

// An argument that is not a flag stops the flag package, so the flags after
// it would be dropped: a deposit of the wrong asset under a new key. Every
// command refuses it before sending anything.
func TestStrayArgumentsAreRefused(t *testing.T) {
	bodies := stubAdmin(t, http.StatusOK)
	cfg := []string{"--config", "../../config/dev.yaml"}
	cases := map[string]func() error{
		"deposit": func() error {
			return cmdMove("deposit", append([]string{"--user", "5", "--amount", "100", "oops", "--key", "K1", "--asset", "BTC"}, cfg...))
		},
		"transfer": func() error {
			return cmdTransfer(append([]string{"--user", "5", "--amount", "1", "x", "--to-user", "7"}, cfg...))
		},
		"void after the id": func() error {
			return cmdResolve("void", append([]string{"7", "--operator", "a", "--reason", "b", "extra"}, cfg...))
		},
		"status, two ids": func() error { return cmdStatus(append([]string{"12", "13"}, cfg...)) },
		"status, id after flags and another": func() error {
			return cmdStatus(append(append([]string{}, cfg...), "12", "13"))
		},
		"verify": func() error { return cmdVerify([]string{"--users", "1-2", "extra"}) },
	}
	for name, run := range cases {
		err := run()
		if _, usage := err.(usageError); !usage {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
	if len(*bodies) != 0 {
		t.Fatalf("%d requests sent for refused commands: %v", len(*bodies), *bodies)
	}
	// REQUEST_ID after the flags still works.
	if err := cmdStatus(append(append([]string{}, cfg...), "12")); err != nil {
		if _, usage := err.(usageError); usage {
			t.Fatalf("status with the id after the flags: %v", err)
		}
	}
}

func TestParseUsersRangeAtTheTop(t *testing.T) {
	got, err := parseUsers("18446744073709551614-18446744073709551615")
	if err != nil || len(got) != 2 || got[1] != 18446744073709551615 {
		t.Fatalf("parseUsers = %v, %v; want the two largest ids", got, err)
	}
}
