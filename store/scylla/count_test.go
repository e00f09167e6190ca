package scylla

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// The count's budget ends before its caller's deadline, keeping a fifth of
// the time (at least 100 ms) so a large count returns lower bounds instead of
// the caller's timeout.
func TestCountBudget(t *testing.T) {
	for _, c := range []struct{ within, wantMin, wantMax time.Duration }{
		{2 * time.Second, 1500 * time.Millisecond, 1600 * time.Millisecond},
		{300 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond},
		{100 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond}, // a short call timeout keeps half
	} {
		parent, cancel := context.WithTimeout(context.Background(), c.within)
		budget, stop := countBudget(parent)
		dl, ok := budget.Deadline()
		left := time.Until(dl)
		stop()
		cancel()
		if !ok || left < c.wantMin || left > c.wantMax {
			t.Errorf("within %v: budget %v (deadline %v), want %v..%v", c.within, left, ok, c.wantMin, c.wantMax)
		}
	}
	budget, stop := countBudget(context.Background())
	defer stop()
	if _, ok := budget.Deadline(); ok {
		t.Error("a context without a deadline got one")
	}
}

// Only the count's own budget running out, with something counted and the
// caller's context live, turns an error into a partial count.
func TestPartialOr(t *testing.T) {
	live := context.Background()
	spent, cancelSpent := context.WithCancel(live)
	cancelSpent()
	counted := store.OpenCounts{Requesting: 4, Pending: 5, Stuck: 1}
	fail := errors.New("read timed out")
	for _, c := range []struct {
		name        string
		ctx, budget context.Context
		counts      store.OpenCounts
		partial     bool
	}{
		{"budget spent, caller live", live, spent, counted, true},
		{"caller's context done too", spent, spent, counted, false},
		{"budget live: a real error", live, live, counted, false},
		{"nothing counted", live, spent, store.OpenCounts{}, false},
	} {
		got, err := partialOr(c.ctx, c.budget, c.counts, fail)
		if c.partial {
			want := c.counts
			want.Partial = true
			if err != nil || got != want {
				t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, want)
			}
		} else if !errors.Is(err, fail) || got != (store.OpenCounts{}) {
			t.Errorf("%s: %+v, %v; want the error and no counts", c.name, got, err)
		}
	}
}
