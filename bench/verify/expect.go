package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// Expectations is what a load generator knows for certain after a run: the
// users it created, each one's exact final balances implied by the deposits
// and the definitive answers it got, and every request id it saw with the
// final status it must reach.
type Expectations struct {
	Users    []uint64          `json:"users"`
	Balances []ExpectedBalance `json:"balances"`
	Requests []ExpectedRequest `json:"requests"`
	// Inexact are users with a transfer whose outcome the generator never
	// learnt (no definitive answer before its deadline): their balances are
	// not checked exactly, the other invariants still are.
	Inexact []uint64 `json:"inexact_users"`
}

// ExpectedBalance is one account's posted balance (credits_posted −
// debits_posted) in the asset's smallest unit; nothing may stay pending.
// Accounts of a listed user that are not listed must be zero.
type ExpectedBalance struct {
	User        uint64 `json:"user"`
	AccountType string `json:"account_type"`
	Asset       string `json:"asset"`
	Balance     string `json:"balance"`
}

// ExpectedRequest is a request id the generator saw and its final status:
// success, failed, or StatusFinal when the answer that named it left the
// outcome open (a 503 with a request_id): it must exist and be final.
type ExpectedRequest struct {
	RequestID string `json:"request_id"`
	User      uint64 `json:"user"`
	Status    string `json:"status"`
}

// StatusFinal is the ExpectedRequest.Status of a request that must reach
// either final status.
const StatusFinal = "final"

// ErrNoUsers: an expectations file that names no user.
var ErrNoUsers = errors.New("expectations name no users")

// ReadExpectations reads a generator's expectations file.
func ReadExpectations(path string) (*Expectations, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read expectations: %w", err)
	}
	var e Expectations
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("cannot decode expectations %s: %w", path, err)
	}
	if len(e.Users) == 0 {
		return nil, fmt.Errorf("cannot use expectations %s: %w", path, ErrNoUsers)
	}
	return &e, nil
}

// Write writes e as JSON to path.
func (e *Expectations) Write(path string) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("cannot encode expectations: %w", err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return fmt.Errorf("cannot write expectations: %w", err)
	}
	return nil
}

// checkExpectations: exact balances of every exact user, exact final status
// of every seen request.
func (c *checker) checkExpectations(ctx context.Context) error {
	e := c.opts.Expect
	inexact := map[uint64]bool{}
	for _, u := range e.Inexact {
		inexact[u] = true
	}
	c.rep.InexactUsers = len(inexact)
	listed := make(map[uint64]bool, len(e.Users))
	for _, u := range e.Users {
		listed[u] = true
	}
	want := map[ledger.Uint128]*big.Int{}
	for _, b := range e.Balances {
		// A row that would never be compared, or that another row
		// overrides, would let a wrong balance pass unseen.
		if !listed[b.User] {
			return fmt.Errorf("cannot use expectations: a balance of user %d, who is not in users", b.User)
		}
		id, err := c.opts.Catalog.AccountID(b.User, b.AccountType, b.Asset)
		if err != nil {
			return fmt.Errorf("cannot use expectations: %w", err)
		}
		if want[id] != nil {
			return fmt.Errorf("cannot use expectations: two balances of user %d %s %s", b.User, b.AccountType, b.Asset)
		}
		v, ok := new(big.Int).SetString(b.Balance, 10)
		if !ok {
			return fmt.Errorf("cannot use expectations: balance %q of user %d is not an integer", b.Balance, b.User)
		}
		want[id] = v
	}
	for _, u := range e.Users {
		if inexact[u] {
			continue
		}
		for _, asset := range c.opts.Catalog.Assets() {
			for _, t := range c.opts.Catalog.AccountTypes() {
				id := ledger.UserAccountID(u, t.Code, asset.Ledger)
				w := want[id]
				if w == nil {
					w = new(big.Int)
				}
				posted, pending := c.balanceOf(id)
				if posted.Cmp(w) != 0 || pending.Sign() != 0 {
					c.rep.add(Violation{Check: "expected-balance", User: u,
						Detail: fmt.Sprintf("%s %s: balance %s pending %s, want %s pending 0", t.Name, asset.Name, posted, pending, w)})
				}
			}
		}
	}
	return c.checkExpectedRequests(ctx)
}

// checkExpectedRequests: every request a client was given exists, is its
// client's and has the status the client was told it would reach. One that
// no history and no open-index page showed is read by id, reported missing
// from its users' histories and judged against the ledger like the rest.
func (c *checker) checkExpectedRequests(ctx context.Context) error {
	c.rep.ExpectedRequests = len(c.opts.Expect.Requests)
	var outside []store.Request
	for _, x := range c.opts.Expect.Requests {
		id, err := strconv.ParseUint(x.RequestID, 10, 64)
		if err != nil {
			return fmt.Errorf("cannot use expectations: request id %q: %w", x.RequestID, err)
		}
		if x.Status != StatusFinal && x.Status != store.StatusSuccess.String() && x.Status != store.StatusFailed.String() {
			return fmt.Errorf("cannot use expectations: request %s: status %q is not success, failed or %s", x.RequestID, x.Status, StatusFinal)
		}
		if x.User == 0 {
			return fmt.Errorf("cannot use expectations: request %s names no user", x.RequestID)
		}
		r, ok := c.requests[id]
		if !ok {
			cctx, cancel := c.call(ctx)
			r, err = c.opts.Store.Get(cctx, id)
			cancel()
			if errors.Is(err, store.ErrNotFound) {
				c.rep.add(Violation{Check: "expected-request", User: x.User, RequestID: id, Detail: "request the client was given is not in the store"})
				continue
			}
			if err != nil {
				return fmt.Errorf("cannot read request %d: %w", id, err)
			}
			outside = append(outside, r)
		}
		if r.UserID != x.User {
			c.rep.add(Violation{Check: "expected-request", User: x.User, RequestID: id,
				Detail: fmt.Sprintf("request of user %d, but the client that was given it is user %d", r.UserID, x.User)})
		}
		if x.Status == StatusFinal && !r.Status.Final() || x.Status != StatusFinal && r.Status.String() != x.Status {
			c.rep.add(Violation{Check: "expected-status", User: x.User, RequestID: id,
				Detail: fmt.Sprintf("status %s (%s), want %s", r.Status, r.ErrorCode, x.Status)})
		}
	}
	return c.judgeOutside(ctx, outside)
}

// judgeOutside reports each old-enough request of rs, which no listed
// user's history showed, as missing from the histories of its listed
// sides, and judges it against the ledger (checkRequest).
func (c *checker) judgeOutside(ctx context.Context, rs []store.Request) error {
	// Young as checkRequests has it: within the grace period of now,
	// either side.
	cutoff, ahead := c.now.Add(-c.opts.Grace), c.opts.Now().Add(c.opts.Grace)
	var judged []store.Request
	var ids []ledger.Uint128
	seen := map[uint64]bool{} // a request can be expected twice (a 503, then its retry's answer)
	for _, r := range rs {
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		if !r.CreatedAt.Before(cutoff) && !r.CreatedAt.After(ahead) {
			continue // young: its history entries may still be on their way
		}
		sides := []uint64{r.UserID}
		if r.ToUserID != 0 && r.ToUserID != r.UserID {
			sides = append(sides, r.ToUserID)
		}
		for _, u := range sides {
			if c.users[u] {
				c.rep.add(Violation{Check: "missing-history", User: u, RequestID: r.ID,
					Detail: fmt.Sprintf("request (%s) the client was given is in no history read, nor in the open index", r.Status)})
			}
		}
		pending := ledger.Uint128FromBytes(r.PendingID)
		judged = append(judged, r)
		ids = append(ids, pending, ledger.PostID(pending), ledger.VoidID(pending))
	}
	if len(judged) == 0 {
		return nil
	}
	found, err := c.lookupTransfers(ctx, ids)
	if err != nil {
		return err
	}
	for _, r := range judged {
		c.checkRequest(r, found)
	}
	return nil
}
