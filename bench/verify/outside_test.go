package verify

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// A request a client was given that no history shows (and that is not
// open) is still judged: verify reads it by id, reports it missing from its
// user's history and checks it against the ledger. Here it is "success" in
// the store with nothing in the ledger, and its user's balances are inexact
// (an unknown outcome), so no balance check could catch it instead.
func TestExpectedRequestOutsideHistoriesIsJudged(t *testing.T) {
	w := newWorld(t)
	ghost := w.storeOnly(2, "funding", "spot", 5, "ghost", store.StatusSuccess)
	e := *w.expect
	e.Requests = append(append([]ExpectedRequest(nil), e.Requests...),
		ExpectedRequest{RequestID: strconv.FormatUint(ghost.ID, 10), User: 2, Status: StatusFinal}, // a 503 named it,
		ExpectedRequest{RequestID: strconv.FormatUint(ghost.ID, 10), User: 2, Status: "success"})   // then its retry
	e.Inexact = []uint64{2}
	hide := skewedHistory{w.store, 2, func(r *store.Request) bool { return r.ID != ghost.ID }}
	rep, err := Check(context.Background(), Options{Ledger: w.ledger, Store: hide, Catalog: w.catalog, Expect: &e,
		Now: func() time.Time { return w.now.Add(2 * time.Minute) }, Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, v := range rep.Violations {
		if v.RequestID == ghost.ID {
			got[v.Check]++
		}
	}
	for _, check := range []string{"missing-history", "success-mismatch"} {
		if got[check] != 1 {
			t.Errorf("request %d (success in the store, nothing in the ledger, in no history, expected twice): %d %s violations, want 1; report: %s",
				ghost.ID, got[check], check, rep.Summary())
		}
	}
}

// A request expected "final" (a 503 named it) must exist and be final,
// either way.
func TestExpectedFinalRequest(t *testing.T) {
	w := newWorld(t)
	done := w.storeOnly(2, "funding", "spot", 5, "done", store.StatusFailed)
	open := w.storeOnly(2, "funding", "spot", 5, "open", store.StatusRequesting)
	e := *w.expect
	e.Requests = append(append([]ExpectedRequest(nil), e.Requests...),
		ExpectedRequest{RequestID: strconv.FormatUint(done.ID, 10), User: 2, Status: StatusFinal},
		ExpectedRequest{RequestID: strconv.FormatUint(open.ID, 10), User: 2, Status: StatusFinal},
		ExpectedRequest{RequestID: "123456789", User: 2, Status: StatusFinal})
	e.Inexact = []uint64{2}
	rep, err := Check(context.Background(), Options{Ledger: w.ledger, Store: w.store, Catalog: w.catalog, Expect: &e,
		Now: func() time.Time { return w.now.Add(2 * time.Minute) }, Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[uint64]string{}
	for _, v := range rep.Violations {
		if v.Check == "expected-status" || v.Check == "expected-request" {
			bad[v.RequestID] = v.Check
		}
	}
	if _, ok := bad[done.ID]; ok {
		t.Errorf("request %d, failed, expected final: reported %s", done.ID, bad[done.ID])
	}
	if bad[open.ID] != "expected-status" {
		t.Errorf("request %d, still requesting, expected final: %q, want expected-status; %s", open.ID, bad[open.ID], rep.Summary())
	}
	if bad[123456789] != "expected-request" {
		t.Errorf("request 123456789, absent, expected final: %q, want expected-request", bad[123456789])
	}
}
