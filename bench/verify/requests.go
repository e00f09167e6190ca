package verify

import (
	"context"
	"fmt"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// historyPagesMax bounds the history walk of one user (100 requests a page).
const historyPagesMax = 100_000

// loadRequests walks every listed user's history (all statuses) into
// c.requests; a cross-user request appears in both users' histories once.
func (c *checker) loadRequests(ctx context.Context) error {
	for _, u := range c.sortedUsers() {
		cursor := ""
		for page := 0; ; page++ {
			if page == historyPagesMax {
				return fmt.Errorf("cannot walk the history of user %d: more than %d pages", u, historyPagesMax)
			}
			cctx, cancel := c.call(ctx)
			p, err := c.opts.Store.History(cctx, store.HistoryQuery{UserID: u, Limit: store.HistoryLimitMax, Cursor: cursor})
			cancel()
			if err != nil {
				return fmt.Errorf("cannot read the history of user %d: %w", u, err)
			}
			for _, r := range p.Requests {
				c.seenInHistory(u, r)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
	}
	c.checkSides()
	return c.loadOpen(ctx)
}

// Which users' histories a request was seen in.
const (
	sideFrom uint8 = 1 << iota // its debited user's
	sideTo                     // its credited user's
)

// seenInHistory records r, read from user u's history. The store keeps a
// request's copies (its row, each side's history entry, the open index)
// apart on ScyllaDB: a second copy must say the same, and u must be a side.
func (c *checker) seenInHistory(u uint64, r store.Request) {
	old := r.CreatedAt.Before(c.now.Add(-c.opts.Grace))
	switch {
	case r.UserID == u:
		c.sides[r.ID] |= sideFrom
	case r.ToUserID == u:
		c.sides[r.ID] |= sideTo
	default:
		c.rep.add(Violation{Check: "foreign-history", User: u, RequestID: r.ID,
			Detail: fmt.Sprintf("in the history of user %d, who is neither side (%d → %d)", u, r.UserID, r.ToUserID)})
	}
	if r.ToUserID == r.UserID || r.ToUserID == 0 {
		c.sides[r.ID] |= sideTo // a self-transfer has one history entry
	}
	if prev, seen := c.requests[r.ID]; seen && old && !sameCopy(prev, r) {
		c.rep.add(Violation{Check: "copy-mismatch", User: u, RequestID: r.ID,
			Detail: fmt.Sprintf("the histories disagree: %s %d %s→%s vs %s %d %s→%s", prev.Status, prev.Amount, prev.FromAccountType, prev.ToAccountType,
				r.Status, r.Amount, r.FromAccountType, r.ToAccountType)})
	}
	c.requests[r.ID] = r
}

// checkSides reports an old-enough request missing from the history of a
// listed user on either side.
func (c *checker) checkSides() {
	cutoff := c.now.Add(-c.opts.Grace)
	for _, r := range sortedRequests(c.requests) {
		if !r.CreatedAt.Before(cutoff) {
			continue
		}
		s := c.sides[r.ID]
		if c.users[r.UserID] && s&sideFrom == 0 {
			c.rep.add(Violation{Check: "missing-history", User: r.UserID, RequestID: r.ID,
				Detail: fmt.Sprintf("request to user %d is not in the history of its sender %d", r.ToUserID, r.UserID)})
		}
		if r.ToUserID != 0 && r.ToUserID != r.UserID && c.users[r.ToUserID] && s&sideTo == 0 {
			c.rep.add(Violation{Check: "missing-history", User: r.ToUserID, RequestID: r.ID,
				Detail: fmt.Sprintf("request from user %d is not in the history of its receiver %d", r.UserID, r.ToUserID)})
		}
	}
}

// sameCopy reports whether a later-read copy b of a request agrees with an
// earlier-read a on what it is, and on where it stands once a was final (a
// live request may advance between the two reads; a final one may not).
func sameCopy(a, b store.Request) bool {
	return a.ID == b.ID && a.UserID == b.UserID && a.ToUserID == b.ToUserID && a.FromAccountType == b.FromAccountType &&
		a.ToAccountType == b.ToAccountType && a.Asset == b.Asset && a.Amount == b.Amount &&
		a.IdempotencyKey == b.IdempotencyKey && a.CreatedAt.Equal(b.CreatedAt) && a.PendingID == b.PendingID &&
		(!a.Status.Final() || a.Status == b.Status && a.ErrorCode == b.ErrorCode)
}

// loadOpen adds every open request older than the grace period from the
// store's open index, so a request its users' histories do not show (a
// user left out of the list, a lost history entry) is still judged.
func (c *checker) loadOpen(ctx context.Context) error {
	// The clock read before the history walk: a request created during
	// the walk is young, not missing from a history already read.
	q := store.OpenQuery{Before: c.now.Add(-c.opts.Grace), Limit: store.OpenLimitMax}
	for page := 0; ; page++ {
		if page == historyPagesMax {
			return fmt.Errorf("cannot walk the open requests: more than %d pages", historyPagesMax)
		}
		cctx, cancel := c.call(ctx)
		p, err := c.opts.Store.ListOpen(cctx, q)
		cancel()
		if err != nil {
			return fmt.Errorf("cannot list open requests: %w", err)
		}
		for _, id := range p.Unreadable {
			c.rep.add(Violation{Check: "unreadable", RequestID: id,
				Detail: "the store's open index lists the request, but its row is damaged or missing"})
		}
		for _, r := range p.Requests {
			if prev, seen := c.requests[r.ID]; seen {
				if !sameCopy(prev, r) {
					c.rep.add(Violation{Check: "copy-mismatch", User: r.UserID, RequestID: r.ID,
						Detail: fmt.Sprintf("the open index says %s %d, the history %s %d", r.Status, r.Amount, prev.Status, prev.Amount)})
				}
				continue
			}
			c.requests[r.ID] = r
			c.rep.RequestsOpenOnly++
			for _, u := range []uint64{r.UserID, r.ToUserID} {
				if c.users[u] {
					c.rep.add(Violation{Check: "missing-history", User: u, RequestID: r.ID,
						Detail: fmt.Sprintf("open request (%s) is not in the history of user %d", r.Status, u)})
				}
			}
		}
		if p.NextCursor == "" {
			break
		}
		q.Cursor = p.NextCursor
	}
	c.rep.Requests = len(c.requests)
	return nil
}

// lookupTransfers reads the transfers of ids in batches, keyed by id.
func (c *checker) lookupTransfers(ctx context.Context, ids []ledger.Uint128) (map[ledger.Uint128]ledger.Transfer, error) {
	out := make(map[ledger.Uint128]ledger.Transfer, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), ledger.BatchEventsMax)
		cctx, cancel := c.call(ctx)
		found, err := c.opts.Ledger.LookupTransfers(cctx, ids[:n])
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cannot look up transfers: %w", err)
		}
		for _, t := range found {
			out[t.ID] = t
		}
		ids = ids[n:]
	}
	return out, nil
}

// checkRequests: unique keys and pending ids, then every old-enough request
// against its hold, post and void.
func (c *checker) checkRequests(ctx context.Context) error {
	if err := c.loadRequests(ctx); err != nil {
		return err
	}
	keys := map[string]uint64{}
	var ids []ledger.Uint128
	// Judged: created before the check started, less the grace; or dated
	// more than the grace past the clock now, after every read (a clock
	// running fast). Between the two: young, possibly still in flight.
	cutoff, ahead := c.now.Add(-c.opts.Grace), c.opts.Now().Add(c.opts.Grace)
	var judged []store.Request
	for _, r := range sortedRequests(c.requests) {
		pending := ledger.Uint128FromBytes(r.PendingID)
		if want := transfers.PendingID(r); pending != want {
			c.rep.add(Violation{Check: "pending-id", User: r.UserID, RequestID: r.ID,
				Detail: fmt.Sprintf("stored pending id %s, deterministic id %s", pending, want)})
		}
		if other, dup := c.holds[pending]; dup {
			c.rep.add(Violation{Check: "shared-pending-id", User: r.UserID, RequestID: r.ID,
				Detail: fmt.Sprintf("pending id %s also belongs to request %d", pending, other)})
		}
		c.holds[pending] = r.ID
		if r.IdempotencyKey != "" {
			k := fmt.Sprintf("%d/%s", r.UserID, r.IdempotencyKey)
			if other, dup := keys[k]; dup {
				c.rep.add(Violation{Check: "shared-key", User: r.UserID, RequestID: r.ID,
					Detail: fmt.Sprintf("idempotency key %q also names request %d", r.IdempotencyKey, other)})
			}
			keys[k] = r.ID
		}
		// Young: within the grace period of now, either side. A request
		// dated further ahead (a clock running fast) is judged, not hidden.
		if !r.CreatedAt.Before(cutoff) && !r.CreatedAt.After(ahead) {
			c.rep.RequestsYoung++
			continue
		}
		judged = append(judged, r)
		ids = append(ids, pending, ledger.PostID(pending), ledger.VoidID(pending))
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

// checkRequest judges one request against the ledger.
func (c *checker) checkRequest(r store.Request, found map[ledger.Uint128]ledger.Transfer) {
	pending := ledger.Uint128FromBytes(r.PendingID)
	hold, hasHold := found[pending]
	bad := func(check, format string, args ...any) {
		c.rep.add(Violation{Check: check, User: r.UserID, RequestID: r.ID, Detail: fmt.Sprintf(format, args...)})
	}
	if hasHold {
		c.checkHold(r, hold, bad)
	}
	// What a resolving transfer did is its flag, not the id it carries: a
	// void under the post id released the funds of a success, a post under
	// the void id paid out a failure. Each is judged by its flag.
	var post, void ledger.Transfer
	var hasPost, hasVoid bool
	for _, at := range []struct {
		id    ledger.Uint128
		check string
		flag  uint16
		name  string
	}{
		{ledger.PostID(pending), "post-mismatch", ledger.TransferPostPendingTransfer, "post"},
		{ledger.VoidID(pending), "void-mismatch", ledger.TransferVoidPendingTransfer, "void"},
	} {
		t, ok := found[at.id]
		if !ok {
			continue
		}
		if t.Flags&at.flag == 0 {
			bad(at.check, "transfer %s under the %s id has flags %#x, not a %s", t.ID, at.name, t.Flags, at.name)
		}
		switch {
		case t.Flags&ledger.TransferPostPendingTransfer != 0:
			post, hasPost = t, true
		case t.Flags&ledger.TransferVoidPendingTransfer != 0:
			void, hasVoid = t, true
		}
	}
	if hasPost && post.PendingID != pending {
		bad("post-mismatch", "post %s names pending %s, want %s", post.ID, post.PendingID, pending)
	}
	if hasPost && hasHold && post.Amount != hold.Amount {
		bad("post-mismatch", "post %s moves %s of hold %s's %s; a transfer posts its whole hold", post.ID, post.Amount, hold.ID, hold.Amount)
	}
	if hasVoid && void.PendingID != pending {
		bad("void-mismatch", "void %s names pending %s, want %s", void.ID, void.PendingID, pending)
	}
	switch r.Status {
	case store.StatusSuccess:
		if !hasHold || !hasPost || hasVoid {
			bad("success-mismatch", "status success but hold=%t post=%t void=%t (want true, true, false)", hasHold, hasPost, hasVoid)
		}
	case store.StatusFailed:
		if hasPost || (hasHold && !hasVoid) {
			bad("failed-mismatch", "status failed (%s) but hold=%t post=%t void=%t (want no post, and a void or no hold)", r.ErrorCode, hasHold, hasPost, hasVoid)
		}
	default:
		bad("not-final", "status %s, created %s, hold=%t post=%t void=%t", r.Status, r.CreatedAt.UTC().Format("15:04:05.000"), hasHold, hasPost, hasVoid)
	}
}

// checkHold: the hold moves the request's amount between the request's
// accounts on the asset's ledger, as a pending internal transfer.
func (c *checker) checkHold(r store.Request, hold ledger.Transfer, bad func(check, format string, args ...any)) {
	want, err := c.opts.Catalog.HoldTransfer(r)
	if err != nil {
		bad("hold-mismatch", "request names accounts the catalog does not know: %v", err)
		return
	}
	if hold.DebitAccountID != want.DebitAccountID || hold.CreditAccountID != want.CreditAccountID ||
		hold.Amount != want.Amount || hold.Ledger != want.Ledger || hold.Code != want.Code ||
		hold.Flags&ledger.TransferPending == 0 {
		bad("hold-mismatch", "hold %s: debit %s credit %s amount %s ledger %d code %d flags %#x; want debit %s credit %s amount %s ledger %d code %d, pending",
			hold.ID, hold.DebitAccountID, hold.CreditAccountID, hold.Amount, hold.Ledger, hold.Code, hold.Flags,
			want.DebitAccountID, want.CreditAccountID, want.Amount, want.Ledger, want.Code)
	}
}

// sortedRequests returns the requests in id order, for stable output.
func sortedRequests(m map[uint64]store.Request) []store.Request {
	out := make([]store.Request, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sortByID(out)
	return out
}
