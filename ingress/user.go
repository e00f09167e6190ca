package ingress

import (
	"bytes"
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// User API paths.
const (
	pathTransfer       = "/api/v1/user/internal_transfer"
	pathTransferPrefix = pathTransfer + "/"
	pathHistory        = pathTransfer + "/history"
	pathBalances       = "/api/v1/user/balances"
	pathHealth         = "/health"
	pathReady          = "/ready"
)

// UserHandler serves the user API, /health and /ready.
func (s *Server) UserHandler() fasthttp.RequestHandler { return s.handleUser }

func (s *Server) handleUser(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) {
	case pathTransfer:
		if s.method(ctx, fasthttp.MethodPost) {
			s.handleTransfer(ctx)
		}
	case pathHistory:
		if s.method(ctx, fasthttp.MethodGet) {
			s.authed(ctx, s.handleHistory)
		}
	case pathBalances:
		if s.method(ctx, fasthttp.MethodGet) {
			s.authed(ctx, s.handleBalances)
		}
	case pathHealth:
		if s.method(ctx, fasthttp.MethodGet) {
			s.handleHealth(ctx)
		}
	case pathReady:
		if s.method(ctx, fasthttp.MethodGet) {
			s.handleReady(ctx)
		}
	default:
		if bytes.HasPrefix(path, []byte(pathTransferPrefix)) {
			if s.method(ctx, fasthttp.MethodGet) {
				s.authed(ctx, s.handleGetTransfer)
			}
			return
		}
		writeError(ctx, errNotFound)
	}
}

// HealthHandler serves only /health and /ready, for a monitoring listener
// (monitoring.health_check_port) apart from the user API.
func (s *Server) HealthHandler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case pathHealth:
			if s.method(ctx, fasthttp.MethodGet) {
				s.handleHealth(ctx)
			}
		case pathReady:
			if s.method(ctx, fasthttp.MethodGet) {
				s.handleReady(ctx)
			}
		default:
			writeError(ctx, errNotFound)
		}
	}
}

// method answers 405 with an Allow header unless ctx's method is want.
func (s *Server) method(ctx *fasthttp.RequestCtx, want string) bool {
	if string(ctx.Method()) == want {
		return true
	}
	ctx.Response.Header.Set("Allow", want)
	writeError(ctx, &apiError{status: fasthttp.StatusMethodNotAllowed, code: codeMethodNotAllowed,
		msg: "method not allowed; use " + want})
	return false
}

// authed runs h for the authenticated, rate-limited user of ctx, writing
// h's refusal if it returns one.
func (s *Server) authed(ctx *fasthttp.RequestCtx, h func(ctx *fasthttp.RequestCtx, user uint64) *apiError) {
	user, e := s.admit(ctx)
	if e == nil {
		e = h(ctx, user)
	}
	if e != nil {
		writeError(ctx, e)
	}
}

// admit authenticates ctx's bearer token and takes a token of the user's
// rate limit.
func (s *Server) admit(ctx *fasthttp.RequestCtx) (uint64, *apiError) {
	return s.admitAt(ctx, s.opts.Now())
}

// admitAt is admit with the current time given.
func (s *Server) admitAt(ctx *fasthttp.RequestCtx, now time.Time) (uint64, *apiError) {
	token, ok := bearer(&ctx.Request.Header)
	if !ok {
		return 0, errUnauthorized("missing bearer token (one Authorization: Bearer header)")
	}
	user, err := s.verifier.VerifyAt(token, now)
	if err != nil {
		return 0, fromAuthError(err)
	}
	if s.limiter != nil {
		if ok, wait := s.limiter.allow(user, now.UnixNano()); !ok {
			return 0, &apiError{status: fasthttp.StatusTooManyRequests, code: codeRateLimited,
				msg: "too many requests", retryAfter: wait}
		}
	}
	return user, nil
}

// bearer extracts the credential of the request's "Authorization: Bearer
// <x>" header; the scheme is case-insensitive (RFC 9110 §11.1). A request
// with several Authorization headers has none: which one counts would be a
// guess.
func bearer(rh *fasthttp.RequestHeader) ([]byte, bool) {
	all := rh.PeekAll(fasthttp.HeaderAuthorization)
	if len(all) != 1 {
		return nil, false
	}
	h := all[0]
	const scheme = "bearer "
	if len(h) <= len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) {
		return nil, false
	}
	tok := bytes.TrimLeft(h[len(scheme):], " ")
	return tok, len(tok) > 0
}

// handleHealth reports liveness and the version, plus the parts
// Options.HealthParts names (settlement running in this process reports
// "consumer" and "scanner"); when those are not healthy, the whole answer
// is unhealthy with 503.
func (s *Server) handleHealth(ctx *fasthttp.RequestCtx) {
	status := "healthy"
	var parts map[string]string
	if s.opts.HealthParts != nil {
		var healthy bool
		if parts, healthy = s.opts.HealthParts(); !healthy {
			status = "unhealthy"
		}
	}
	b := append([]byte(nil), `{"status":`...)
	b = appendJSONString(b, status)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, s.opts.Version)
	names := make([]string, 0, len(parts))
	for k := range parts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b = append(b, ',')
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, parts[k])
	}
	b = append(b, '}')
	ctx.SetContentTypeBytes(contentTypeJSON)
	if status != "healthy" {
		ctx.Response.Header.Set("Retry-After", "5")
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	ctx.SetBody(b)
}

// handleReady calls the readiness probe with ReadyTimeout: 200 when the
// backends answer, 503 otherwise (the cause is logged, not shown). A result
// answers for readyCacheFor, and one probe runs at a time: /ready needs no
// credential, and each probe calls every backend.
func (s *Server) handleReady(ctx *fasthttp.RequestCtx) {
	ctx.SetContentTypeBytes(contentTypeJSON)
	if s.ready != nil {
		if err := s.readiness(); err != nil {
			ctx.Response.Header.Set("Retry-After", "1")
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString(`{"status":"unavailable"}`)
			return
		}
	}
	ctx.SetBodyString(`{"status":"ready"}`)
}

// readiness is the last probe's result while it is fresh, else a new one.
func (s *Server) readiness() error {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.readyAt.IsZero() || time.Since(s.readyAt) >= s.readyCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.ReadyTimeout)
		defer cancel()
		s.readyErr = s.ready(ctx)
		s.readyAt = time.Now()
		if s.readyErr != nil {
			s.log.Warn("ingress: not ready", "err", s.readyErr)
		}
	}
	return s.readyErr
}

// handleGetTransfer serves GET /api/v1/user/internal_transfer/{request_id}.
// Another user's request is answered exactly like an unknown one (404), so
// ids cannot be probed. A malformed id is 400.
func (s *Server) handleGetTransfer(ctx *fasthttp.RequestCtx, user uint64) *apiError {
	raw := ctx.Path()[len(pathTransferPrefix):]
	id, ok := parseID(raw)
	if !ok {
		return errInvalid("request_id", "request_id must be a positive decimal integer")
	}
	if e := noQuery(ctx); e != nil {
		return e
	}
	sctx, cancel := s.serviceContext()
	req, err := s.svc.Get(sctx, id)
	cancel()
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	if req.UserID != user && req.ToUserID != user {
		return errNotFound
	}
	rb := beginOK()
	rb.b = s.appendTransfer(rb.b, &req, user)
	writeOK(ctx, rb)
	return nil
}

// parseID parses a positive decimal uint64 without sign or leading zero.
func parseID(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || b[0] == '0' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, err == nil && v > 0
}
