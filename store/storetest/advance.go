package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
)

// legal is the transition table written out independently of
// store.CanAdvance, so a change to either is caught.
var legal = map[[2]store.Status]bool{
	{store.StatusRequesting, store.StatusRequesting}: true,
	{store.StatusRequesting, store.StatusPending}:    true,
	{store.StatusRequesting, store.StatusSuccess}:    true,
	{store.StatusRequesting, store.StatusFailed}:     true,
	{store.StatusPending, store.StatusPending}:       true,
	{store.StatusPending, store.StatusSuccess}:       true,
	{store.StatusPending, store.StatusFailed}:        true,
	{store.StatusSuccess, store.StatusSuccess}:       true,
	{store.StatusFailed, store.StatusFailed}:         true,
}

var statuses = []store.Status{store.StatusRequesting, store.StatusPending, store.StatusSuccess, store.StatusFailed}

func (s suite) testAdvance(t *testing.T) {
	st := s.store(t)
	for _, from := range statuses {
		for _, to := range statuses {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				testTransition(t, st, from, to)
			})
		}
	}
	t.Run("invalid status", func(t *testing.T) {
		r := mustCreate(t, st, newRequest(t, randID(t), randID(t), now()))
		for _, to := range []store.Status{0, 5, 255} {
			_, err := st.Advance(ctx(t), r.ID, to, store.Outcome{})
			wantErr(t, fmt.Sprintf("Advance(%s)", to), err, store.ErrInvalid)
		}
		if got := mustGet(t, st, r.ID); got.Status != store.StatusRequesting {
			t.Errorf("status %s after invalid advances, want requesting", got.Status)
		}
	})
	t.Run("repeating a status writes nothing", func(t *testing.T) {
		r := mustCreate(t, st, newRequest(t, randID(t), randID(t), now()))
		first := mustAdvance(t, st, r.ID, store.StatusPending)
		again := mustAdvance(t, st, r.ID, store.StatusPending)
		if diff := cmp.Diff(first, again); diff != "" {
			t.Errorf("repeated advance changed the request (-first +again):\n%s", diff)
		}
	})
	t.Run("failed records the outcome", func(t *testing.T) {
		r := mustCreate(t, st, newRequest(t, randID(t), randID(t), now()))
		out := store.Outcome{ErrorCode: "INSUFFICIENT_BALANCE", ErrorMessage: "balance 5 < amount 7"}
		got, err := st.Advance(ctx(t), r.ID, store.StatusFailed, out)
		if err != nil {
			t.Fatalf("Advance(failed): %v", err)
		}
		for _, g := range []store.Request{got, mustGet(t, st, r.ID)} {
			if g.ErrorCode != out.ErrorCode || g.ErrorMessage != out.ErrorMessage || g.Status != store.StatusFailed {
				t.Errorf("got %s %q %q, want failed %q %q", g.Status, g.ErrorCode, g.ErrorMessage, out.ErrorCode, out.ErrorMessage)
			}
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		_, err := st.Advance(ctx(t), randID(t), store.StatusPending, store.Outcome{})
		wantErr(t, "Advance(unknown)", err, store.ErrNotFound)
		_, err = st.Get(ctx(t), randID(t))
		wantErr(t, "Get(unknown)", err, store.ErrNotFound)
	})
	for _, final := range []store.Status{store.StatusSuccess, store.StatusFailed} {
		t.Run("concurrent finalisers converge on "+final.String(), func(t *testing.T) {
			testConvergence(t, st, final)
		})
	}
	t.Run("concurrent lifecycles lose no update", func(t *testing.T) {
		testConcurrentLifecycles(t, st)
	})
}

// testTransition puts a request in status from, then asks for to.
func testTransition(t *testing.T, st store.Store, from, to store.Status) {
	orig := newRequest(t, randID(t), randID(t), now())
	mustCreate(t, st, orig)
	before := mustGet(t, st, orig.ID)
	if from != store.StatusRequesting {
		before = mustAdvance(t, st, orig.ID, from)
	}
	got, err := st.Advance(ctx(t), orig.ID, to, store.Outcome{ErrorCode: "X", ErrorMessage: "x"})
	if legal[[2]store.Status{from, to}] {
		if err != nil {
			t.Fatalf("Advance: %v", err)
		}
		if got.Status != to || mustGet(t, st, orig.ID).Status != to {
			t.Fatalf("status %s after advance, want %s", got.Status, to)
		}
		wantRequest(t, got, withOutcome(orig, to, before), to)
		return
	}
	var te *store.TransitionError
	if !errors.As(err, &te) || !errors.Is(err, store.ErrIllegalTransition) {
		t.Fatalf("Advance: err = %v, want a *store.TransitionError", err)
	}
	if te.RequestID != orig.ID || te.From != from || te.To != to {
		t.Errorf("TransitionError = %+v, want {%d %s %s}", *te, orig.ID, from, to)
	}
	if diff := cmp.Diff(before, mustGet(t, st, orig.ID)); diff != "" {
		t.Errorf("refused advance changed the request (-before +after):\n%s", diff)
	}
}

// withOutcome is orig as an advance to `to` (with outcome X/x) leaves it.
func withOutcome(orig store.Request, to store.Status, before store.Request) store.Request {
	orig.ErrorCode, orig.ErrorMessage = before.ErrorCode, before.ErrorMessage
	if to == store.StatusFailed && before.Status != store.StatusFailed {
		orig.ErrorCode, orig.ErrorMessage = "X", "x"
	}
	return orig
}

// testConvergence has many finalisers write one final status at once: all
// succeed and the request ends in that status.
func testConvergence(t *testing.T, st store.Store, final store.Status) {
	const finalisers = 16
	r := mustCreate(t, st, newRequest(t, randID(t), randID(t), now()))
	mustAdvance(t, st, r.ID, store.StatusPending)
	errs := make([]error, finalisers)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			got, err := st.Advance(ctx(t), r.ID, final, store.Outcome{ErrorCode: "ACCOUNT_FROZEN"})
			if err == nil && got.Status != final {
				err = fmt.Errorf("returned status %s", got.Status)
			}
			errs[i] = err
		}()
	}
	start.Done()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("finaliser %d: %v", i, err)
		}
	}
	if got := mustGet(t, st, r.ID); got.Status != final {
		t.Errorf("status %s, want %s", got.Status, final)
	}
}

// testConcurrentLifecycles drives many requests through their whole life at
// once and checks each ends where it was driven.
func testConcurrentLifecycles(t *testing.T, st store.Store) {
	const requests = 64
	user := randID(t)
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	rs := make([]store.Request, requests)
	for i := range rs {
		rs[i] = newRequest(t, user, randID(t), now())
		wg.Add(1)
		go func() {
			defer wg.Done()
			final := statuses[2+i%2]
			if _, _, err := st.Create(ctx(t), rs[i]); err != nil {
				errs <- err
				return
			}
			for _, to := range []store.Status{store.StatusPending, final} {
				if _, err := st.Advance(ctx(t), rs[i].ID, to, store.Outcome{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("lifecycle: %v", err)
	}
	for i, r := range rs {
		if got := mustGet(t, st, r.ID); got.Status != statuses[2+i%2] {
			t.Errorf("request %d: status %s, want %s", r.ID, got.Status, statuses[2+i%2])
		}
	}
}
