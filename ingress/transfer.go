package ingress

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/valyala/fasthttp"
)

// idempotencyKeyMaxLen bounds client_transfer_id / Idempotency-Key.
const idempotencyKeyMaxLen = 64

// handleTransfer serves POST /api/v1/user/internal_transfer and records
// the transfer metrics.
func (s *Server) handleTransfer(ctx *fasthttp.RequestCtx) {
	start := s.opts.Now()
	transferRequests.Inc()
	if e := s.transfer(ctx, start); e != nil {
		countRejected(e.code)
		writeError(ctx, e)
	}
	end := s.opts.Now()
	observeTransfer(end.Sub(start), end)
	if s.opts.OnTransferHandled != nil {
		s.opts.OnTransferHandled(end.Sub(start))
	}
}

func (s *Server) transfer(ctx *fasthttp.RequestCtx, now time.Time) *apiError {
	user, e := s.admitAt(ctx, now)
	if e != nil {
		return e
	}
	body := ctx.PostBody()
	if len(body) > s.opts.BodyLimitBytes { // when the caller's fasthttp.Server allows more
		return errBodyTooLarge(s.opts.BodyLimitBytes)
	}
	if e := noQuery(ctx); e != nil {
		return e
	}
	cmd, e := s.decodeTransfer(user, body, ctx.Request.Header.PeekAll("Idempotency-Key"), now)
	if e != nil {
		return e
	}
	sctx, cancel := s.serviceContext()
	req, err := s.svc.Submit(sctx, cmd)
	cancel()
	if err != nil {
		return s.fromServiceError(err, &req)
	}
	rb := beginOK()
	rb.b = s.appendTransfer(rb.b, &req, user)
	writeOK(ctx, rb)
	return nil
}

// transferBody is the decoded POST body; byte slices alias the request.
type transferBody struct {
	fromType, fromAsset []byte
	fromUser            uint64 // 0: absent
	toType, toAsset     []byte
	toUser              uint64 // 0: absent (the sender's own account)
	amount              []byte
	clientID            []byte
	hasClientID         bool
}

// decodeTransferBody reads
//
//	{"from_account":{"account_type":"funding","asset":"USDT","user_id":1000?},
//	 "to_account":{"account_type":"spot","asset":"USDT","user_id":1000?},
//	 "amount":"10.5","client_transfer_id":"…"?}
//
// strictly. user_id is an integer or a decimal string; optional fields may
// be null. from_account.user_id is accepted only to echo the token's user.
func decodeTransferBody(data []byte) (transferBody, *fieldError) {
	var t transferBody
	r := jsonReader{b: data}
	var hasFrom, hasTo, hasAmount bool
	err := r.object("", func(key []byte) error {
		var err error
		switch string(key) {
		case "from_account":
			hasFrom = true
			t.fromType, t.fromAsset, t.fromUser, err = r.account(&fromPaths)
		case "to_account":
			hasTo = true
			t.toType, t.toAsset, t.toUser, err = r.account(&toPaths)
		case "amount":
			hasAmount = true
			if r.peek() != '"' {
				return &fieldError{code: codeInvalidAmount, field: "amount",
					msg: "must be a decimal string such as \"10.5\", got " + r.kind()}
			}
			t.amount, err = r.str("amount")
		case "client_transfer_id":
			if !r.null() {
				t.hasClientID = true
				t.clientID, err = r.stringValue("client_transfer_id")
			}
		default:
			err = badField(string(key), "unknown field")
		}
		return err
	})
	if err == nil {
		err = r.end()
	}
	switch {
	case err != nil:
		return t, err.(*fieldError)
	case !hasFrom:
		return t, badField("from_account", "required")
	case !hasTo:
		return t, badField("to_account", "required")
	case !hasAmount:
		return t, badField("amount", "required")
	}
	return t, nil
}

// accountPaths names an account object's fields in errors (constants, so
// the happy path builds no strings).
type accountPaths struct{ self, accountType, asset, userID string }

var (
	fromPaths = accountPaths{"from_account", "from_account.account_type", "from_account.asset", "from_account.user_id"}
	toPaths   = accountPaths{"to_account", "to_account.account_type", "to_account.asset", "to_account.user_id"}
)

// account reads {"account_type","asset","user_id"?}.
func (r *jsonReader) account(p *accountPaths) (accountType, asset []byte, user uint64, err error) {
	var hasType, hasAsset bool
	err = r.object(p.self, func(key []byte) error {
		var err error
		switch string(key) {
		case "account_type":
			hasType = true
			accountType, err = r.stringValue(p.accountType)
		case "asset":
			hasAsset = true
			asset, err = r.stringValue(p.asset)
		case "user_id":
			if !r.null() {
				user, err = r.userID(p.userID)
			}
		default:
			err = badField(join(p.self, key), "unknown field")
		}
		return err
	})
	switch {
	case err != nil:
	case !hasType:
		err = badField(p.accountType, "required")
	case !hasAsset:
		err = badField(p.asset, "required")
	}
	return accountType, asset, user, err
}

// decodeTransfer validates a POST body for user into a Command that shares
// no memory with the request. Checks run in this order, first failure wins:
// syntax and fields (INVALID_REQUEST, INVALID_AMOUNT for a non-string
// amount); from_account.user_id other than the token's (403); account types
// (INVALID_ACCOUNT_TYPE); assets (INVALID_ASSET, ASSET_MISMATCH); amount
// (INVALID_AMOUNT, INVALID_PRECISION, AMOUNT_TOO_SMALL, AMOUNT_TOO_LARGE);
// SAME_ACCOUNT; route (403); idempotency key (INVALID_REQUEST).
func (s *Server) decodeTransfer(user uint64, body []byte, headerKey [][]byte, now time.Time) (transfers.Command, *apiError) {
	t, ferr := decodeTransferBody(body)
	if ferr != nil {
		return transfers.Command{}, fromFieldError(ferr)
	}
	if t.fromUser != 0 && t.fromUser != user {
		return transfers.Command{}, errForbidden("from_account.user_id",
			"from_account.user_id must be the authenticated user; the token decides who is debited")
	}
	cat := s.opts.Catalog
	fromType, ok := cat.AccountType(string(t.fromType))
	if !ok {
		return transfers.Command{}, errBadRequest(codeInvalidAccountType, "from_account.account_type", "unknown account type")
	}
	toType, ok := cat.AccountType(string(t.toType))
	if !ok {
		return transfers.Command{}, errBadRequest(codeInvalidAccountType, "to_account.account_type", "unknown account type")
	}
	asset, ok := cat.Asset(string(t.fromAsset))
	if !ok {
		return transfers.Command{}, errBadRequest(codeInvalidAsset, "from_account.asset", "unknown asset")
	}
	if _, ok := cat.Asset(string(t.toAsset)); !ok {
		return transfers.Command{}, errBadRequest(codeInvalidAsset, "to_account.asset", "unknown asset")
	}
	if string(t.toAsset) != asset.Name {
		return transfers.Command{}, errBadRequest(codeAssetMismatch, "to_account.asset", "from and to assets differ")
	}
	amount, e := s.checkAmount(t.amount, asset)
	if e != nil {
		return transfers.Command{}, e
	}
	toUser := t.toUser
	if toUser == 0 {
		toUser = user
	}
	if toUser == user && fromType.Name == toType.Name {
		return transfers.Command{}, errBadRequest(codeSameAccount, "to_account", "from and to are the same account")
	}
	if cross := toUser != user; !cat.RouteAllowed(fromType.Name, toType.Name, cross) {
		msg := "transfers from " + fromType.Name + " to " + toType.Name + " are not allowed"
		if cross {
			msg = "transfers from " + fromType.Name + " to another user's " + toType.Name + " are not allowed"
		}
		return transfers.Command{}, errForbidden("to_account", msg)
	}
	key, e := idempotencyKey(t, headerKey)
	if e != nil {
		return transfers.Command{}, e
	}
	// Catalog names, not body bytes: the Command shares no request memory.
	return transfers.Command{
		UserID:          user,
		ToUserID:        toUser,
		FromAccountType: fromType.Name,
		ToAccountType:   toType.Name,
		Asset:           asset.Name,
		Amount:          amount,
		IdempotencyKey:  key,
		Fingerprint:     fingerprint(toUser, fromType.Code, toType.Code, asset.Ledger, amount),
		Received:        now,
	}, nil
}

func (s *Server) checkAmount(raw []byte, asset transfers.Asset) (uint64, *apiError) {
	amount, err := ParseAmount(raw, asset.Decimals)
	switch {
	case errors.Is(err, ErrInvalidPrecision):
		return 0, errBadRequest(codeInvalidPrecision, "amount",
			"amount has more than "+strconv.Itoa(asset.Decimals)+" decimals, the most "+asset.Name+" allows")
	case err != nil:
		return 0, errBadRequest(codeInvalidAmount, "amount", err.Error())
	case amount < s.opts.MinAmount:
		return 0, errBadRequest(codeAmountTooSmall, "amount",
			"amount is below the minimum of "+FormatAmount(s.opts.MinAmount, asset.Decimals))
	case s.opts.MaxAmount != 0 && amount > s.opts.MaxAmount:
		return 0, errBadRequest(codeAmountTooLarge, "amount",
			"amount is above the maximum of "+FormatAmount(s.opts.MaxAmount, asset.Decimals))
	}
	return amount, nil
}

// idempotencyKey picks the client key from the body or the Idempotency-Key
// header (equal when both are given): 1..64 printable ASCII characters. A
// header given empty or more than once is refused, not ignored: a client
// whose key went missing must not get a new transfer per retry.
func idempotencyKey(t transferBody, headers [][]byte) (string, *apiError) {
	key, field := t.clientID, "client_transfer_id"
	if len(headers) > 1 {
		return "", errInvalid("Idempotency-Key", "the Idempotency-Key header is given more than once")
	}
	if len(headers) == 1 {
		header := headers[0]
		if len(header) == 0 {
			return "", errInvalid("Idempotency-Key", "must be 1 to 64 printable ASCII characters without spaces")
		}
		if t.hasClientID && string(header) != string(t.clientID) {
			return "", errInvalid("client_transfer_id", "client_transfer_id and the Idempotency-Key header differ")
		}
		key, field = header, "Idempotency-Key"
	} else if !t.hasClientID {
		return "", nil
	}
	if len(key) == 0 || len(key) > idempotencyKeyMaxLen || !printableASCII(key) {
		return "", errInvalid(field, "must be 1 to 64 printable ASCII characters without spaces")
	}
	return string(key), nil
}

// fingerprint digests the canonical request — resolved receiver, account
// type codes, asset ledger and amount in units — so two bodies meaning the
// same transfer (spacing, field order, "10" vs "10.00", user_id omitted vs
// given) match, and any difference in meaning does not. The debited user
// and the key are the scope of the key, not part of the fingerprint.
func fingerprint(toUser uint64, fromType, toType uint16, ledger uint32, amount uint64) string {
	var buf [1 + 8 + 2 + 2 + 4 + 8]byte
	buf[0] = 1 // canonical form version
	binary.BigEndian.PutUint64(buf[1:], toUser)
	binary.BigEndian.PutUint16(buf[9:], fromType)
	binary.BigEndian.PutUint16(buf[11:], toType)
	binary.BigEndian.PutUint32(buf[13:], ledger)
	binary.BigEndian.PutUint64(buf[17:], amount)
	sum := sha256.Sum256(buf[:])
	return hex.EncodeToString(sum[:16])
}
