package scylla

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/gocql/gocql"
)

func TestBucketsAndBounds(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	for _, tc := range []struct {
		ms          int64
		day, minute int64
	}{
		{0, 0, 0}, {dayMillis - 1, 0, 1439}, {dayMillis, 1, 1440},
		{-1, -1, -1}, {-minuteMillis, -1, -1}, {-minuteMillis - 1, -1, -2},
	} {
		if d, m := dayBucket(at(tc.ms)), minuteBucket(at(tc.ms)); d != tc.day || m != tc.minute {
			t.Errorf("buckets of %d ms = day %d minute %d, want %d %d", tc.ms, d, m, tc.day, tc.minute)
		}
	}
	base := time.UnixMilli(1_764_000_000_000)
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{base, base.UnixMilli()},
		{base.Add(time.Nanosecond), base.UnixMilli() + 1},
		{base.Add(999 * time.Microsecond), base.UnixMilli() + 1},
		{base.Add(-time.Nanosecond), base.UnixMilli()},
	} {
		if got := ceilMillis(tc.t); got != tc.want {
			t.Errorf("ceilMillis(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
	if got := toMillis(base.Add(1234 * time.Microsecond)); !got.Equal(base.Add(time.Millisecond)) || got.Location() != time.UTC {
		t.Errorf("toMillis = %v, want %v in UTC", got, base.Add(time.Millisecond))
	}
}

func TestRowRoundTrip(t *testing.T) {
	r := store.Request{
		ID: math.MaxUint64, UserID: 1 << 63, ToUserID: 7, FromAccountType: "funding", ToAccountType: "spot",
		Asset: "BTC", Amount: math.MaxUint64 - 1, IdempotencyKey: "k", Fingerprint: "f",
		Status: store.StatusFailed, ErrorCode: "ACCOUNT_FROZEN", ErrorMessage: "m",
		CreatedAt: toMillis(time.Now()), UpdatedAt: toMillis(time.Now()),
	}
	r.PendingID[0], r.PendingID[15] = 0xAB, 0xCD
	row := toRow(&r)
	got, err := row.request()
	if err != nil || got != r {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, r)
	}
	row.PendingID = row.PendingID[:3]
	if _, err := row.request(); err == nil {
		t.Error("a 3-byte pending id was accepted")
	}
	row = toRow(&r)
	row.Status = "settled"
	if _, err := row.request(); err == nil {
		t.Error("an unknown status was accepted")
	}
}

// lww is a model of ScyllaDB's last-write-wins on the rows a batch writes:
// per row, the write with the highest timestamp wins; on a tie a deletion
// wins. It interprets the statements addRequestRows emits.
type lww map[string]struct {
	ts      int64
	status  string
	deleted bool
}

func (m lww) apply(t *testing.T, e gocql.BatchEntry) {
	t.Helper()
	st, vals := statementOf(t, e)
	get := func(name string) any { return vals[name] }
	var key string
	switch st {
	case "request.insert":
		key = fmt.Sprint("request/", get("request_id"))
	case "history.insert":
		key = fmt.Sprint("history/", get("owner_id"), "/", get("request_id"))
	case "open.insert", "open.delete":
		key = fmt.Sprint("open/", get("minute_bucket"), "/", get("request_id"))
	default:
		t.Fatalf("unexpected statement %s", st)
	}
	ts := get("ts").(int64)
	cur, seen := m[key]
	deleted := st == "open.delete"
	if seen && (ts < cur.ts || ts == cur.ts && cur.deleted && !deleted) {
		return
	}
	status, _ := get("status").(string)
	m[key] = struct {
		ts      int64
		status  string
		deleted bool
	}{ts, status, deleted}
}

// statementOf names e's statement and maps its bind names to its values.
func statementOf(t *testing.T, e gocql.BatchEntry) (string, map[string]any) {
	t.Helper()
	for name, s := range map[string]stmt{
		"request.insert": stmtRequestInsert, "history.insert": stmtHistoryInsert,
		"open.insert": stmtOpenInsert, "open.delete": stmtOpenDelete,
	} {
		if s.cql == e.Stmt {
			vals := map[string]any{}
			for i, n := range s.names {
				vals[n] = e.Args[i]
			}
			return name, vals
		}
	}
	t.Fatalf("unknown statement %s", e.Stmt)
	return "", nil
}

// TestStatusWritesConverge replays the batches of a request's life in every
// arrival order through the last-write-wins model: whatever the order, the
// rows end at the highest status written and the open row is gone once a
// final status has been written.
func TestStatusWritesConverge(t *testing.T) {
	r := store.Request{ID: 99, UserID: 1, ToUserID: 2, CreatedAt: toMillis(time.Now())}
	lives := [][]store.Status{
		{store.StatusRequesting, store.StatusPending, store.StatusSuccess},
		{store.StatusRequesting, store.StatusPending, store.StatusFailed},
		{store.StatusRequesting, store.StatusFailed},
		{store.StatusRequesting, store.StatusPending},
	}
	for _, life := range lives {
		var batches [][]gocql.BatchEntry
		for _, s := range life {
			r.Status = s
			b := batch{&gocql.Batch{}}
			addRequestRows(b, &r)
			batches = append(batches, b.b.Entries)
		}
		last := life[len(life)-1]
		permute(len(batches), func(order []int) {
			m := lww{}
			for _, i := range order {
				for _, e := range batches[i] {
					m.apply(t, e)
				}
			}
			for key, row := range m {
				open := key[:5] == "open/"
				switch {
				case open && last.Final() && !row.deleted:
					t.Errorf("life %v order %v: open row %s survives final status", life, order, key)
				case open && !last.Final() && (row.deleted || row.status != last.String()):
					t.Errorf("life %v order %v: open row %s is %+v, want %s", life, order, key, row, last)
				case !open && row.status != last.String():
					t.Errorf("life %v order %v: %s ends %s, want %s", life, order, key, row.status, last)
				}
			}
			if want := 4; len(m) != want { // request, two histories, open
				t.Errorf("life %v: %d rows written, want %d", life, len(m), want)
			}
		})
	}
}

// permute calls f with every permutation of 0..n-1.
func permute(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			f(append([]int(nil), p...))
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

// A failed request's timestamp depends on its error code, stays above every
// other status of the request and below the next millisecond's first write.
func TestRequestTimestampSeparatesFailures(t *testing.T) {
	created := toMillis(time.Now())
	r := store.Request{CreatedAt: created, Status: store.StatusSuccess}
	success := requestTimestamp(&r)
	nextMs := writeTimestamp(created.Add(time.Millisecond), store.StatusRequesting)
	seen := map[int64]string{}
	for _, code := range []string{"", "INSUFFICIENT_BALANCE", "VOIDED", "ACCOUNT_FROZEN", "ACCOUNT_NOT_FOUND",
		"PERMISSION_DENIED", "IDEMPOTENCY_CONFLICT", "MANUAL_VOID"} {
		r.Status, r.ErrorCode = store.StatusFailed, code
		ts := requestTimestamp(&r)
		if ts <= success || ts >= nextMs || ts < writeTimestamp(created, store.StatusFailed) {
			t.Errorf("failed %q at %d, want within [%d, %d) and above success %d", code, ts,
				writeTimestamp(created, store.StatusFailed), nextMs, success)
		}
		if other, dup := seen[ts]; dup {
			t.Errorf("codes %q and %q share timestamp %d", code, other, ts)
		}
		seen[ts] = code
		if again := requestTimestamp(&r); again != ts {
			t.Errorf("code %q: %d then %d, want one timestamp", code, ts, again)
		}
	}
}

func TestWriteTimestampOrdersStatuses(t *testing.T) {
	created := toMillis(time.Now())
	prev := int64(math.MinInt64)
	for _, s := range []store.Status{store.StatusRequesting, store.StatusPending, store.StatusSuccess, store.StatusFailed} {
		ts := writeTimestamp(created, s)
		if ts <= prev {
			t.Errorf("timestamp of %s = %d, not above the previous status's %d", s, ts, prev)
		}
		prev = ts
	}
	if later := writeTimestamp(created.Add(time.Millisecond), store.StatusRequesting); later <= prev {
		t.Errorf("a request 1 ms younger starts at %d, within the older one's range (up to %d)", later, prev)
	}
	defer func() {
		if recover() == nil {
			t.Error("writeTimestamp accepted an invalid status")
		}
	}()
	writeTimestamp(created, 0)
}

func TestOpenIndexCache(t *testing.T) {
	clock := time.UnixMilli(100 * minuteMillis) // the start of minute 100
	s := &Store{set: settings{Options: Options{OpenSealAfter: 2 * time.Minute, Now: func() time.Time { return clock }}}}
	s.indexedMinute.Store(math.MinInt64)
	if !s.needIndex(100) {
		t.Fatal("an unregistered minute needs no index row")
	}
	s.indexedMinute.Store(100)
	if s.needIndex(100) {
		t.Error("a registered, fresh minute needs its index row again")
	}
	if !s.needIndex(99) {
		t.Error("another minute needs no index row")
	}
	clock = time.UnixMilli(101 * minuteMillis).Add(time.Minute) // half the seal time past its end
	if !s.needIndex(100) {
		t.Error("a minute half sealed still trusts the cache")
	}
}
