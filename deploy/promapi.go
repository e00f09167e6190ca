package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Rule is one rule Prometheus loaded, as its /api/v1/rules reports it.
type Rule struct {
	Group     string
	Name      string // the alert's or recorded series' name
	Type      string // "alerting" or "recording"
	Health    string // "ok", "err", or "unknown" before its first evaluation
	LastError string
}

// PrometheusRules returns every rule the Prometheus at promURL has loaded,
// in group order. The call is bounded by 10 s and by ctx.
func PrometheusRules(ctx context.Context, client *http.Client, promURL string) ([]Rule, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := promGet(ctx, client, promURL, "/api/v1/rules", &data); err != nil {
		return nil, fmt.Errorf("cannot list Prometheus rules: %w", err)
	}
	var rules []Rule
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			rules = append(rules, Rule{Group: g.Name, Name: r.Name, Type: r.Type, Health: r.Health, LastError: r.LastError})
		}
	}
	return rules, nil
}

// promGet fetches a Prometheus API path and decodes its data field into v.
func promGet(ctx context.Context, client *http.Client, promURL, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(promURL, "/")+path, nil)
	if err != nil {
		return err
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, answerBytesMax))
	if err != nil {
		return fmt.Errorf("cannot read answer: %w", err)
	}
	var a struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("cannot parse answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if a.Status != "success" {
		return fmt.Errorf("prometheus: %s: %s", a.ErrorType, a.Error)
	}
	if err := json.Unmarshal(a.Data, v); err != nil {
		return fmt.Errorf("cannot parse data: %w", err)
	}
	return nil
}
