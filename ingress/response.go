package ingress

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/store"
	"github.com/valyala/fasthttp"
)

// Error codes of the envelope. The first group is PRODUCT.md's contract;
// the second names what the contract leaves to the ingress.
const (
	codeInvalidAmount       = "INVALID_AMOUNT"
	codeInvalidPrecision    = "INVALID_PRECISION"
	codeAmountTooSmall      = "AMOUNT_TOO_SMALL"
	codeAmountTooLarge      = "AMOUNT_TOO_LARGE"
	codeInvalidAsset        = "INVALID_ASSET"
	codeAssetMismatch       = "ASSET_MISMATCH"
	codeSameAccount         = "SAME_ACCOUNT"
	codePermissionDenied    = "PERMISSION_DENIED"
	codeInsufficientBalance = "INSUFFICIENT_BALANCE"
	codeAccountFrozen       = "ACCOUNT_FROZEN"
	codeIdempotencyConflict = "IDEMPOTENCY_CONFLICT"
	codeRateLimited         = "RATE_LIMITED"
	codeNotFound            = "NOT_FOUND"
	codeUnauthorized        = "UNAUTHORIZED"
	codeOverloaded          = "OVERLOADED"
	codeUnavailable         = "UNAVAILABLE"

	codeInvalidRequest     = "INVALID_REQUEST"      // malformed JSON, unknown/duplicate/missing field, wrong type, bad query
	codeInvalidAccountType = "INVALID_ACCOUNT_TYPE" // account type not configured
	codeAccountNotFound    = "ACCOUNT_NOT_FOUND"    // destination account does not exist (422)
	codePayloadTooLarge    = "PAYLOAD_TOO_LARGE"    // 413
	codeMethodNotAllowed   = "METHOD_NOT_ALLOWED"   // 405
	codeInternal           = "INTERNAL"             // 500: a bug or an error the service did not classify
)

// allCodes lists every code, for the rejected-requests counters.
var allCodes = []string{
	codeInvalidAmount, codeInvalidPrecision, codeAmountTooSmall, codeAmountTooLarge,
	codeInvalidAsset, codeAssetMismatch, codeSameAccount, codePermissionDenied,
	codeInsufficientBalance, codeAccountFrozen, codeIdempotencyConflict, codeRateLimited,
	codeNotFound, codeUnauthorized, codeOverloaded, codeUnavailable,
	codeInvalidRequest, codeInvalidAccountType, codeAccountNotFound, codePayloadTooLarge,
	codeMethodNotAllowed, codeInternal,
}

// apiError is a refusal on its way to the client.
type apiError struct {
	status     int
	code       string
	msg        string
	field      string         // details.field when set
	request    *store.Request // details.request_id and details.status when set
	retryAfter time.Duration  // Retry-After header when > 0
}

var contentTypeJSON = []byte("application/json")

// Headers of every API answer: they hold a user's balances and transfers,
// which no cache may keep, and are JSON only.
var (
	headerCacheControl = []byte("Cache-Control")
	noStore            = []byte("no-store")
	headerNoSniff      = []byte("X-Content-Type-Options")
	noSniff            = []byte("nosniff")
)

func setJSONHeaders(ctx *fasthttp.RequestCtx) {
	ctx.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.Header.SetBytesKV(headerCacheControl, noStore)
	ctx.Response.Header.SetBytesKV(headerNoSniff, noSniff)
}

// writeError writes the failure envelope.
func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	buf := getBuf()
	b := append(buf.b[:0], `{"success":false,"data":null,"error":{"code":"`...)
	b = append(b, e.code...)
	b = append(b, `","message":`...)
	b = appendJSONString(b, e.msg)
	b = append(b, `,"details":{`...)
	sep := false
	if e.field != "" {
		b = append(b, `"field":`...)
		b = appendJSONString(b, e.field)
		sep = true
	}
	if e.request != nil {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"request_id":"`...)
		b = strconv.AppendUint(b, e.request.ID, 10)
		b = append(b, `","status":"`...)
		b = append(b, e.request.Status.String()...)
		b = append(b, '"')
		sep = true
	}
	if e.retryAfter > 0 {
		secs := retryAfterSeconds(e.retryAfter)
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"retry_after_seconds":`...)
		b = strconv.AppendInt(b, secs, 10)
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	b = append(b, "}}}"...)
	if e.status == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="internal-transfer"`) // RFC 6750
	}
	ctx.Response.SetBody(b)
	ctx.SetStatusCode(e.status)
	setJSONHeaders(ctx)
	buf.b = b
	putBuf(buf)
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// okPrefix opens the success envelope; okSuffix closes it.
const (
	okPrefix = `{"success":true,"data":`
	okSuffix = `,"error":null}`
)

// respBuf is a scratch buffer a response is encoded into before fasthttp
// copies it into its own (pooled) body buffer.
type respBuf struct{ b []byte }

// respBufMaxBytes keeps an unusually large response's buffer out of the pool.
const respBufMaxBytes = 64 << 10

var respBufPool = sync.Pool{New: func() any { return &respBuf{b: make([]byte, 0, 1024)} }}

func getBuf() *respBuf { return respBufPool.Get().(*respBuf) }

func putBuf(rb *respBuf) {
	if cap(rb.b) <= respBufMaxBytes {
		respBufPool.Put(rb)
	}
}

// beginOK starts a success envelope in a pooled buffer; the caller appends
// the data object to rb.b and calls writeOK.
func beginOK() *respBuf {
	rb := getBuf()
	rb.b = append(rb.b[:0], okPrefix...)
	return rb
}

// writeOK closes the success envelope in rb, sends it and frees rb.
func writeOK(ctx *fasthttp.RequestCtx, rb *respBuf) {
	rb.b = append(rb.b, okSuffix...)
	ctx.Response.SetBody(rb.b)
	ctx.SetStatusCode(fasthttp.StatusOK)
	setJSONHeaders(ctx)
	putBuf(rb)
}

// operatorView is appendTransfer's viewer for the admin API: it sees every
// field.
const operatorView = 0

// appendTransfer appends req as the API's transfer object, as viewer (a
// user id, or operatorView) may see it: the sender's idempotency key is
// the sender's alone, so the receiving user gets null.
func (s *Server) appendTransfer(b []byte, req *store.Request, viewer uint64) []byte {
	decimals := 0
	if a, ok := s.opts.Catalog.Asset(req.Asset); ok {
		decimals = a.Decimals
	}
	b = append(b, `{"request_id":"`...)
	b = strconv.AppendUint(b, req.ID, 10)
	b = append(b, `","status":"`...)
	b = append(b, req.Status.String()...)
	b = append(b, `","from_account":{"user_id":`...)
	b = strconv.AppendUint(b, req.UserID, 10)
	b = append(b, `,"account_type":`...)
	b = appendJSONString(b, req.FromAccountType)
	b = append(b, `,"asset":`...)
	b = appendJSONString(b, req.Asset)
	b = append(b, `},"to_account":{"user_id":`...)
	b = strconv.AppendUint(b, req.ToUserID, 10)
	b = append(b, `,"account_type":`...)
	b = appendJSONString(b, req.ToAccountType)
	b = append(b, `,"asset":`...)
	b = appendJSONString(b, req.Asset)
	b = append(b, `},"amount":"`...)
	b = AppendAmount(b, req.Amount, decimals)
	b = append(b, `","client_transfer_id":`...)
	if viewer == operatorView || viewer == req.UserID {
		b = appendOptString(b, req.IdempotencyKey)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error_code":`...)
	b = appendOptString(b, req.ErrorCode)
	b = append(b, `,"error_message":`...)
	b = appendOptString(b, req.ErrorMessage)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, req.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, req.UpdatedAt)
	return append(b, '}')
}

// appendBalances appends user's balances as {"user_id":…,"balances":[…]}.
func (s *Server) appendBalances(b []byte, user uint64, bals []transfers.Balance) []byte {
	b = append(b, `{"user_id":`...)
	b = strconv.AppendUint(b, user, 10)
	b = append(b, `,"balances":[`...)
	for i := range bals {
		bal := &bals[i]
		decimals := 0
		if a, ok := s.opts.Catalog.Asset(bal.Asset); ok {
			decimals = a.Decimals
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"account_type":`...)
		b = appendJSONString(b, bal.AccountType)
		b = append(b, `,"asset":`...)
		b = appendJSONString(b, bal.Asset)
		b = append(b, `,"available":"`...)
		b = AppendAmount128(b, bal.Available, decimals)
		b = append(b, `","held":"`...)
		b = AppendAmount128(b, bal.Held, decimals)
		b = append(b, `","incoming":"`...)
		b = AppendAmount128(b, bal.Incoming, decimals)
		b = append(b, `","frozen":`...)
		b = strconv.AppendBool(b, bal.Frozen)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping quotes, backslashes,
// control characters, and HTML-significant and line-separator characters;
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
