// Package deploy holds the operations side of Internal Transfer — systemd
// units, HAProxy, Prometheus rules, the Grafana dashboard, packaging and
// install scripts — and the Go helpers and tests that check them.
//
// The files themselves are not Go: systemd/, haproxy/, prometheus/,
// grafana/, docker/, package.sh and install.sh. This package embeds the ones
// other tests need (the local HAProxy template and the dashboard) and
// exports what a system test uses to put them in front of a running
// service: RenderLocalHAProxy for a loopback HAProxy with the production
// routing; RenderLocalPrometheus for a Prometheus scraping local nodes under
// the production job names with the shipped alert rules; CheckDashboard
// (over DashboardQueries and EvaluateQueries) to prove every dashboard panel
// gets data from it; Metrics, the metric catalogue the rules and the
// dashboard may name; StartProcess to run such a tool in the background
// with a bounded stop, and HAProxyServerStates to read which gateways its
// health check keeps in rotation; and LoadOpenAPI with ValidateResponse, a
// validator of real answers against docs/openapi.yaml (the subset of
// OpenAPI 3.0 the document uses; no OpenAPI module is in go.mod).
//
// deploy_test.go runs the operators' own tools on the files (promtool,
// haproxy -c, systemd-analyze verify, bash -n). A test whose tool is missing
// skips with the apt package to install, except under CI=true, where a
// missing tool is a failure.
package deploy
