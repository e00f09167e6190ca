package ingress

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress/auth"
	"github.com/exchange/internal-transfer/store"
	"github.com/valyala/fasthttp"
)

// instantService answers Submit at once, without recording.
type instantService struct{ fakeService }

func (s *instantService) Submit(ctx context.Context, cmd transfers.Command) (store.Request, error) {
	return pendingFor(cmd, 123456789), nil
}

// BenchmarkTransferPOST runs the whole POST path — auth (cached token),
// rate limit, decoding, validation, fingerprint, service call, response
// encoding, metrics — through the handler, without the network.
func BenchmarkTransferPOST(b *testing.B) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"plain", okBody},
		{"with key", withField(okBody, `"client_transfer_id":"order-0123456789"`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, err := New(Options{
				Catalog: testCatalog(b), MinAmount: 1, MaxAmount: 1 << 62,
				MaxRequestsPerMinute: 1 << 30, JWTSecret: testSecret,
			}, &instantService{}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			tok, err := auth.SignHS256(testSecret, 1000, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			var req fasthttp.Request
			req.Header.SetMethod("POST")
			req.SetRequestURI(pathTransfer)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.SetBodyString(tc.body)
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
			h := srv.UserHandler()
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}

func BenchmarkDecodeTransferBody(b *testing.B) {
	body := []byte(withField(okBody, `"client_transfer_id":"order-0123456789"`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeTransferBody(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransferPOSTLoopback sends transfer POSTs over loopback TCP with
// a real fasthttp client (pipelined keep-alive connections) to an instant
// service: the ingress ceiling in requests per second on this machine,
// client included.
func BenchmarkTransferPOSTLoopback(b *testing.B) {
	srv, err := New(Options{
		Catalog: testCatalog(b), MinAmount: 1, MaxAmount: 1 << 62,
		MaxRequestsPerMinute: 1 << 30, JWTSecret: testSecret,
	}, &instantService{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.ServeUser(ln)
	defer srv.Shutdown(context.Background())
	tok, err := auth.SignHS256(testSecret, 1000, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	client := &fasthttp.Client{MaxConnsPerHost: 64}
	url := "http://" + ln.Addr().String() + pathTransfer
	b.ReportAllocs()
	b.SetParallelism(16)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod("POST")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.SetBodyString(okBody)
		for pb.Next() {
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("POST: %v %d", err, resp.StatusCode())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
