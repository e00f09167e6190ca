package ingress

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"strconv"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/valyala/fasthttp"
)

// adminRoute is one admin endpoint. Operator tools (stuck report,
// reconcile, manual post/void, resend) are added as rows of adminRoutes
// with a handler of this shape.
type adminRoute struct {
	method string
	handle func(s *Server, ctx *fasthttp.RequestCtx) *apiError
}

var adminRoutes = map[string]adminRoute{
	"/admin/v1/deposit":  {fasthttp.MethodPost, (*Server).adminDeposit},
	"/admin/v1/withdraw": {fasthttp.MethodPost, (*Server).adminWithdraw},
	"/admin/v1/freeze":   {fasthttp.MethodPost, (*Server).adminFreeze},
	"/admin/v1/unfreeze": {fasthttp.MethodPost, (*Server).adminUnfreeze},
	"/admin/v1/balances": {fasthttp.MethodGet, (*Server).adminBalances},
}

// AdminHandler serves the admin API. Every request needs
// "Authorization: Bearer <AdminToken>", compared in constant time.
// It is nil when New was given no AdminService.
func (s *Server) AdminHandler() fasthttp.RequestHandler {
	if s.admin == nil {
		return nil
	}
	return s.handleAdmin
}

func (s *Server) handleAdmin(ctx *fasthttp.RequestCtx) {
	// The token first: without it, every path and method answers 401, so
	// the routes (and whether the operator tools are on) do not show.
	if !s.adminAuthorized(ctx) {
		writeError(ctx, errUnauthorized("missing or wrong admin token"))
		return
	}
	route, ok := adminRoutes[string(ctx.Path())]
	if !ok {
		if route, ok = s.operatorRoute(ctx.Path()); !ok {
			writeError(ctx, errNotFound)
			return
		}
	}
	if !s.method(ctx, route.method) {
		return
	}
	if len(ctx.PostBody()) > s.opts.BodyLimitBytes {
		writeError(ctx, errBodyTooLarge(s.opts.BodyLimitBytes))
		return
	}
	if e := route.handle(s, ctx); e != nil {
		writeError(ctx, e)
	}
}

// adminAuthorized compares digests, so neither the content nor the length
// of the configured token leaks through timing.
func (s *Server) adminAuthorized(ctx *fasthttp.RequestCtx) bool {
	tok, ok := bearer(&ctx.Request.Header)
	if !ok {
		return false
	}
	got := sha256.Sum256(tok)
	return subtle.ConstantTimeCompare(got[:], s.adminKey[:]) == 1
}

// adminBody is a decoded admin POST body; strings are copies or catalog
// names, never request memory.
type adminBody struct {
	user        uint64
	accountType string
	asset       transfers.Asset
	amount      uint64
	key         string
}

// decodeAdminBody reads {"user_id","account_type","asset"} plus, when
// withAmount, "amount" (required) and "idempotency_key" (optional).
// Transfer limits do not apply to deposits and withdrawals.
func (s *Server) decodeAdminBody(data []byte, withAmount bool) (adminBody, *apiError) {
	var out adminBody
	var typ, asset, amount, key []byte
	r := jsonReader{b: data}
	err := r.object("", func(k []byte) error {
		var err error
		switch string(k) {
		case "user_id":
			out.user, err = r.userID("user_id")
		case "account_type":
			typ, err = r.stringValue("account_type")
		case "asset":
			asset, err = r.stringValue("asset")
		case "amount":
			if !withAmount {
				return badField("amount", "unknown field")
			}
			amount, err = r.stringValue("amount")
		case "idempotency_key":
			if !withAmount {
				return badField("idempotency_key", "unknown field")
			}
			if !r.null() {
				key, err = r.stringValue("idempotency_key")
			}
		default:
			err = badField(string(k), "unknown field")
		}
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return out, fromFieldError(err.(*fieldError))
	}
	switch {
	case out.user == 0:
		return out, errInvalid("user_id", "required")
	case typ == nil:
		return out, errInvalid("account_type", "required")
	case asset == nil:
		return out, errInvalid("asset", "required")
	case withAmount && amount == nil:
		return out, errInvalid("amount", "required")
	}
	t, ok := s.opts.Catalog.AccountType(string(typ))
	if !ok {
		return out, errBadRequest(codeInvalidAccountType, "account_type", "unknown account type")
	}
	out.accountType = t.Name
	if out.asset, ok = s.opts.Catalog.Asset(string(asset)); !ok {
		return out, errBadRequest(codeInvalidAsset, "asset", "unknown asset")
	}
	if withAmount {
		var e *apiError
		if out.amount, e = parseAdminAmount(amount, out.asset); e != nil {
			return out, e
		}
		if key != nil && (len(key) == 0 || len(key) > idempotencyKeyMaxLen || !printableASCII(key)) {
			return out, errInvalid("idempotency_key", "must be 1 to 64 printable ASCII characters without spaces")
		}
		out.key = string(key)
	}
	return out, nil
}

func parseAdminAmount(raw []byte, asset transfers.Asset) (uint64, *apiError) {
	v, err := ParseAmount(raw, asset.Decimals)
	switch {
	case errors.Is(err, ErrInvalidPrecision):
		return 0, errBadRequest(codeInvalidPrecision, "amount",
			"amount has more than "+strconv.Itoa(asset.Decimals)+" decimals, the most "+asset.Name+" allows")
	case err != nil:
		return 0, errBadRequest(codeInvalidAmount, "amount", err.Error())
	}
	return v, nil
}

// adminMove runs a deposit or withdrawal and echoes it back.
func (s *Server) adminMove(ctx *fasthttp.RequestCtx,
	op func(s *Server, b adminBody) error) *apiError {
	b, e := s.decodeAdminBody(ctx.PostBody(), true)
	if e != nil {
		return e
	}
	if b.key == "" {
		// The operation's ledger id comes from its key: one made here and
		// told to the caller lets a retry after an unknown outcome name
		// the same operation, which then cannot apply twice.
		b.key = "admin-" + transfers.NewOperationKey()
	}
	if err := op(s, b); err != nil {
		e := s.fromServiceError(err, nil)
		var retry *transfers.RetryableError
		if errors.As(err, &retry) {
			e.msg += `; it may still take effect: retry with "idempotency_key":"` + b.key + `" so it cannot apply twice`
		}
		return e
	}
	rb := beginOK()
	rb.b = appendAdminAccount(rb.b, b)
	rb.b = append(rb.b[:len(rb.b)-1], `,"amount":"`...)
	rb.b = AppendAmount(rb.b, b.amount, b.asset.Decimals)
	rb.b = append(rb.b, `","idempotency_key":`...)
	rb.b = appendOptString(rb.b, b.key)
	rb.b = append(rb.b, '}')
	writeOK(ctx, rb)
	return nil
}

func appendAdminAccount(dst []byte, b adminBody) []byte {
	dst = append(dst, `{"user_id":`...)
	dst = strconv.AppendUint(dst, b.user, 10)
	dst = append(dst, `,"account_type":`...)
	dst = appendJSONString(dst, b.accountType)
	dst = append(dst, `,"asset":`...)
	dst = appendJSONString(dst, b.asset.Name)
	return append(dst, '}')
}

// adminDeposit serves POST /admin/v1/deposit: operator → user.
func (s *Server) adminDeposit(ctx *fasthttp.RequestCtx) *apiError {
	return s.adminMove(ctx, func(s *Server, b adminBody) error {
		sctx, cancel := s.serviceContext()
		defer cancel()
		return s.admin.Deposit(sctx, b.user, b.accountType, b.asset.Name, b.amount, b.key)
	})
}

// adminWithdraw serves POST /admin/v1/withdraw: user → operator.
func (s *Server) adminWithdraw(ctx *fasthttp.RequestCtx) *apiError {
	return s.adminMove(ctx, func(s *Server, b adminBody) error {
		sctx, cancel := s.serviceContext()
		defer cancel()
		return s.admin.Withdraw(sctx, b.user, b.accountType, b.asset.Name, b.amount, b.key)
	})
}

// adminFreeze serves POST /admin/v1/freeze.
func (s *Server) adminFreeze(ctx *fasthttp.RequestCtx) *apiError {
	return s.adminFreezeOp(ctx, true)
}

// adminUnfreeze serves POST /admin/v1/unfreeze.
func (s *Server) adminUnfreeze(ctx *fasthttp.RequestCtx) *apiError {
	return s.adminFreezeOp(ctx, false)
}

func (s *Server) adminFreezeOp(ctx *fasthttp.RequestCtx, freeze bool) *apiError {
	b, e := s.decodeAdminBody(ctx.PostBody(), false)
	if e != nil {
		return e
	}
	sctx, cancel := s.serviceContext()
	var err error
	if freeze {
		err = s.admin.Freeze(sctx, b.user, b.accountType, b.asset.Name)
	} else {
		err = s.admin.Unfreeze(sctx, b.user, b.accountType, b.asset.Name)
	}
	cancel()
	if errors.Is(err, transfers.ErrOutcomeUnknown) {
		// These take no idempotency key: the same request again is the
		// same ledger call, and learns the outcome.
		e := s.fromServiceError(err, nil)
		e.msg = "the outcome is not known yet and the change may still take effect: repeat this same request to learn it, before any opposite one"
		return e
	}
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	rb := beginOK()
	rb.b = appendAdminAccount(rb.b, b)
	rb.b = append(rb.b[:len(rb.b)-1], `,"frozen":`...)
	rb.b = strconv.AppendBool(rb.b, freeze)
	rb.b = append(rb.b, '}')
	writeOK(ctx, rb)
	return nil
}

// adminBalances serves GET /admin/v1/balances?user_id=N.
func (s *Server) adminBalances(ctx *fasthttp.RequestCtx) *apiError {
	args := ctx.QueryArgs()
	if args.Len() != 1 {
		return errInvalid("user_id", "exactly one query parameter, user_id, is expected")
	}
	user, ok := parseID(args.Peek("user_id"))
	if !ok || user > math.MaxInt64 {
		return errInvalid("user_id", "user_id must be a positive decimal integer, at most 9223372036854775807")
	}
	sctx, cancel := s.serviceContext()
	bals, err := s.admin.Balances(sctx, user)
	cancel()
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	writeBalances(ctx, s, user, bals)
	return nil
}
