package settlement

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Options configures a settlement Service: the shared settler, the
// confirmation consumer and the scanner.
type Options struct {
	Settler  SettlerOptions
	Consumer ConsumerOptions
	Scanner  ScannerOptions
}

// Service is the settlement service: a consumer-group member settling
// confirmation records and the scanner that drives stuck requests.
type Service struct {
	settler  *Settler
	consumer *consumer
	scanner  *Scanner

	mu      sync.Mutex
	started bool
}

// NewService builds a stopped service. The settler's logger is shared with
// the consumer and scanner when they have none.
func NewService(opts Options) *Service {
	settler := NewSettler(opts.Settler)
	if opts.Consumer.Logger == nil {
		opts.Consumer.Logger = settler.log
	}
	if opts.Scanner.Logger == nil {
		opts.Scanner.Logger = settler.log
	}
	return &Service{
		settler:  settler,
		consumer: newConsumer(settler, opts.Consumer),
		scanner:  NewScanner(settler, opts.Settler.Store, opts.Scanner),
	}
}

// Settler returns the settlement logic, for the operator tools.
func (s *Service) Settler() *Settler { return s.settler }

// Scanner returns the scanner, for StuckReport and on-demand runs.
func (s *Service) Scanner() *Scanner { return s.scanner }

// Start joins the consumer group (reaching the brokers within ctx) and
// starts the scanner.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("cannot start settlement: already started")
	}
	if err := s.consumer.start(ctx); err != nil {
		return fmt.Errorf("cannot start settlement: %w", err)
	}
	s.scanner.Start()
	s.started = true
	return nil
}

// Stop stops gracefully within ctx: the scanner ends its run, the consumer
// stops fetching, each partition actor finishes its batch in flight, what
// they finished is committed, then the member leaves the group.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	s.started = false
	return errors.Join(s.scanner.Stop(ctx), s.consumer.stop(ctx))
}

// Health reports {"status":"healthy","consumer":"running","scanner":"running"}
// when both run, "unhealthy" with the part that stopped otherwise. A failed
// last scanner run adds "scanner_error" without making the service
// unhealthy: the next run retries. /health needs no credential, so it says
// only that the run failed; the cause (backend names, addresses) is in the
// service log ("scanner run failed").
func (s *Service) Health() map[string]string {
	h := map[string]string{"status": "healthy", "consumer": "running", "scanner": "running"}
	if !s.consumer.running() {
		h["consumer"], h["status"] = "stopped", "unhealthy"
	}
	if !s.scanner.Running() {
		h["scanner"], h["status"] = "stopped", "unhealthy"
	}
	if err := s.scanner.LastError(); err != nil {
		h["scanner_error"] = "the last run failed; the service log has the cause"
	}
	return h
}
