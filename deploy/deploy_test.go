package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Tests of the operations files with the operators' own tools. A missing
// tool skips the test (with the apt package that provides it), except under
// CI=true, where it fails: CI installs them (.ci/run).

const toolTimeout = 60 * time.Second

// needTool returns the path of tool, or skips (fails under CI=true).
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

// runTool runs tool with args in dir and returns its combined output.
func runTool(t *testing.T, dir, tool string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// repoRoot is the repository root: the package directory's parent.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Record      string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

func TestAlertRules(t *testing.T) {
	rulesPath := filepath.Join("prometheus", "alerts", "internal_transfer.yml")
	t.Run("promtool check rules", func(t *testing.T) {
		promtool := needTool(t, "promtool", "prometheus")
		if out, err := runTool(t, ".", promtool, "check", "rules", rulesPath); err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
	})
	t.Run("promtool test rules", func(t *testing.T) {
		promtool := needTool(t, "promtool", "prometheus")
		out, err := runTool(t, filepath.Join("prometheus", "alerts"), promtool, "test", "rules", "internal_transfer_test.yml")
		if err != nil || !strings.Contains(out, "SUCCESS") {
			t.Fatalf("promtool test rules: %v\n%s", err, out)
		}
	})
	t.Run("alerts, metrics and runbook anchors", func(t *testing.T) {
		var rf ruleFile
		if err := yaml.Unmarshal(readFile(t, rulesPath), &rf); err != nil {
			t.Fatal(err)
		}
		anchors := markdownAnchors(string(readFile(t, filepath.Join(repoRoot(t), "docs", "runbook.md"))))
		var names, records []string
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					records = append(records, r.Record)
					if unknown := UnknownMetrics(r.Expr); len(unknown) > 0 {
						t.Errorf("recording rule %s names metrics no service exports: %v", r.Record, unknown)
					}
					continue
				}
				names = append(names, r.Alert)
				if unknown := UnknownMetrics(r.Expr); len(unknown) > 0 {
					t.Errorf("alert %s names metrics no service exports: %v", r.Alert, unknown)
				}
				if s := r.Labels["severity"]; s != "critical" && s != "warning" {
					t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
				}
				anchor, ok := strings.CutPrefix(r.Annotations["runbook"], "docs/runbook.md#")
				if !ok || !anchors[anchor] {
					t.Errorf("alert %s: runbook annotation %q does not point at a heading of docs/runbook.md", r.Alert, r.Annotations["runbook"])
				}
			}
		}
		for _, want := range []string{"HighFailureRate", "StuckTransfers", "HighLatency", "TigerBeetleDown", "DatabaseDown", "KafkaDown", "SettlementLag"} {
			if !slices.Contains(names, want) {
				t.Errorf("alert %s missing; have %v", want, names)
			}
		}
		if !slices.Contains(records, "cluster:internal_transfer_success_rate:ratio_rate1m") {
			t.Errorf("recording rule of the cluster success rate missing; have %v", records)
		}
	})
}

// markdownAnchors returns the GitHub anchors of the headings in md.
func markdownAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		anchors[strings.ReplaceAll(drop.ReplaceAllString(title, ""), " ", "-")] = true
	}
	return anchors
}

func TestPrometheusConfig(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	// A copy, so that nothing promtool resolves or writes touches the tree.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("prometheus")); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, dir, promtool, "check", "config", "prometheus.yml")
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(readFile(t, filepath.Join("prometheus", "alerts", "internal_transfer.yml")), &rf); err != nil {
		t.Fatal(err)
	}
	rules := 0
	for _, g := range rf.Groups {
		rules += len(g.Rules)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", rules); rules == 0 || !strings.Contains(out, want) {
		t.Errorf("promtool check config did not load the %d alert rules:\n%s", rules, out)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join("prometheus", "prometheus.yml")), &cfg); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
	}
	for _, want := range []string{JobGateway, JobSettlement} {
		if !slices.Contains(jobs, want) {
			t.Errorf("scrape job %s missing; have %v", want, jobs)
		}
	}
	for _, rf := range cfg.RuleFiles {
		if strings.HasSuffix(rf, "_test.yml") || strings.Contains(rf, "*") {
			t.Errorf("rule_files entry %q would load the promtool unit tests as rules", rf)
		}
	}
}

func TestHAProxyConfigs(t *testing.T) {
	t.Run("production config has the routing and checks", func(t *testing.T) {
		cfg := string(readFile(t, filepath.Join("haproxy", "haproxy.cfg")))
		for _, want := range []string{
			"balance hash var(txn.sub)", "jwt_payload_query('$.sub')", "hash-type consistent",
			"option httpchk GET /health", "http-check expect status 200",
			"server gw1 ", "server gw2 ", "server gw3 ",
			"frontend fe_admin", "http-request deny deny_status 403 unless ops_network",
			"stats enable", "timeout server", "maxconn",
		} {
			if !strings.Contains(cfg, want) {
				t.Errorf("haproxy.cfg lacks %q", want)
			}
		}
	})
	t.Run("haproxy -c production", func(t *testing.T) {
		haproxy := needTool(t, "haproxy", "haproxy")
		if out, err := runTool(t, ".", haproxy, "-c", "-f", filepath.Join("haproxy", "haproxy.cfg")); err != nil {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
	})
	t.Run("haproxy -c local", func(t *testing.T) {
		haproxy := needTool(t, "haproxy", "haproxy")
		cfg, err := RenderLocalHAProxy(LocalHAProxy{
			UserListen: "127.0.0.1:18080", Gateways: []string{"127.0.0.1:8080", "127.0.0.1:8090"},
			AdminListen: "127.0.0.1:18081", AdminGateways: []string{"127.0.0.1:8081", "127.0.0.1:8091"},
			StatsListen: "127.0.0.1:18404",
		})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "haproxy-local.cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runTool(t, ".", haproxy, "-c", "-f", path); err != nil {
			t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
		}
	})
}

// unitDirectives parses a systemd unit into "Section.Key" → values.
func unitDirectives(unit string) map[string][]string {
	d := map[string][]string{}
	section := ""
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			d[section+"."+k] = append(d[section+"."+k], v)
		}
	}
	return d
}

func TestSystemdUnits(t *testing.T) {
	units := map[string]string{
		"internal-transfer-gateway.service":    "gateway_service",
		"internal-transfer-settlement.service": "settlement_service",
	}
	for unit, binary := range units {
		t.Run(unit+" directives", func(t *testing.T) {
			d := unitDirectives(string(readFile(t, filepath.Join("systemd", unit))))
			service := strings.TrimSuffix(unit, ".service")
			want := map[string]string{
				"Unit.After": "network-online.target", "Unit.Wants": "network-online.target",
				"Service.ExecStart":                "/opt/services/internal-transfer/bin/" + binary + " -config /opt/services/internal-transfer/config/internal_transfer_prod.yaml",
				"Service.Restart":                  "on-failure",
				"Service.Type":                     "exec",
				"Service.RestartPreventExitStatus": "2",
				"Service.LimitNOFILE":              "1048576",
				"Service.User":                     "internal-transfer",
				"Service.Group":                    "internal-transfer",
				"Service.KillSignal":               "SIGTERM",
				"Service.NoNewPrivileges":          "yes", "Service.ProtectSystem": "strict",
				"Service.ProtectHome": "yes", "Service.PrivateTmp": "yes",
				"Service.ReadWritePaths": "/var/lib/internal-transfer",
				"Install.WantedBy":       "multi-user.target",
			}
			for key, value := range want {
				if !slices.Contains(d[key], value) {
					t.Errorf("%s = %q, want %q", key, d[key], value)
				}
			}
			for _, env := range []string{"-/etc/default/internal-transfer", "-/etc/default/" + service} {
				if !slices.Contains(d["Service.EnvironmentFile"], env) {
					t.Errorf("EnvironmentFile %q missing; have %q", env, d["Service.EnvironmentFile"])
				}
			}
			for _, key := range []string{"Service.RestartSec", "Service.TimeoutStopSec"} {
				if len(d[key]) != 1 {
					t.Errorf("%s must be set once, have %q", key, d[key])
				}
			}
		})
	}
	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze := needTool(t, "systemd-analyze", "systemd")
		// systemd-analyze refuses an ExecStart binary that does not exist;
		// the binaries live on the servers, so verify copies pointing at /bin/true.
		dir := t.TempDir()
		execStart := regexp.MustCompile(`(?m)^ExecStart=\S+`)
		var paths []string
		for unit := range units {
			text := execStart.ReplaceAllString(string(readFile(t, filepath.Join("systemd", unit))), "ExecStart=/bin/true")
			path := filepath.Join(dir, unit)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, path)
		}
		out, err := runTool(t, dir, analyze, append([]string{"verify"}, paths...)...)
		if err != nil {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		// Unknown keys and bad values are warnings with exit 0: fail on any
		// line about our units.
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "internal-transfer") {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	})
	t.Run("sysusers dry run", func(t *testing.T) {
		sysusers := needTool(t, "systemd-sysusers", "systemd")
		path, err := filepath.Abs(filepath.Join("systemd", "internal-transfer.sysusers"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := runTool(t, ".", sysusers, "--dry-run", path)
		if err != nil {
			t.Fatalf("systemd-sysusers --dry-run: %v\n%s", err, out)
		}
		// On a host that already has the user, sysusers has nothing to create.
		if exec.Command("id", "internal-transfer").Run() != nil &&
			!strings.Contains(out, "Creating user 'internal-transfer'") {
			t.Errorf("systemd-sysusers would not create the internal-transfer user:\n%s", out)
		}
	})
}

func TestShellSyntax(t *testing.T) {
	bash := needTool(t, "bash", "bash")
	for _, script := range []string{"package.sh", "install.sh"} {
		t.Run(script, func(t *testing.T) {
			if out, err := runTool(t, ".", bash, "-n", script); err != nil {
				t.Fatalf("bash -n %s: %v\n%s", script, err, out)
			}
			info, err := os.Stat(script)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable", script)
			}
		})
	}
}

// exitCode is the exit status of a finished command's error, 0 for nil.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
