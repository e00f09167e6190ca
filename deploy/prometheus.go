package deploy

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// AlertRulesYAML is deploy/prometheus/alerts/internal_transfer.yml, the
// alert rules operators load.
//
//go:embed prometheus/alerts/internal_transfer.yml
var AlertRulesYAML []byte

// LocalPrometheus is a Prometheus on this machine scraping services running
// here under the production job names, optionally loading the shipped alert
// rules, for system tests.
type LocalPrometheus struct {
	GatewayTargets    []string      // host:port of each gateway's /metrics
	SettlementTargets []string      // host:port of each settlement node's /metrics
	ScrapeInterval    time.Duration // 0 means 1 * time.Second
	RulesFile         string        // optional: path of alerts/internal_transfer.yml to load
	// RuleInterval, when set, replaces every rule group's evaluation
	// interval in the copy WriteLocalPrometheus writes (whole seconds), so
	// a test sees the rules evaluated within seconds instead of the
	// production 30 s. The expressions are left as shipped.
	RuleInterval time.Duration
}

// RenderLocalPrometheus returns the prometheus.yml for l, ready for
// `prometheus --config.file=FILE --storage.tsdb.path=DIR --web.listen-address=ADDR`.
func RenderLocalPrometheus(l LocalPrometheus) (string, error) {
	if len(l.GatewayTargets)+len(l.SettlementTargets) == 0 {
		return "", fmt.Errorf("%w: no targets to scrape", ErrInvalidPrometheus)
	}
	for _, target := range append(append([]string(nil), l.GatewayTargets...), l.SettlementTargets...) {
		if err := validAddr(ErrInvalidPrometheus, "target", target); err != nil {
			return "", err
		}
	}
	interval := l.ScrapeInterval
	switch {
	case interval == 0:
		interval = time.Second
	case interval < time.Second || interval%time.Second != 0:
		return "", fmt.Errorf("%w: scrape interval %v must be whole seconds", ErrInvalidPrometheus, interval)
	}
	var b strings.Builder
	secs := int64(interval / time.Second)
	fmt.Fprintf(&b, "global:\n  scrape_interval: %ds\n  scrape_timeout: %ds\n  evaluation_interval: %ds\n", secs, secs, secs)
	if l.RulesFile != "" {
		abs, err := filepath.Abs(l.RulesFile)
		if err != nil || strings.ContainsAny(abs, "\"\n") {
			return "", fmt.Errorf("%w: rules file %q", ErrInvalidPrometheus, l.RulesFile)
		}
		fmt.Fprintf(&b, "rule_files:\n  - %q\n", abs)
	}
	b.WriteString("scrape_configs:\n")
	for _, job := range []struct {
		name    string
		targets []string
	}{{JobGateway, l.GatewayTargets}, {JobSettlement, l.SettlementTargets}} {
		if len(job.targets) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n      - targets:\n", job.name)
		for _, target := range job.targets {
			fmt.Fprintf(&b, "          - %q\n", target)
		}
	}
	return b.String(), nil
}

// WriteLocalPrometheus writes the shipped alert rules and the configuration
// for l, loading them, into dir (which must exist) and returns the
// configuration's path. l.RulesFile is ignored: the rules are dir's copy.
func WriteLocalPrometheus(dir string, l LocalPrometheus) (string, error) {
	rules := filepath.Join(dir, "internal_transfer.yml")
	l.RulesFile = rules
	cfg, err := RenderLocalPrometheus(l)
	if err != nil {
		return "", err
	}
	rulesYAML := AlertRulesYAML
	if l.RuleInterval != 0 {
		if rulesYAML, err = withRuleInterval(AlertRulesYAML, l.RuleInterval); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(rules, rulesYAML, 0o644); err != nil {
		return "", fmt.Errorf("cannot write alert rules: %w", err)
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return "", fmt.Errorf("cannot write prometheus.yml: %w", err)
	}
	return path, nil
}

// withRuleInterval returns the rules file data with every group's interval
// set to interval, everything else as it was.
func withRuleInterval(data []byte, interval time.Duration) ([]byte, error) {
	if interval < time.Second || interval%time.Second != 0 {
		return nil, fmt.Errorf("%w: rule interval %v must be whole seconds", ErrInvalidPrometheus, interval)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cannot parse alert rules: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("cannot set the rule interval: the rules file is empty")
	}
	groups := mappingValue(doc.Content[0], "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode || len(groups.Content) == 0 {
		return nil, fmt.Errorf("cannot set the rule interval: the rules file has no groups")
	}
	value := fmt.Sprintf("%ds", int64(interval/time.Second))
	for _, g := range groups.Content {
		if v := mappingValue(g, "interval"); v != nil {
			v.Value = value
			continue
		}
		g.Content = append(g.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "interval"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("cannot write alert rules: %w", err)
	}
	return out, nil
}

// mappingValue returns the value node of key in mapping node m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
