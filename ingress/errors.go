package ingress

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress/auth"
	"github.com/exchange/internal-transfer/store"
	"github.com/valyala/fasthttp"
)

// Statuses and codes (PRODUCT.md "HTTP API"; the choices it left open are
// marked *):
//
//	400 INVALID_REQUEST*      malformed JSON, unknown/duplicate/missing field, wrong type,
//	                          trailing data, bad query parameter, bad idempotency key
//	400 INVALID_AMOUNT, INVALID_PRECISION, INVALID_ASSET, ASSET_MISMATCH, SAME_ACCOUNT,
//	    AMOUNT_TOO_SMALL, AMOUNT_TOO_LARGE, INVALID_ACCOUNT_TYPE*
//	401 UNAUTHORIZED          missing, malformed, expired, not-yet-valid or badly signed token
//	403 PERMISSION_DENIED     route not allowed; from_account.user_id other than the token's*
//	404 NOT_FOUND             unknown route, unknown request, or another user's request
//	405 METHOD_NOT_ALLOWED*   with an Allow header
//	409 IDEMPOTENCY_CONFLICT
//	413 PAYLOAD_TOO_LARGE*
//	422 INSUFFICIENT_BALANCE  details carry request_id and status (failed)
//	422 ACCOUNT_NOT_FOUND*    the destination account does not exist
//	423 ACCOUNT_FROZEN*       423 Locked rather than 422: the account, not the amount, is the problem
//	429 RATE_LIMITED          with Retry-After
//	503 OVERLOADED, UNAVAILABLE with Retry-After; a service call that outlives
//	                          RequestTimeout is UNAVAILABLE (its outcome is unknown:
//	                          retry with the same client_transfer_id to learn it)
//	500 INTERNAL*             an error the service did not classify (logged)

// defaultRetryAfter is sent with 503s whose error carries no retry time.
const defaultRetryAfter = time.Second

func errBodyTooLarge(limit int) *apiError {
	return &apiError{status: fasthttp.StatusRequestEntityTooLarge, code: codePayloadTooLarge,
		msg: fmt.Sprintf("request body exceeds %d bytes", limit)}
}

func errUnauthorized(msg string) *apiError {
	return &apiError{status: fasthttp.StatusUnauthorized, code: codeUnauthorized, msg: msg}
}

var errNotFound = &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, msg: "not found"}

func errInvalid(field, msg string) *apiError {
	return &apiError{status: fasthttp.StatusBadRequest, code: codeInvalidRequest, field: field, msg: msg}
}

func errBadRequest(code, field, msg string) *apiError {
	return &apiError{status: fasthttp.StatusBadRequest, code: code, field: field, msg: msg}
}

func errForbidden(field, msg string) *apiError {
	return &apiError{status: fasthttp.StatusForbidden, code: codePermissionDenied, field: field, msg: msg}
}

// fromFieldError turns a body decoding error into a 400.
func fromFieldError(e *fieldError) *apiError {
	return &apiError{status: fasthttp.StatusBadRequest, code: e.code, field: e.field, msg: e.Error()}
}

// fromAuthError turns a token rejection into a 401.
func fromAuthError(err error) *apiError {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return errUnauthorized(ae.Reason)
	}
	return errUnauthorized("invalid token")
}

// fromServiceError maps an error of the transfer or admin service. req, when
// it has an id, is the stored request the error belongs to (a refused hold),
// and its id and status travel in the details.
func (s *Server) fromServiceError(err error, req *store.Request) *apiError {
	var withReq *store.Request
	if req != nil && req.ID != 0 {
		r := *req
		withReq = &r
	}
	var retry *transfers.RetryableError
	retryAfter := defaultRetryAfter
	if errors.As(err, &retry) && retry.RetryAfter > 0 {
		retryAfter = retry.RetryAfter
	}
	switch {
	case errors.Is(err, transfers.ErrInsufficientBalance):
		return &apiError{status: fasthttp.StatusUnprocessableEntity, code: codeInsufficientBalance,
			msg: "insufficient balance", request: withReq}
	case errors.Is(err, transfers.ErrAccountFrozen):
		return &apiError{status: fasthttp.StatusLocked, code: codeAccountFrozen,
			msg: "account frozen", request: withReq}
	case errors.Is(err, transfers.ErrAccountNotFound):
		return &apiError{status: fasthttp.StatusUnprocessableEntity, code: codeAccountNotFound,
			msg: "destination account not found", request: withReq}
	case errors.Is(err, transfers.ErrIdempotencyConflict):
		// req is the client's own request when the refusal was recorded on
		// it (its ledger id held by another transfer); a key held by
		// another request comes without one (transfers.Service.Submit).
		return &apiError{status: fasthttp.StatusConflict, code: codeIdempotencyConflict,
			msg: "the idempotency key (client_transfer_id, Idempotency-Key or idempotency_key) was already used for a different request", request: withReq}
	case errors.Is(err, transfers.ErrKeyRefused):
		return &apiError{status: fasthttp.StatusConflict, code: codeIdempotencyConflict,
			msg: "the operation with this idempotency_key was refused before, and that is final: send it with a new key"}
	case errors.Is(err, transfers.ErrOverloaded):
		return &apiError{status: fasthttp.StatusServiceUnavailable, code: codeOverloaded,
			msg: "service overloaded, retry later", retryAfter: retryAfter}
	case errors.Is(err, transfers.ErrOutcomeUnknown) && withReq != nil:
		return &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			msg:     "the outcome is not known yet and the request may still complete: look up its request_id, or retry with the same client_transfer_id",
			request: withReq, retryAfter: retryAfter}
	case errors.Is(err, transfers.ErrOutcomeUnknown):
		return &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			msg:        "the outcome is not known yet and the operation may have been applied: retry with the same idempotency key to learn it (without one, check the balances first)",
			retryAfter: retryAfter}
	case errors.Is(err, transfers.ErrUnavailable):
		return &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			msg: "service unavailable, retry later", retryAfter: retryAfter}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			msg:        "no answer in time; the outcome is unknown, retry with the same client_transfer_id",
			retryAfter: retryAfter}
	case errors.Is(err, transfers.ErrNotFound):
		return errNotFound
	case errors.Is(err, transfers.ErrInvalid):
		return errInvalid("", err.Error())
	}
	s.log.Error("ingress: unclassified service error", "err", err)
	return &apiError{status: fasthttp.StatusInternalServerError, code: codeInternal, msg: "internal error"}
}
