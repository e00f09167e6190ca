package node_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/config"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// gatewayBinary builds cmd/gateway_service once per test run.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gateway-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway_service")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/exchange/internal-transfer/cmd/gateway_service").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is the gateway running as a child process.
type proc struct {
	cmd *exec.Cmd
	env []string
}

func startProc(t *testing.T, env []string, crashAt string) *proc {
	t.Helper()
	cmd := exec.Command(gatewayBinary(t), "-config", "../../../config/dev.yaml")
	cmd.Env = append(append(os.Environ(), env...), transfers.CrashEnv+"="+crashAt)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, env: env}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return p
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("service not ready within 30 s")
}

// TestCrashBetweenStepsIsFinishedByRestart kills the gateway with SIGKILL
// right after each step of a transfer, restarts it on the same data, and
// checks the request ends success with the funds moved exactly once.
func TestCrashBetweenStepsIsFinishedByRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	for _, point := range []string{"after-requesting", "after-hold", "after-pending"} {
		t.Run(point, func(t *testing.T) {
			api, admin, metrics, kafka := freePort(t), freePort(t), freePort(t), freePort(t)
			cfg := testConfig(t.TempDir())
			env := []string{
				"IT_SERVER_DATA_DIR=" + cfg.Server.DataDir,
				"IT_SERVER_LOG_LEVEL=warn",
				"IT_MONITORING_HEALTH_CHECK_PORT=" + strconv.Itoa(api),
				"IT_SERVER_ADMIN_PORT=" + strconv.Itoa(admin),
				"IT_MONITORING_PROMETHEUS_PORT=" + strconv.Itoa(metrics),
				"IT_KAFKA_EMBEDDED_LISTEN=127.0.0.1:" + strconv.Itoa(kafka),
				"IT_SETTLEMENT_SCANNER_INTERVAL_MS=200",
				"IT_SETTLEMENT_GRACE_MS=500",
				// waitStatus polls every 10 ms; dev.yaml's 60 requests a
				// minute would answer 429 once settling takes a moment.
				"IT_RATE_LIMITING_MAX_REQUESTS_PER_MINUTE=" + strconv.Itoa(cfg.RateLimiting.MaxRequestsPerMinute),
			}
			dev, err := config.Load("../../../config/dev.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Auth = dev.Auth
			base := "http://127.0.0.1:" + strconv.Itoa(api)
			s := &svc{t: t, cfg: cfg, apiBase: base, adminBase: "http://127.0.0.1:" + strconv.Itoa(admin),
				http: &http.Client{Timeout: 10 * time.Second}}

			p := startProc(t, env, point)
			waitReady(t, base)
			user := newUser()
			s.deposit(user, "funding", "USDT", "100")
			body := transferBody("funding", "spot", "USDT", "10", 0, "crash-"+point)
			raw, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", s.api("/api/v1/user/internal_transfer"), bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+s.token(user))
			if resp, err := s.http.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("the crash point %s did not fire: got %d", point, resp.StatusCode)
			}
			if err := p.cmd.Wait(); err == nil || !killed(err) {
				t.Fatalf("gateway did not die of SIGKILL: %v", err)
			}

			startProc(t, env, "")
			waitReady(t, base)
			// The client retries with its key: it gets the original request,
			// which the restarted service finishes.
			var id string
			deadline := time.Now().Add(15 * time.Second)
			for id == "" && time.Now().Before(deadline) {
				if e, tr := s.post(user, body); e.Status == 200 {
					id = tr.RequestID
				} else {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if id == "" {
				t.Fatal("the replayed request never answered 200")
			}
			if final := s.waitStatus(user, id, 15*time.Second); final.Status != "success" {
				t.Fatalf("request %s ended %q after restart, want success", id, final.Status)
			}
			s.wantBalance(user, "funding", "USDT", "90.00000000", "0.00000000")
			s.wantBalance(user, "spot", "USDT", "10.00000000", "0.00000000")
		})
	}
}

func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// A stray argument before -config would make the flag package ignore
// -config and load the default (dev) config: the binary refuses it.
func TestGatewayRefusesStrayArguments(t *testing.T) {
	cmd := exec.Command(gatewayBinary(t), "extra", "-config", "/nonexistent.yaml")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), `unexpected argument "extra"`) {
		t.Fatalf("gateway_service extra -config …: %v\n%s", err, out)
	}
}
