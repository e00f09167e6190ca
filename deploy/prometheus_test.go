package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type rulesDoc struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			For    string            `yaml:"for"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func parseRules(t *testing.T, data []byte) rulesDoc {
	t.Helper()
	var d rulesDoc
	if err := yaml.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWriteLocalPrometheusRuleInterval(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteLocalPrometheus(dir, LocalPrometheus{GatewayTargets: []string{"127.0.0.1:9090"}, RuleInterval: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(dir, "internal_transfer.yml"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, got := parseRules(t, AlertRulesYAML), parseRules(t, written)
	if len(got.Groups) != len(shipped.Groups) || len(got.Groups) == 0 {
		t.Fatalf("groups %d, want %d", len(got.Groups), len(shipped.Groups))
	}
	for i, g := range got.Groups {
		if g.Interval != "2s" {
			t.Errorf("group %s interval %q, want 2s", g.Name, g.Interval)
		}
		want := shipped.Groups[i]
		if len(g.Rules) != len(want.Rules) {
			t.Fatalf("group %s: %d rules, want %d", g.Name, len(g.Rules), len(want.Rules))
		}
		for j, r := range g.Rules {
			w := want.Rules[j]
			if r.Alert != w.Alert || r.Expr != w.Expr || r.For != w.For || len(r.Labels) != len(w.Labels) {
				t.Errorf("rule %s changed: %+v, shipped %+v", w.Alert, r, w)
			}
		}
	}

	t.Run("without RuleInterval the shipped file is copied as is", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := WriteLocalPrometheus(dir, LocalPrometheus{GatewayTargets: []string{"127.0.0.1:9090"}}); err != nil {
			t.Fatal(err)
		}
		if written, _ := os.ReadFile(filepath.Join(dir, "internal_transfer.yml")); string(written) != string(AlertRulesYAML) {
			t.Fatal("rules copy differs from the shipped file")
		}
	})
	t.Run("group without interval gets one", func(t *testing.T) {
		out, err := withRuleInterval([]byte("groups:\n  - name: g\n    rules: []\n"), 3*time.Second)
		if err != nil || !strings.Contains(string(out), "interval: 3s") {
			t.Fatalf("got %q, %v", out, err)
		}
	})
	for name, c := range map[string]struct {
		data     string
		interval time.Duration
	}{
		"sub-second":    {"groups: [{name: g}]", 500 * time.Millisecond},
		"fraction":      {"groups: [{name: g}]", 1500 * time.Millisecond},
		"no groups":     {"rules: []", time.Second},
		"empty":         {"", time.Second},
		"not YAML":      {"groups: [", time.Second},
		"groups as map": {"groups: {a: 1}", time.Second},
	} {
		t.Run("refuses "+name, func(t *testing.T) {
			if out, err := withRuleInterval([]byte(c.data), c.interval); err == nil {
				t.Fatalf("accepted: %q", out)
			} else if strings.HasPrefix(name, "sub") && !errors.Is(err, ErrInvalidPrometheus) {
				t.Fatalf("err = %v, want ErrInvalidPrometheus", err)
			}
		})
	}
}
