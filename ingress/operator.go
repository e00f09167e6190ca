package ingress

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/exchange/internal-transfer/store"
)

// OperatorService is what the operator tools of the admin API need: any
// request with its audit trail, the stuck report, reconciliation of one
// request against the ledger, manual post or void with a recorded reason,
// and re-sending a request to settlement.
type OperatorService interface {
	Get(ctx context.Context, id uint64) (store.Request, error)
	Actions(ctx context.Context, id uint64) ([]store.Action, error)
	StuckReport(ctx context.Context) ([]store.Request, error)
	Reconcile(ctx context.Context, id uint64) (Reconciliation, error)
	// ManualPost and ManualVoid refuse a request younger than the stuck
	// threshold unless force: they are for requests settlement cannot
	// finish, and a mistyped id must not settle a customer's live transfer.
	ManualPost(ctx context.Context, id uint64, operator, reason string, force bool) (store.Request, error)
	ManualVoid(ctx context.Context, id uint64, operator, reason string, force bool) (store.Request, error)
	Resend(ctx context.Context, id uint64) error
}

// Reconciliation compares one request in the store with the ledger.
type Reconciliation struct {
	Request        store.Request
	PendingFound   bool // the hold exists
	Posted         bool // the post transfer exists
	Voided         bool // the void transfer exists
	Agrees         bool // the store's status matches the ledger
	Recommendation string
}

// operatorReasonMaxBytes bounds the operator and reason fields.
const operatorReasonMaxBytes = 512

// Operator routes carry the request id in the path:
//
//	GET  /admin/v1/stuck                          open requests past the stuck threshold
//	GET  /admin/v1/transfers/{id}                 the request and its operator actions
//	GET  /admin/v1/reconcile/{id}                 store vs ledger, with a recommendation
//	POST /admin/v1/transfers/{id}/post|void       {"operator":"…","reason":"…"}
//	POST /admin/v1/transfers/{id}/resend          re-publish to settlement
func (s *Server) operatorRoute(path []byte) (adminRoute, bool) {
	badRequestID := func(method string) adminRoute {
		return adminRoute{method, func(*Server, *fasthttp.RequestCtx) *apiError {
			return errInvalid("request_id", "request_id must be a positive decimal integer")
		}}
	}
	if s.opts.Operator == nil {
		return adminRoute{}, false
	}
	if string(path) == "/admin/v1/stuck" {
		return adminRoute{fasthttp.MethodGet, func(s *Server, ctx *fasthttp.RequestCtx) *apiError { return s.opStuck(ctx) }}, true
	}
	var rest []byte
	var ok bool
	if rest, ok = bytes.CutPrefix(path, []byte("/admin/v1/reconcile/")); ok {
		id, valid := parseID(rest)
		if !valid {
			return badRequestID(fasthttp.MethodGet), true
		}
		return adminRoute{fasthttp.MethodGet, func(s *Server, ctx *fasthttp.RequestCtx) *apiError { return s.opReconcile(ctx, id) }}, true
	}
	if rest, ok = bytes.CutPrefix(path, []byte("/admin/v1/transfers/")); !ok {
		return adminRoute{}, false
	}
	idPart, action, _ := bytes.Cut(rest, []byte("/"))
	id, valid := parseID(idPart)
	switch a := string(action); {
	case valid:
	case a == "":
		return badRequestID(fasthttp.MethodGet), true
	case a == "post" || a == "void" || a == "resend":
		return badRequestID(fasthttp.MethodPost), true
	default:
		return adminRoute{}, false
	}
	switch string(action) {
	case "":
		return adminRoute{fasthttp.MethodGet, func(s *Server, ctx *fasthttp.RequestCtx) *apiError { return s.opGet(ctx, id) }}, true
	case "post", "void":
		kind := string(action)
		return adminRoute{fasthttp.MethodPost, func(s *Server, ctx *fasthttp.RequestCtx) *apiError { return s.opResolve(ctx, id, kind) }}, true
	case "resend":
		return adminRoute{fasthttp.MethodPost, func(s *Server, ctx *fasthttp.RequestCtx) *apiError { return s.opResend(ctx, id) }}, true
	}
	return adminRoute{}, false
}

func (s *Server) opGet(ctx *fasthttp.RequestCtx, id uint64) *apiError {
	sctx, cancel := s.serviceContext()
	defer cancel()
	req, err := s.opts.Operator.Get(sctx, id)
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	actions, err := s.opts.Operator.Actions(sctx, id)
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	rb := beginOK()
	rb.b = append(rb.b, `{"transfer":`...)
	rb.b = s.appendTransfer(rb.b, &req, operatorView)
	rb.b = append(rb.b, `,"actions":[`...)
	for i, a := range actions {
		if i > 0 {
			rb.b = append(rb.b, ',')
		}
		rb.b = append(rb.b, `{"kind":`...)
		rb.b = appendJSONString(rb.b, a.Kind)
		rb.b = append(rb.b, `,"operator":`...)
		rb.b = appendJSONString(rb.b, a.Operator)
		rb.b = append(rb.b, `,"reason":`...)
		rb.b = appendJSONString(rb.b, a.Reason)
		rb.b = append(rb.b, `,"at":"`...)
		rb.b = a.At.UTC().AppendFormat(rb.b, time.RFC3339Nano)
		rb.b = append(rb.b, `"}`...)
	}
	rb.b = append(rb.b, "]}"...)
	writeOK(ctx, rb)
	return nil
}

func (s *Server) opStuck(ctx *fasthttp.RequestCtx) *apiError {
	sctx, cancel := s.serviceContext()
	defer cancel()
	reqs, err := s.opts.Operator.StuckReport(sctx)
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	rb := beginOK()
	rb.b = append(rb.b, `{"count":`...)
	rb.b = strconv.AppendInt(rb.b, int64(len(reqs)), 10)
	rb.b = append(rb.b, `,"transfers":[`...)
	for i := range reqs {
		if i > 0 {
			rb.b = append(rb.b, ',')
		}
		rb.b = s.appendTransfer(rb.b, &reqs[i], operatorView)
	}
	rb.b = append(rb.b, "]}"...)
	writeOK(ctx, rb)
	return nil
}

func (s *Server) opReconcile(ctx *fasthttp.RequestCtx, id uint64) *apiError {
	sctx, cancel := s.serviceContext()
	defer cancel()
	r, err := s.opts.Operator.Reconcile(sctx, id)
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	rb := beginOK()
	rb.b = append(rb.b, `{"transfer":`...)
	rb.b = s.appendTransfer(rb.b, &r.Request, operatorView)
	rb.b = append(rb.b, `,"ledger":{"pending_found":`...)
	rb.b = strconv.AppendBool(rb.b, r.PendingFound)
	rb.b = append(rb.b, `,"posted":`...)
	rb.b = strconv.AppendBool(rb.b, r.Posted)
	rb.b = append(rb.b, `,"voided":`...)
	rb.b = strconv.AppendBool(rb.b, r.Voided)
	rb.b = append(rb.b, `},"agrees":`...)
	rb.b = strconv.AppendBool(rb.b, r.Agrees)
	rb.b = append(rb.b, `,"recommendation":`...)
	rb.b = appendJSONString(rb.b, r.Recommendation)
	rb.b = append(rb.b, '}')
	writeOK(ctx, rb)
	return nil
}

// opResolve serves a manual post or void; operator and reason are required
// and recorded with the request.
func (s *Server) opResolve(ctx *fasthttp.RequestCtx, id uint64, kind string) *apiError {
	var operator, reason []byte
	var force bool
	r := jsonReader{b: ctx.PostBody()}
	err := r.object("", func(k []byte) error {
		var err error
		switch string(k) {
		case "operator":
			operator, err = r.stringValue("operator")
		case "reason":
			reason, err = r.stringValue("reason")
		case "force":
			force, err = r.boolValue("force")
		default:
			err = badField(string(k), "unknown field")
		}
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return fromFieldError(err.(*fieldError))
	}
	if len(operator) > operatorReasonMaxBytes || len(reason) > operatorReasonMaxBytes {
		return errInvalid("reason", "operator and reason are limited to 512 bytes each")
	}
	body := struct{ operator, reason string }{string(operator), string(reason)}
	if strings.TrimSpace(body.operator) == "" || strings.TrimSpace(body.reason) == "" {
		return errInvalid("reason", "operator and reason are both required: manual actions are audited")
	}
	sctx, cancel := s.serviceContext()
	defer cancel()
	resolve := s.opts.Operator.ManualPost
	if kind == "void" {
		resolve = s.opts.Operator.ManualVoid
	}
	req, err := resolve(sctx, id, body.operator, body.reason, force)
	if err != nil {
		return s.fromServiceError(err, nil)
	}
	rb := beginOK()
	rb.b = s.appendTransfer(rb.b, &req, operatorView)
	writeOK(ctx, rb)
	return nil
}

func (s *Server) opResend(ctx *fasthttp.RequestCtx, id uint64) *apiError {
	if len(bytes.TrimSpace(ctx.PostBody())) > 0 {
		return errInvalid("body", "resend takes no body")
	}
	sctx, cancel := s.serviceContext()
	defer cancel()
	if err := s.opts.Operator.Resend(sctx, id); err != nil {
		return s.fromServiceError(err, nil)
	}
	rb := beginOK()
	rb.b = append(rb.b, `{"request_id":"`...)
	rb.b = strconv.AppendUint(rb.b, id, 10)
	rb.b = append(rb.b, `","resent":true}`...)
	writeOK(ctx, rb)
	return nil
}
