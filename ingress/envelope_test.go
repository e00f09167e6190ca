package ingress

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// The envelope has exactly success, data and error, with data or error null.
func TestEnvelopeShape(t *testing.T) {
	h := newHarness(t, nil)
	for name, r := range map[string]reply{
		"success": h.post(1000, okBody),
		"failure": h.post(1000, "{}"),
	} {
		t.Run(name, func(t *testing.T) {
			var top map[string]json.RawMessage
			if err := json.Unmarshal(r.body, &top); err != nil {
				t.Fatal(err)
			}
			if len(top) != 3 || top["success"] == nil || top["data"] == nil || top["error"] == nil {
				t.Fatalf("envelope keys: %s", r.body)
			}
			if r.header["Content-Type"] != "application/json" {
				t.Fatalf("Content-Type %q", r.header["Content-Type"])
			}
			if r.header["Cache-Control"] != "no-store" || r.header["X-Content-Type-Options"] != "nosniff" {
				t.Fatalf("Cache-Control %q, X-Content-Type-Options %q; want no-store and nosniff",
					r.header["Cache-Control"], r.header["X-Content-Type-Options"])
			}
			if name == "success" {
				if string(top["error"]) != "null" || string(top["success"]) != "true" {
					t.Fatalf("success envelope: %s", r.body)
				}
				return
			}
			var e map[string]json.RawMessage
			if err := json.Unmarshal(top["error"], &e); err != nil || len(e) != 3 || e["code"] == nil || e["message"] == nil || e["details"] == nil {
				t.Fatalf("error object: %s", top["error"])
			}
			if string(top["data"]) != "null" || string(top["success"]) != "false" {
				t.Fatalf("failure envelope: %s", r.body)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "tab\tnl\ncr\r\x00\x1f", "<&>", "ünï😀", "bad\xffutf8", "\u2028\u2029"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Fatalf("%q → %s → %q, want %q", s, b, back, want)
		}
	}
}

func TestTransferMetrics(t *testing.T) {
	h := newHarness(t, nil)
	total := metrics.GetOrCreateCounter("internal_transfer_total_requests")
	small := metrics.GetOrCreateCounter(`internal_transfer_rejected_total{code="AMOUNT_TOO_SMALL"}`)
	unauth := metrics.GetOrCreateCounter(`internal_transfer_rejected_total{code="UNAUTHORIZED"}`)
	t0, s0, u0 := total.Get(), small.Get(), unauth.Get()
	_, count0 := histogramCount(t)
	h.post(1000, okBody).wantOK(t, nil)
	h.post(1000, strings.Replace(okBody, "10.5", "0.00000001", 1)).wantError(t, 400, codeAmountTooSmall, "amount")
	h.do(h.client, "POST", pathTransfer, okBody).wantError(t, 401, codeUnauthorized, "")
	if total.Get()-t0 != 3 || small.Get()-s0 != 1 || unauth.Get()-u0 != 1 {
		t.Fatalf("counters moved by total %d, too small %d, unauthorized %d; want 3, 1, 1",
			total.Get()-t0, small.Get()-s0, unauth.Get()-u0)
	}
	text, count1 := histogramCount(t)
	if count1-count0 != 3 {
		t.Fatalf("latency histogram count moved by %d, want 3", count1-count0)
	}
	for _, want := range []string{`internal_transfer_latency_ms_bucket{le="0.1"}`, `internal_transfer_latency_ms_bucket{le="10000"}`, "internal_transfer_avg_latency_ms "} {
		if !strings.Contains(text, want) {
			t.Fatalf("metrics output lacks %s", want)
		}
	}
}

// histogramCount returns the exposition text and the latency histogram's count.
func histogramCount(t *testing.T) (string, int) {
	t.Helper()
	var sb strings.Builder
	metrics.WritePrometheus(&sb, false)
	text := sb.String()
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "internal_transfer_latency_ms_count "); ok {
			var n int
			if err := json.Unmarshal([]byte(rest), &n); err != nil {
				t.Fatal(err)
			}
			return text, n
		}
	}
	return text, 0
}

func TestLatencyWindowMean(t *testing.T) {
	var w latencyWindow
	w.add(testStart, 2)
	w.add(testStart.Add(30e9), 4)
	if m := w.mean(testStart.Add(30e9)); m != 3 {
		t.Fatalf("mean %v, want 3", m)
	}
	if m := w.mean(testStart.Add(61e9)); m != 4 {
		t.Fatalf("mean after the first sample left the window: %v, want 4", m)
	}
	if m := w.mean(testStart.Add(200e9)); m != 0 {
		t.Fatalf("mean of an empty window: %v, want 0", m)
	}
}
