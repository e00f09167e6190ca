package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/exchange/internal-transfer/ingress"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// server is one listener.
type server struct {
	name string
	ln   net.Listener
}

// serve starts handler on port with a plain fasthttp server and registers
// its graceful stop.
func (n *Node) serve(name string, port int, handler fasthttp.RequestHandler) error {
	srv := &fasthttp.Server{
		Handler:               handler,
		Name:                  "internal-transfer-" + name,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
	}
	ln, err := n.listenFor(name, port)
	if err != nil {
		return err
	}
	dl := ingress.NewDrainListener(ln)
	n.serveOn(name, dl, srv.Serve, func(ctx context.Context) error {
		return ingress.ShutdownServer(ctx, srv, dl)
	})
	return nil
}

// serveWith listens on port, runs serveFn on the listener, and registers
// shutdown as the listener's stop (see serveOn).
func (n *Node) serveWith(name string, port int, serveFn func(net.Listener) error, shutdown func(context.Context) error) error {
	ln, err := n.listenFor(name, port)
	if err != nil {
		return err
	}
	n.serveOn(name, ln, serveFn, shutdown)
	return nil
}

func (n *Node) listenFor(name string, port int) (net.Listener, error) {
	ln, err := n.listen(name, port)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for %s on port %d: %w", name, port, err)
	}
	return ln, nil
}

// serveOn runs serveFn on ln and registers shutdown (stop accepting, let
// in-flight requests finish, bounded by server.shutdown_grace_ms) as the
// listener's stop.
func (n *Node) serveOn(name string, ln net.Listener, serveFn func(net.Listener) error, shutdown func(context.Context) error) {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := serveFn(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			select {
			case n.failed <- fmt.Errorf("%s listener: %w", name, err):
			default:
			}
		}
	}()
	n.servers = append(n.servers, &server{name: name, ln: ln})
	n.stops = append(n.stops, func() error {
		grace := time.Duration(n.cfg.Server.ShutdownGrace) * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		err := shutdown(ctx)
		ln.Close()
		<-stopped
		if err != nil {
			return fmt.Errorf("cannot drain %s listener: %w", name, err)
		}
		return nil
	})
}

// startMetrics serves GET /metrics on monitoring.prometheus_port, and Go's
// profiler under /debug/pprof/ when monitoring.pprof_enabled is set.
func (n *Node) startMetrics() error {
	profiler := fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Index)
	handlers := map[string]fasthttp.RequestHandler{
		"/debug/pprof/profile": fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Profile),
		"/debug/pprof/trace":   fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Trace),
		"/debug/pprof/symbol":  fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Symbol),
		"/debug/pprof/cmdline": fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Cmdline),
	}
	return n.serve("metrics", n.cfg.Monitoring.PrometheusPort, func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		switch {
		case path == "/metrics":
			ctx.SetContentType("text/plain; version=0.0.4")
			metrics.WritePrometheus(ctx, true)
		case n.cfg.Monitoring.PprofEnabled && handlers[path] != nil:
			handlers[path](ctx)
		case n.cfg.Monitoring.PprofEnabled && strings.HasPrefix(path, "/debug/pprof/"):
			profiler(ctx)
		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	})
}
