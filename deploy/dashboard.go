package deploy

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DashboardJSON is deploy/grafana/internal_transfer.json, the dashboard
// operators import into Grafana.
//
//go:embed grafana/internal_transfer.json
var DashboardJSON []byte

// DashboardQuery is one PromQL target of one dashboard panel.
type DashboardQuery struct {
	Panel string // panel title
	RefID string // the target's refId
	Expr  string
}

// String names the panel and target, for test failures and logs.
func (q DashboardQuery) String() string {
	return fmt.Sprintf("panel %q target %s: %s", q.Panel, q.RefID, q.Expr)
}

type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	Panels        []panel `json:"panels"`
}

type panel struct {
	ID         int             `json:"id"`
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// ErrInvalidDashboard is returned for a dashboard Grafana would not show
// correctly; the error's text says which panel and why.
var ErrInvalidDashboard = errors.New("invalid dashboard")

// ParseDashboard checks the Grafana dashboard in data (schemaVersion, title,
// uid; every panel with an id, a title, a datasource, a gridPos and at least
// one target with a refId and an expr) and returns its queries in panel
// order.
func ParseDashboard(data []byte) ([]DashboardQuery, error) {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%w: cannot parse JSON: %v", ErrInvalidDashboard, err)
	}
	if d.SchemaVersion == 0 || d.Title == "" || d.UID == "" {
		return nil, fmt.Errorf("%w: needs schemaVersion, title and uid", ErrInvalidDashboard)
	}
	if len(d.Panels) == 0 {
		return nil, fmt.Errorf("%w: no panels", ErrInvalidDashboard)
	}
	var queries []DashboardQuery
	ids := map[int]bool{}
	for i, p := range d.Panels {
		switch {
		case p.ID == 0 || ids[p.ID]:
			return nil, fmt.Errorf("%w: panel %d %q needs a unique non-zero id", ErrInvalidDashboard, i, p.Title)
		case p.Title == "" || p.Type == "":
			return nil, fmt.Errorf("%w: panel %d needs a title and a type", ErrInvalidDashboard, i)
		case len(p.Datasource) == 0 || string(p.Datasource) == "null":
			return nil, fmt.Errorf("%w: panel %q has no datasource", ErrInvalidDashboard, p.Title)
		case p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24:
			return nil, fmt.Errorf("%w: panel %q needs a gridPos inside the 24-column grid", ErrInvalidDashboard, p.Title)
		case len(p.Targets) == 0:
			return nil, fmt.Errorf("%w: panel %q has no targets", ErrInvalidDashboard, p.Title)
		}
		ids[p.ID] = true
		refs := map[string]bool{}
		for j, t := range p.Targets {
			if t.RefID == "" || refs[t.RefID] || strings.TrimSpace(t.Expr) == "" {
				return nil, fmt.Errorf("%w: panel %q target %d needs a unique refId and an expr", ErrInvalidDashboard, p.Title, j)
			}
			refs[t.RefID] = true
			queries = append(queries, DashboardQuery{Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
		}
	}
	return queries, nil
}

// DashboardQueries returns the queries of the shipped dashboard.
func DashboardQueries() ([]DashboardQuery, error) { return ParseDashboard(DashboardJSON) }

// QueryResult is what Prometheus answered for one dashboard query.
type QueryResult struct {
	Query  DashboardQuery
	Series int   // series in the answer
	Values int   // of those, series whose value is a number (not NaN)
	Err    error // the query could not be run or Prometheus refused it
}

// NoData reports whether the panel would show nothing for this query.
func (r QueryResult) NoData() bool { return r.Err != nil || r.Values == 0 }

const (
	queryTimeout   = 10 * time.Second
	answerBytesMax = 16 << 20
)

// EvaluateQueries runs each query as an instant query at time at (the
// server's now when at is zero) against the Prometheus HTTP API at promURL
// (e.g. "http://127.0.0.1:9091") and returns one result per query, in order.
// Each query is bounded by 10 s and by ctx. A system test scrapes the
// running service, drives some traffic, then fails on every result whose
// NoData is true.
func EvaluateQueries(ctx context.Context, client *http.Client, promURL string, at time.Time, queries []DashboardQuery) []QueryResult {
	if client == nil {
		client = http.DefaultClient
	}
	results := make([]QueryResult, len(queries))
	for i, q := range queries {
		results[i] = QueryResult{Query: q}
		series, values, err := instantQuery(ctx, client, promURL, at, q.Expr)
		if err != nil {
			results[i].Err = fmt.Errorf("cannot evaluate %s: %w", q, err)
			continue
		}
		results[i].Series, results[i].Values = series, values
	}
	return results
}

// promAnswer is the Prometheus HTTP API's answer to /api/v1/query.
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func instantQuery(ctx context.Context, client *http.Client, promURL string, at time.Time, expr string) (series, values int, err error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	form := url.Values{"query": {expr}}
	if !at.IsZero() {
		form.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	endpoint := strings.TrimSuffix(promURL, "/") + "/api/v1/query?" + form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, answerBytesMax))
	if err != nil {
		return 0, 0, fmt.Errorf("cannot read answer: %w", err)
	}
	var a promAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, 0, fmt.Errorf("cannot parse answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if a.Status != "success" {
		return 0, 0, fmt.Errorf("prometheus: %s: %s", a.ErrorType, a.Error)
	}
	return countValues(a.Data.ResultType, a.Data.Result)
}

// countValues counts the series of an instant answer and those holding a
// number: histogram_quantile over buckets without traffic answers NaN.
func countValues(resultType string, result json.RawMessage) (series, values int, err error) {
	var samples [][2]json.RawMessage
	switch resultType {
	case "vector":
		var vector []struct {
			Value [2]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(result, &vector); err != nil {
			return 0, 0, fmt.Errorf("cannot parse vector: %w", err)
		}
		for _, s := range vector {
			samples = append(samples, s.Value)
		}
	case "scalar":
		var scalar [2]json.RawMessage
		if err := json.Unmarshal(result, &scalar); err != nil {
			return 0, 0, fmt.Errorf("cannot parse scalar: %w", err)
		}
		samples = append(samples, scalar)
	default:
		return 0, 0, fmt.Errorf("unexpected result type %q", resultType)
	}
	for _, sample := range samples {
		var text string
		if err := json.Unmarshal(sample[1], &text); err != nil {
			return 0, 0, fmt.Errorf("cannot parse sample value: %w", err)
		}
		series++
		if v, err := strconv.ParseFloat(text, 64); err == nil && !math.IsNaN(v) {
			values++
		}
	}
	return series, values, nil
}

// CheckDashboard evaluates every query of the shipped dashboard against the
// Prometheus at promURL (now) and returns those that would show no data:
// empty, NaN only, or refused. An empty result means every panel has data.
func CheckDashboard(ctx context.Context, client *http.Client, promURL string) ([]QueryResult, error) {
	queries, err := DashboardQueries()
	if err != nil {
		return nil, err
	}
	var missing []QueryResult
	for _, r := range EvaluateQueries(ctx, client, promURL, time.Time{}, queries) {
		if r.NoData() {
			missing = append(missing, r)
		}
	}
	return missing, nil
}
