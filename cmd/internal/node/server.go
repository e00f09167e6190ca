package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// server is one fasthttp listener.
type server struct {
	name string
	ln   net.Listener
	srv  *fasthttp.Server
	done chan error
}

// serve starts handler on port and registers its graceful stop.
func (n *Node) serve(name string, port int, handler fasthttp.RequestHandler) error {
	ln, err := n.listen(port)
	if err != nil {
		return fmt.Errorf("cannot listen for %s on port %d: %w", name, port, err)
	}
	s := &server{name: name, ln: ln, done: make(chan error, 1), srv: &fasthttp.Server{
		Handler:               handler,
		Name:                  "internal-transfer",
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		MaxRequestBodySize:    n.cfg.Server.MaxBodyBytes,
		Concurrency:           64 * 1024,
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		ReduceMemoryUsage:     false,
		CloseOnShutdown:       true,
	}}
	go func() {
		err := s.srv.Serve(ln)
		s.done <- err
		if err != nil && !errors.Is(err, net.ErrClosed) {
			select {
			case n.failed <- fmt.Errorf("%s listener: %w", name, err):
			default:
			}
		}
	}()
	n.servers = append(n.servers, s)
	n.stops = append(n.stops, func() error {
		grace := time.Duration(n.cfg.Server.ShutdownGrace) * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := s.srv.ShutdownWithContext(ctx); err != nil {
			return fmt.Errorf("cannot drain %s listener: %w", name, err)
		}
		return nil
	})
	return nil
}

// startMetrics serves GET /metrics on monitoring.prometheus_port.
func (n *Node) startMetrics() error {
	return n.serve("metrics", n.cfg.Monitoring.PrometheusPort, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/metrics" {
			ctx.Error("not found", fasthttp.StatusNotFound)
			return
		}
		ctx.SetContentType("text/plain; version=0.0.4")
		metrics.WritePrometheus(ctx, true)
	})
}
