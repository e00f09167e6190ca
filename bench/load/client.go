package load

import (
	"bytes"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// answer is what one HTTP attempt produced.
type answer struct {
	status     int    // HTTP status; 0 when no answer came (connection error, timeout)
	requestID  string // data.request_id or error.details.request_id
	state      string // the request's status in the answer
	code       string // error.code
	retryAfter time.Duration
	err        error
	latency    time.Duration
	at         time.Time // when the answer (or the failure) came
}

// definitive reports whether the answer settles what happened to the
// request: anything but no answer, a 503 or a 5xx means the service decided.
func (a *answer) definitive() bool {
	return a.status != 0 && a.status != fasthttp.StatusServiceUnavailable && a.status < 500
}

// client is a fasthttp host client to one listener.
type client struct {
	hc      *fasthttp.HostClient
	timeout time.Duration
}

func newClient(addr string, conns int, timeout time.Duration) *client {
	return &client{timeout: timeout, hc: &fasthttp.HostClient{
		Addr:                          addr,
		MaxConns:                      conns,
		MaxConnWaitTimeout:            timeout,
		ReadTimeout:                   timeout,
		WriteTimeout:                  timeout,
		MaxIdleConnDuration:           30 * time.Second,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
	}}
}

// do sends one request and parses the envelope's few fields we need.
func (c *client) do(method string, uri string, auth []byte, body []byte) answer {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost(c.hc.Addr)
	req.Header.SetBytesV("Authorization", auth)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	start := time.Now()
	err := c.hc.DoTimeout(req, resp, c.timeout)
	at := time.Now()
	a := answer{latency: at.Sub(start), at: at}
	if err != nil {
		a.err = err
		if errors.Is(err, fasthttp.ErrTimeout) {
			a.err = fasthttp.ErrTimeout
		}
		return a
	}
	a.status = resp.StatusCode()
	b := resp.Body()
	a.requestID = field(b, `"request_id":"`)
	a.state = field(b, `"status":"`)
	a.code = field(b, `"code":"`)
	if ra := resp.Header.Peek("Retry-After"); len(ra) > 0 {
		if s, err := strconv.Atoi(string(ra)); err == nil {
			a.retryAfter = time.Duration(s) * time.Second
		}
	}
	return a
}

// field returns the string after the first occurrence of prefix up to the
// next quote. The envelope's fields are fixed names with plain values, so
// this is enough and costs no allocations beyond the result.
func field(b []byte, prefix string) string {
	i := bytes.Index(b, []byte(prefix))
	if i < 0 {
		return ""
	}
	rest := b[i+len(prefix):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// appendAmount writes units as a decimal string with decimals places.
func appendAmount(b []byte, units uint64, decimals int) []byte {
	s := strconv.FormatUint(units, 10)
	if decimals == 0 {
		return append(b, s...)
	}
	for len(s) <= decimals {
		s = "0" + s
	}
	b = append(b, s[:len(s)-decimals]...)
	b = append(b, '.')
	return append(b, s[len(s)-decimals:]...)
}
