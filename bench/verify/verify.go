// Package verify checks the invariants of PRODUCT.md ("Invariants") against
// the ledger and the store directly, for a set of users: money sums to zero
// per asset, no user balance is negative, every request older than a grace
// period is final and agrees with its ledger hold, post and void, one ledger
// transfer per request and one request per idempotency key, and — given the
// load generator's expectations — each user's exact balances and each seen
// request's final status.
//
// It reads the backends the service uses, not its API. The embedded ledger
// and store are Pebble directories that one process may open at a time, so
// against embedded backends the service must be stopped first; against
// TigerBeetle and ScyllaDB it runs beside the live deployment (requests
// younger than Options.Grace are then skipped, not judged).
package verify

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// ViolationsKeptMax bounds the violations a Report keeps; the rest are
// counted only.
const ViolationsKeptMax = 10_000

// Options names what to check.
type Options struct {
	Ledger  ledger.Ledger
	Store   store.Store
	Catalog *transfers.Catalog
	// Users are every user whose accounts hold funds: the zero-sum check
	// adds their accounts and the operator accounts, so a user left out
	// shows as money created or lost.
	Users []uint64
	// Grace: requests created less than Grace ago may still be in flight
	// and are not judged (default 0: judge everything, for a stopped service).
	Grace time.Duration
	// Now is the clock the grace period counts from (default time.Now).
	Now func() time.Time
	// Expect, when set, adds the exact balance and status checks.
	Expect *Expectations
	// CallTimeout bounds each backend call (default 30 s).
	CallTimeout time.Duration
}

// Violation is one broken invariant.
type Violation struct {
	Check     string `json:"check"`
	User      uint64 `json:"user,omitempty"`
	RequestID uint64 `json:"request_id,omitempty"`
	Detail    string `json:"detail"`
}

func (v Violation) String() string {
	return fmt.Sprintf("VIOLATION %-18s user=%d request=%d %s", v.Check, v.User, v.RequestID, v.Detail)
}

// Report is what a check found.
type Report struct {
	Users            int         `json:"users"`
	Accounts         int         `json:"accounts"`
	Requests         int         `json:"requests"`
	RequestsYoung    int         `json:"requests_young"`
	RequestsOpenOnly int         `json:"requests_open_only"` // open requests not in a listed user's history
	LedgerTransfers  int         `json:"ledger_transfers"`
	ExpectedRequests int         `json:"expected_requests"`
	InexactUsers     int         `json:"inexact_users"`
	ViolationsTotal  int         `json:"violations_total"`
	Violations       []Violation `json:"violations"`
	ByCheck          map[string]int
}

func (r *Report) add(v Violation) {
	r.ViolationsTotal++
	if r.ByCheck == nil {
		r.ByCheck = map[string]int{}
	}
	r.ByCheck[v.Check]++
	if len(r.Violations) < ViolationsKeptMax {
		r.Violations = append(r.Violations, v)
	}
}

// OK reports whether no invariant was broken.
func (r *Report) OK() bool { return r.ViolationsTotal == 0 }

// Summary is the one-line verdict.
func (r *Report) Summary() string {
	verdict := "OK"
	if !r.OK() {
		verdict = "FAILED"
	}
	return fmt.Sprintf("verify %s: users=%d accounts=%d requests=%d (young %d, found only as open %d) ledger_transfers=%d expected_requests=%d inexact_users=%d violations=%d %v",
		verdict, r.Users, r.Accounts, r.Requests, r.RequestsYoung, r.RequestsOpenOnly, r.LedgerTransfers, r.ExpectedRequests, r.InexactUsers, r.ViolationsTotal, r.ByCheck)
}

// Print writes every kept violation, then the summary line.
func (r *Report) Print(w io.Writer) {
	for _, v := range r.Violations {
		fmt.Fprintln(w, v.String())
	}
	if r.ViolationsTotal > len(r.Violations) {
		fmt.Fprintf(w, "... %d more violations not shown\n", r.ViolationsTotal-len(r.Violations))
	}
	fmt.Fprintln(w, r.Summary())
}

// checker carries one run's state between the checks.
type checker struct {
	opts     Options
	now      time.Time // the clock when the check started: requests older than now-Grace are judged
	rep      *Report
	users    map[uint64]bool
	accounts map[ledger.Uint128]ledger.Account // every found account of the listed users and operators
	owners   map[ledger.Uint128]uint64         // user account id → user
	requests map[uint64]store.Request          // every request of the listed users, by id
	holds    map[ledger.Uint128]uint64         // pending id → request id
	sides    map[uint64]uint8                  // request id → the histories it was seen in (sideFrom, sideTo)

	userAccounts int // ledger accounts of the listed users found
}

// Check runs every check. An error means a backend could not be read: the
// report is then incomplete and no verdict should be drawn from it.
func Check(ctx context.Context, opts Options) (*Report, error) {
	if opts.Ledger == nil || opts.Store == nil || opts.Catalog == nil {
		panic("BUG: verify.Check needs a ledger, a store and a catalog")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	c := &checker{opts: opts, now: opts.Now(), rep: &Report{}, users: map[uint64]bool{},
		accounts: map[ledger.Uint128]ledger.Account{}, owners: map[ledger.Uint128]uint64{},
		requests: map[uint64]store.Request{}, holds: map[ledger.Uint128]uint64{}, sides: map[uint64]uint8{}}
	for _, u := range opts.Users {
		c.users[u] = true
	}
	if opts.Expect != nil {
		for _, u := range opts.Expect.Users {
			c.users[u] = true
		}
	}
	c.rep.Users = len(c.users)
	steps := []func(context.Context) error{c.checkBalances, c.checkRequests, c.checkLedgerTransfers}
	if opts.Expect != nil {
		steps = append(steps, c.checkExpectations)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return c.rep, err
		}
	}
	if c.rep.Users > 0 && c.userAccounts == 0 && c.rep.Requests == 0 {
		// Nothing of the users was found: a wrong data dir, cluster or user
		// list would otherwise pass as "OK".
		c.rep.add(Violation{Check: "nothing-found", Detail: fmt.Sprintf(
			"no ledger account and no request of the %d users given: is this the right data dir or cluster, and the right users?", c.rep.Users)})
	}
	sort.SliceStable(c.rep.Violations, func(i, j int) bool { return c.rep.Violations[i].Check < c.rep.Violations[j].Check })
	return c.rep, nil
}

// sortedUsers returns the listed users in ascending order, for stable output.
func (c *checker) sortedUsers() []uint64 {
	out := make([]uint64, 0, len(c.users))
	for u := range c.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (c *checker) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.CallTimeout)
}
