package load

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAppendAmount(t *testing.T) {
	cases := []struct {
		units    uint64
		decimals int
		want     string
	}{
		{0, 8, "0.00000000"},
		{1, 8, "0.00000001"},
		{1_000_000, 8, "0.01000000"},
		{123_456_789_012, 8, "1234.56789012"},
		{42, 0, "42"},
		{5, 2, "0.05"},
	}
	for _, c := range cases {
		if got := string(appendAmount(nil, c.units, c.decimals)); got != c.want {
			t.Errorf("appendAmount(%d, %d) = %q, want %q", c.units, c.decimals, got, c.want)
		}
	}
}

func TestFieldReadsEnvelopes(t *testing.T) {
	ok := []byte(`{"success":true,"data":{"request_id":"251577971423318016","status":"pending","from_account":{}},"error":null}`)
	refused := []byte(`{"success":false,"data":null,"error":{"code":"INSUFFICIENT_BALANCE","message":"m","details":{"request_id":"77","status":"failed"}}}`)
	cases := []struct {
		body                []byte
		id, status, errCode string
	}{
		{ok, "251577971423318016", "pending", ""},
		{refused, "77", "failed", "INSUFFICIENT_BALANCE"},
		{[]byte(`{"success":false`), "", "", ""},
	}
	for _, c := range cases {
		if id, st, code := field(c.body, `"request_id":"`), field(c.body, `"status":"`), field(c.body, `"code":"`); id != c.id || st != c.status || code != c.errCode {
			t.Errorf("field(%s) = %q %q %q, want %q %q %q", c.body, id, st, code, c.id, c.status, c.errCode)
		}
	}
}

func TestUsableHoldsBackUnsettledCredits(t *testing.T) {
	now := time.Now()
	u := &user{bal: [2]uint64{100, 0}}
	u.addCredit(spot, 30, now)
	if got := u.usable(spot, now); got != 0 {
		t.Fatalf("usable right after a credit = %d, want 0 (settlement may not have posted it)", got)
	}
	if got := u.usable(funding, now); got != 100 {
		t.Fatalf("usable funding = %d, want 100", got)
	}
	if got := u.usable(spot, now.Add(settleDelay)); got != 30 {
		t.Fatalf("usable after the settle delay = %d, want 30", got)
	}
	if len(u.fresh) != 0 {
		t.Fatalf("settled credits not forgotten: %v", u.fresh)
	}
	for range freshMax + 10 { // the list is bounded and never loses money
		u.addCredit(spot, 1, now)
	}
	if len(u.fresh) != freshMax || u.usable(spot, now) != 30 || u.bal[spot] != 30+freshMax+10 {
		t.Fatalf("fresh %d, usable %d, bal %d", len(u.fresh), u.usable(spot, now), u.bal[spot])
	}
}

func TestFailAmountExceedsEveryBalance(t *testing.T) {
	r := &runner{o: Defaults(), users: make([]*user, 10)}
	u := &user{bal: [2]uint64{5, 0}, inflightIn: [2]uint64{7, 0}}
	if got, supply := r.failAmount(u), uint64(10)*r.o.Fund; got != supply+1 {
		t.Fatalf("fail amount %d, want the supply + 1 = %d", got, supply+1)
	}
	r.o.AmountLimit = 100 // the service's limit is below the supply
	if got := r.failAmount(u); got != 13 {
		t.Fatalf("fail amount %d, want balance + incoming + 1 = 13", got)
	}
}

func TestBodyIsTheAPIShape(t *testing.T) {
	r := &runner{o: Defaults()}
	a, b := &user{id: 7}, &user{id: 9}
	cases := []struct {
		p      plan
		toUser any
		from   string
		to     string
	}{
		{plan{u: a, to: a, from: funding, in: spot, amount: 150_000_000}, nil, "funding", "spot"},
		{plan{u: a, to: b, from: funding, in: funding, amount: 1}, float64(9), "funding", "funding"},
	}
	for _, c := range cases {
		raw := r.body(&c.p, "run-k-1")
		var got struct {
			From   map[string]any `json:"from_account"`
			To     map[string]any `json:"to_account"`
			Amount string         `json:"amount"`
			Key    string         `json:"client_transfer_id"`
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("body %s is not JSON: %v", raw, err)
		}
		if got.From["account_type"] != c.from || got.To["account_type"] != c.to || got.To["asset"] != "USDT" ||
			got.To["user_id"] != c.toUser || got.Key != "run-k-1" || got.Amount != string(appendAmount(nil, c.p.amount, 8)) {
			t.Errorf("body %s", raw)
		}
	}
}

func TestValidateRefusesBadOptions(t *testing.T) {
	good := Defaults()
	good.APIAddr, good.AdminAddr, good.RunID = "a:1", "a:2", "r"
	if err := good.validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	cases := map[string]func(o *Options){
		"no address":     func(o *Options) { o.APIAddr = "" },
		"one user":       func(o *Options) { o.Users = 1 },
		"closed, no c":   func(o *Options) { o.Rate, o.Concurrency = 0, 0 },
		"mix over 100":   func(o *Options) { o.Mix = Mix{Back: 50, Cross: 50, Retry: 1} },
		"amount > fund":  func(o *Options) { o.AmountMax = o.Fund + 1 },
		"no end":         func(o *Options) { o.Duration = 0 },
		"run id too big": func(o *Options) { o.RunID = "0123456789012345678901234" },
	}
	for name, breakIt := range cases {
		o := good
		breakIt(&o)
		if err := o.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkBody(b *testing.B) {
	r := &runner{o: Defaults()}
	a, c := &user{id: 7}, &user{id: 9}
	p := plan{u: a, to: c, from: funding, in: funding, amount: 123_456_789}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.body(&p, "run-k-1")
	}
}

func BenchmarkField(b *testing.B) {
	body := []byte(`{"success":true,"data":{"request_id":"251577971423318016","status":"pending","from_account":{}},"error":null}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = field(body, `"request_id":"`)
		_ = field(body, `"status":"`)
	}
}

// The timeline counts accepted transfers by the second their answers came
// in, slow by their wait from when they were due, and slowHalfSeconds finds
// how concentrated the slow ones are.
func TestTimelineCountsBySecond(t *testing.T) {
	st := newStats()
	start := time.Now()
	done := func(a *answer) { st.transfer(a.at.Add(-a.latency), a) }
	done(&answer{status: 200, latency: 50 * time.Millisecond, at: start.Add(-time.Second)}) // before the load phase
	st.begin(start)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	for _, a := range []answer{
		{status: 200, latency: 2 * time.Millisecond, at: at(0.1)},
		{status: 200, latency: 30 * time.Millisecond, at: at(0.9)},
		{status: 503, latency: 90 * time.Millisecond, at: at(1.5)}, // shed: not an accepted answer
		{status: 200, latency: 25 * time.Millisecond, at: at(2.2)},
		{status: 200, latency: 40 * time.Millisecond, at: at(2.3)},
		{status: 200, latency: 60 * time.Millisecond, at: at(2.4)},
		{status: 200, latency: 21 * time.Millisecond, at: at(4.0)},
	} {
		done(&a)
	}
	want := []Second{
		{S: 0, Accepted: 2, Slow: 1, MaxMS: 30},
		{S: 1},
		{S: 2, Accepted: 3, Slow: 3, MaxMS: 60},
		{S: 3},
		{S: 4, Accepted: 1, Slow: 1, MaxMS: 21},
	}
	if !slices.Equal(st.seconds, want) {
		t.Fatalf("timeline %+v, want %+v", st.seconds, want)
	}
	// 5 slow answers: second 2 alone holds 3 of them, at least half.
	if got := slowHalfSeconds(st.seconds); got != 1 {
		t.Fatalf("slowHalfSeconds = %d, want 1", got)
	}
	if got := slowHalfSeconds([]Second{{Slow: 1}, {Slow: 1}, {Slow: 1}, {Slow: 1}}); got != 2 {
		t.Fatalf("slowHalfSeconds of an even spread = %d, want 2", got)
	}
	if got := slowHalfSeconds([]Second{{Accepted: 5}}); got != 0 {
		t.Fatalf("slowHalfSeconds without slow answers = %d, want 0", got)
	}
}

// The markdown row has a cell for every header column, and counts the
// arrivals that sent nothing as dropped.
func TestMarkdownRowMatchesItsHeader(t *testing.T) {
	res := &Result{Mode: "open", TargetRate: 100, Users: 10, LoadSeconds: 2, Counts: map[string]int64{
		"offered": 250, "dropped_inflight_cap": 7, "dropped_no_idle_user": 2, "skipped_no_funds": 1,
		"accepted": 200, "rejected_429_RATE_LIMITED": 3,
	}}
	header := strings.Split(strings.Split(MarkdownHeader, "\n")[0], "|")
	row := strings.Split(strings.TrimSuffix(res.MarkdownRow(), "\n"), "|")
	if len(row) != len(header) {
		t.Fatalf("row has %d cells, header %d:\n%s%s", len(row), len(header), MarkdownHeader, res.MarkdownRow())
	}
	cell := func(name string) string {
		for i, h := range header {
			if strings.TrimSpace(h) == name {
				return strings.TrimSpace(row[i])
			}
		}
		t.Fatalf("no column %q", name)
		return ""
	}
	if cell("offered") != "250" || cell("dropped") != "10" || cell("accepted") != "200" || cell("rejected") != "3" {
		t.Fatalf("row %s", res.MarkdownRow())
	}
}
