package ingress

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/store"
	"github.com/valyala/fasthttp"
)

// History paging bounds.
const (
	historyLimitDefault = 20
	historyCursorMaxLen = 1024
)

// handleHistory serves GET /api/v1/user/internal_transfer/history: the
// user's requests (either side), newest first. Query parameters, each at
// most once, nothing else accepted:
//
//	status   requesting | pending | success | failed (default any)
//	from     inclusive lower bound on created_at (default unbounded)
//	to       exclusive upper bound on created_at (default unbounded)
//	limit    1..100 (default 20)
//	cursor   next_cursor of the previous page
//
// from and to are RFC 3339 ("2026-01-02T15:04:05Z", fractions and offsets
// allowed) or Unix milliseconds ("1767366245000"); from must be before to.
func (s *Server) handleHistory(ctx *fasthttp.RequestCtx, user uint64) *apiError {
	q, e := parseHistoryQuery(ctx.QueryArgs(), user)
	if e != nil {
		return e
	}
	sctx, cancel := s.serviceContext()
	page, err := s.svc.History(sctx, q)
	cancel()
	if err != nil && q.Cursor != "" && errors.Is(err, transfers.ErrInvalid) {
		// Every other parameter was checked above: the store could not
		// read the cursor.
		return errInvalid("cursor", "cursor must be the next_cursor of the previous page")
	}
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	rb := beginOK()
	rb.b = append(rb.b, `{"transfers":[`...)
	for i := range page.Requests {
		if i > 0 {
			rb.b = append(rb.b, ',')
		}
		rb.b = s.appendTransfer(rb.b, &page.Requests[i], user)
	}
	rb.b = append(rb.b, `],"next_cursor":`...)
	rb.b = appendOptString(rb.b, page.NextCursor)
	rb.b = append(rb.b, '}')
	writeOK(ctx, rb)
	return nil
}

var historyParams = []string{"status", "from", "to", "limit", "cursor"}

func parseHistoryQuery(args *fasthttp.Args, user uint64) (store.HistoryQuery, *apiError) {
	q := store.HistoryQuery{UserID: user, Limit: historyLimitDefault}
	var seen [5]bool
	var e *apiError
	for k, v := range args.All() {
		key := string(k)
		i := slices.Index(historyParams, key)
		switch {
		case i < 0:
			e = errInvalid(key, "unknown query parameter; use status, from, to, limit, cursor")
		case seen[i]:
			e = errInvalid(key, "query parameter given twice")
		default:
			seen[i] = true
			e = setHistoryParam(&q, key, v)
		}
		if e != nil {
			return q, e
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, errInvalid("from", "from must be before to")
	}
	return q, nil
}

// setHistoryParam applies one history query parameter to q. Strings are
// copied: v belongs to fasthttp.
func setHistoryParam(q *store.HistoryQuery, key string, v []byte) *apiError {
	switch key {
	case "status":
		st, err := store.ParseStatus(string(v))
		if err != nil {
			return errInvalid(key, "status must be requesting, pending, success or failed")
		}
		q.Status = st
	case "from", "to":
		t, ok := parseTime(v)
		if !ok {
			return errInvalid(key, key+" must be RFC 3339 (2026-01-02T15:04:05Z) or Unix milliseconds, from 1970 on")
		}
		if key == "from" {
			q.From = t
		} else {
			q.To = t
		}
	case "limit":
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > store.HistoryLimitMax || v[0] == '+' {
			return errInvalid(key, "limit must be an integer from 1 to "+strconv.Itoa(store.HistoryLimitMax))
		}
		q.Limit = n
	case "cursor":
		if len(v) == 0 || len(v) > historyCursorMaxLen || !printableASCII(v) {
			return errInvalid(key, "cursor must be the next_cursor of the previous page")
		}
		q.Cursor = strings.Clone(string(v))
	default:
		panic("BUG: setHistoryParam with unknown key " + key)
	}
	return nil
}

// unixMsMax keeps Unix-millisecond times within year 9999.
const unixMsMax = 253402300799999

// parseTime reads RFC 3339 or Unix milliseconds (digits only), from the
// Unix epoch on: before it no transfer exists, and the store reads a zero
// time (year 1) as no bound, so "to=0001-01-01T00:00:00Z" would select
// everything instead of nothing.
func parseTime(v []byte) (time.Time, bool) {
	if len(v) == 0 {
		return time.Time{}, false
	}
	if allDigits(v) {
		ms, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || ms > unixMsMax {
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil || t.Before(time.Unix(0, 0)) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func printableASCII(v []byte) bool {
	for _, c := range v {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// noQuery refuses a query string on an endpoint that takes none: a
// parameter the client thinks does something (a filter, an account) would
// otherwise be ignored unseen.
func noQuery(ctx *fasthttp.RequestCtx) *apiError {
	if len(ctx.URI().QueryString()) == 0 {
		return nil
	}
	key := ""
	for k := range ctx.QueryArgs().All() {
		key = string(k)
		break
	}
	return errInvalid(key, "unknown query parameter: this endpoint takes none")
}

// handleBalances serves GET /api/v1/user/balances: every account of the
// user, ordered by account type then asset.
func (s *Server) handleBalances(ctx *fasthttp.RequestCtx, user uint64) *apiError {
	if e := noQuery(ctx); e != nil {
		return e
	}
	sctx, cancel := s.serviceContext()
	bals, err := s.svc.Balances(sctx, user)
	cancel()
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	writeBalances(ctx, s, user, bals)
	return nil
}

func writeBalances(ctx *fasthttp.RequestCtx, s *Server, user uint64, bals []transfers.Balance) {
	slices.SortFunc(bals, func(a, b transfers.Balance) int {
		if c := strings.Compare(a.AccountType, b.AccountType); c != 0 {
			return c
		}
		return strings.Compare(a.Asset, b.Asset)
	})
	rb := beginOK()
	rb.b = s.appendBalances(rb.b, user, bals)
	writeOK(ctx, rb)
}
