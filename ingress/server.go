// Package ingress is the HTTP face of the transfer service, on fasthttp: it
// authenticates users (JWT bearer tokens, package ingress/auth), limits each
// user's request rate, decodes and validates bodies strictly, hands a
// transfers.Command to the service, and turns the service's answers and
// errors into the JSON envelope with honest HTTP statuses.
//
// Two handlers: UserHandler (the /api/v1/user API plus /health and /ready)
// and AdminHandler (the /admin/v1 API on its own listener with its own
// bearer token). Decisions the product contract left open are documented on
// the handlers that make them; the status/code table is in errors.go.
//
// Everything the service receives is copied out of fasthttp's request
// buffers first: fasthttp reuses them once the handler returns.
package ingress

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/exchange/internal-transfer/actors/deadline"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress/auth"
	"github.com/exchange/internal-transfer/store"
)

// TransferService is what the user API needs from the transfer service.
type TransferService interface {
	// Submit runs cmd. It returns the stored request (pending, or failed
	// with ErrorCode); for a refused hold it returns the failed request
	// and ErrInsufficientBalance, ErrAccountFrozen or ErrAccountNotFound;
	// for an idempotent replay the original request (and original error).
	Submit(ctx context.Context, cmd transfers.Command) (store.Request, error)
	// Get returns request requestID or transfers.ErrNotFound.
	Get(ctx context.Context, requestID uint64) (store.Request, error)
	// History returns a page of q.UserID's requests, newest first.
	History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error)
	// Balances returns every account of user.
	Balances(ctx context.Context, user uint64) ([]transfers.Balance, error)
}

// AdminService is what the admin API needs: money in and out of the
// system, freezing accounts, and reading any user's balances.
type AdminService interface {
	Deposit(ctx context.Context, user uint64, accountType, asset string, amount uint64, key string) error
	Withdraw(ctx context.Context, user uint64, accountType, asset string, amount uint64, key string) error
	Freeze(ctx context.Context, user uint64, accountType, asset string) error
	Unfreeze(ctx context.Context, user uint64, accountType, asset string) error
	Balances(ctx context.Context, user uint64) ([]transfers.Balance, error)
}

// Defaults applied by New to zero Options fields.
const (
	DefaultBodyLimitBytes = 16 << 10
	DefaultRequestTimeout = 5 * time.Second
	DefaultReadyTimeout   = 2 * time.Second
	DefaultReadTimeout    = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	AdminTokenMinBytes    = 16
)

// Options configure the ingress; the gateway maps its config into them.
type Options struct {
	Catalog *transfers.Catalog // required

	MinAmount uint64 // smallest transfer in the asset's smallest units; 0: any positive amount
	MaxAmount uint64 // largest transfer in smallest units; 0: no limit

	MaxRequestsPerMinute int // per user, token bucket with this burst; 0 disables
	RateLimitUsersMax    int // users tracked at once; 0: DefaultRateLimitUsersMax

	BodyLimitBytes int // larger bodies get 413; 0: DefaultBodyLimitBytes

	JWTSecret       []byte        // enables HS256 (≥ auth.HS256SecretMinBytes)
	JWTPublicKeyPEM []byte        // enables EdDSA or RS256 by key type
	JWTIssuer       string        // required iss when set
	JWTAudience     string        // required aud when set
	JWTLeeway       time.Duration // clock skew allowed on exp/nbf/iat
	JWTCacheEntries int           // verified tokens cached; 0: default, < 0: off

	AdminToken string // bearer token of the admin API (≥ AdminTokenMinBytes); required with an AdminService

	Operator OperatorService // operator tools on the admin API; nil: those routes are 404

	Version string // reported by /health

	// HealthParts, when set, adds parts to /health ({"scanner":"running"}…,
	// with details such as a "scanner_error"); when it reports them not
	// healthy, /health answers 503 unhealthy.
	HealthParts func() (parts map[string]string, healthy bool)

	// OnTransferHandled, when set, is given each transfer POST's handling
	// time, on the request's goroutine (the node's slow-request tracer).
	OnTransferHandled func(time.Duration)

	RequestTimeout time.Duration // bound on each service call; 0: DefaultRequestTimeout
	ReadyTimeout   time.Duration // bound on the readiness probe; 0: DefaultReadyTimeout
	ReadTimeout    time.Duration // fasthttp server read timeout; 0: DefaultReadTimeout
	WriteTimeout   time.Duration // fasthttp server write timeout; 0: DefaultWriteTimeout
	IdleTimeout    time.Duration // keep-alive idle timeout; 0: DefaultIdleTimeout
	Concurrency    int           // fasthttp max concurrent connections; 0: fasthttp default

	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now (tests)
}

// Server holds the handlers and, when Serve* is used, the fasthttp servers.
type Server struct {
	opts     Options
	svc      TransferService
	admin    AdminService
	ready    func(context.Context) error
	verifier *auth.Verifier
	limiter  *rateLimiter // nil when rate limiting is off
	adminKey [sha256.Size]byte
	log      *slog.Logger

	mu       sync.Mutex
	servers  []served
	shutdown bool // Serve* refuses to start once set

	// The last readiness probe's result, answered for readyCacheFor: the
	// probe calls every backend, and /ready needs no credential.
	readyMu       sync.Mutex
	readyAt       time.Time
	readyErr      error
	readyCacheFor time.Duration
}

// readyCacheFor is how long a readiness probe's result answers /ready.
const readyCacheFor = time.Second

// served is one fasthttp server and the listener it serves.
type served struct {
	srv *fasthttp.Server
	ln  *DrainListener
}

// Errors callers branch on.
var (
	ErrOptions  = errors.New("invalid ingress options") // New refused the options
	ErrShutdown = errors.New("ingress is shut down")    // Serve* after Shutdown
)

// New checks opts and builds a Server. admin may be nil (no admin API);
// ready may be nil (always ready).
func New(opts Options, svc TransferService, admin AdminService, ready func(context.Context) error) (*Server, error) {
	if opts.Catalog == nil || svc == nil {
		return nil, fmt.Errorf("%w: a catalog and a transfer service are required", ErrOptions)
	}
	if opts.MaxAmount != 0 && opts.MinAmount > opts.MaxAmount {
		return nil, fmt.Errorf("%w: min amount %d above max amount %d", ErrOptions, opts.MinAmount, opts.MaxAmount)
	}
	if opts.MaxRequestsPerMinute < 0 || opts.BodyLimitBytes < 0 || opts.RateLimitUsersMax < 0 {
		return nil, fmt.Errorf("%w: negative rate or size limit", ErrOptions)
	}
	setDefault(&opts.BodyLimitBytes, DefaultBodyLimitBytes)
	setDefault(&opts.RateLimitUsersMax, DefaultRateLimitUsersMax)
	setDefault(&opts.RequestTimeout, DefaultRequestTimeout)
	setDefault(&opts.ReadyTimeout, DefaultReadyTimeout)
	setDefault(&opts.ReadTimeout, DefaultReadTimeout)
	setDefault(&opts.WriteTimeout, DefaultWriteTimeout)
	setDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	verifier, err := auth.NewVerifier(auth.Config{
		HS256Secret:  opts.JWTSecret,
		PublicKeyPEM: opts.JWTPublicKeyPEM,
		Issuer:       opts.JWTIssuer,
		Audience:     opts.JWTAudience,
		Leeway:       opts.JWTLeeway,
		CacheEntries: opts.JWTCacheEntries,
		Now:          opts.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	s := &Server{opts: opts, svc: svc, admin: admin, ready: ready, verifier: verifier, log: opts.Logger,
		readyCacheFor: readyCacheFor}
	if admin != nil {
		if len(opts.AdminToken) < AdminTokenMinBytes {
			return nil, fmt.Errorf("%w: admin token needs at least %d bytes", ErrOptions, AdminTokenMinBytes)
		}
		s.adminKey = sha256.Sum256([]byte(opts.AdminToken))
	}
	if opts.MaxRequestsPerMinute > 0 {
		s.limiter = newRateLimiter(opts.MaxRequestsPerMinute, opts.RateLimitUsersMax)
	}
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// readBufferSize bounds a request's line and headers: twice fasthttp's
// default, so an RS256 or EdDSA token with a few custom claims fits.
const readBufferSize = 8 << 10

// newHTTPServer configures a fasthttp server for h with the body limit and
// timeouts, answering oversized bodies with the 413 envelope.
func (s *Server) newHTTPServer(name string, h fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      h,
		ErrorHandler:                 s.handleReadError,
		Name:                         name,
		NoDefaultServerHeader:        true,
		MaxRequestBodySize:           s.opts.BodyLimitBytes,
		ReadBufferSize:               readBufferSize,
		ReadTimeout:                  s.opts.ReadTimeout,
		WriteTimeout:                 s.opts.WriteTimeout,
		IdleTimeout:                  s.opts.IdleTimeout,
		Concurrency:                  s.opts.Concurrency,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       debugLogger{s.log},
		// Header parse errors then do not quote the request (its
		// Authorization header) into the log.
		SecureErrorLogMessage: true,
	}
}

// debugLogger sends fasthttp's connection-level messages (client resets,
// oversized bodies, timeouts) to debug: clients can produce them at will.
type debugLogger struct{ log *slog.Logger }

func (l debugLogger) Printf(format string, args ...any) {
	l.log.Debug("ingress: fasthttp: " + fmt.Sprintf(format, args...))
}

// handleReadError answers requests fasthttp could not read.
func (s *Server) handleReadError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeError(ctx, errBodyTooLarge(s.opts.BodyLimitBytes))
		return
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		writeError(ctx, &apiError{status: fasthttp.StatusRequestHeaderFieldsTooLarge, code: codeInvalidRequest,
			msg: "request headers are too large: at most " + strconv.Itoa(readBufferSize) + " bytes in all"})
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		writeError(ctx, &apiError{status: fasthttp.StatusRequestTimeout, code: codeInvalidRequest, msg: "request not received in time"})
		return
	}
	writeError(ctx, &apiError{status: fasthttp.StatusBadRequest, code: codeInvalidRequest, msg: "cannot read the HTTP request"})
}

// ServeUser serves UserHandler on ln until Shutdown.
func (s *Server) ServeUser(ln net.Listener) error {
	return s.serve(ln, "internal-transfer", s.UserHandler())
}

// ServeAdmin serves AdminHandler on ln until Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error {
	if s.admin == nil {
		return fmt.Errorf("cannot serve the admin API: %w: no admin service", ErrOptions)
	}
	return s.serve(ln, "internal-transfer-admin", s.AdminHandler())
}

func (s *Server) serve(ln net.Listener, name string, h fasthttp.RequestHandler) error {
	srv := s.newHTTPServer(name, h)
	dl := NewDrainListener(ln)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return fmt.Errorf("cannot serve %s: %w", name, ErrShutdown)
	}
	s.servers = append(s.servers, served{srv, dl})
	s.mu.Unlock()
	if err := srv.Serve(dl); err != nil {
		return fmt.Errorf("cannot serve %s on %s: %w", name, ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections on every listener given to Serve*,
// lets in-flight requests finish, closes idle connections and those that
// never sent a request (see DrainListener), and returns when every
// connection is closed or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	servers := append([]served(nil), s.servers...)
	s.mu.Unlock()
	// All at once: the admin listener must not take deposits while the user
	// API drains, nor get only the grace the other left.
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, sv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ShutdownServer(ctx, sv.srv, sv.ln); err != nil {
				errs[i] = fmt.Errorf("cannot shut down %s: %w", sv.srv.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serviceContext bounds one service call.
func (s *Server) serviceContext() (context.Context, context.CancelFunc) {
	return deadline.After(s.opts.RequestTimeout)
}
