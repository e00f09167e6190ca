// Package load drives the internal transfer service over its HTTP API the
// way a crowd of users would — funding, own-account moves both ways,
// transfers to other users, client retries and transfers bound to fail —
// and keeps exact books of what it was told, so that after the run every
// user's balance and every request's final status is known and can be
// checked against the ledger (package bench/verify).
//
// Every transfer carries a client_transfer_id. An answer that leaves the
// outcome unknown (503, timeout, connection error — the service may be
// down) is retried later with the same key and body until a definitive
// answer comes or a deadline passes; only then is the outcome written off
// as unknown and the user's balances marked inexact.
package load

import (
	"fmt"
	"io"
	"time"
)

// Mix is the share of each kind of transfer, in percent; the rest of 100
// goes to funding→spot.
type Mix struct {
	Back  int // spot→funding, once spot holds settled funds
	Cross int // funding→funding of another user (a cross-user route)
	Retry int // re-send of an earlier answered request: must return its request_id
	// Conflict re-sends an earlier answered request's key with another
	// amount: it must be refused (409 IDEMPOTENCY_CONFLICT) and move nothing.
	Conflict int
	Fail     int // amount above what the user can hold: must fail INSUFFICIENT_BALANCE
	// Twin is the percent of new transfers (of every kind) sent twice at
	// once, as by a client that retries before its first try is answered:
	// both sends must be answered with the same request. Not part of the
	// sum above.
	Twin int
}

// Options configure one run.
type Options struct {
	APIAddr     string // host:port of the user API
	AdminAddr   string // host:port of the admin API
	JWTSecret   string // HS256 secret the service verifies tokens with
	JWTIssuer   string
	JWTAudience string
	AdminToken  string

	Users    int    // users to create and fund
	UserBase uint64 // first user id
	RunID    string // prefix of every idempotency key, unique per run
	Asset    string // asset moved (funded on funding)
	Decimals int    // the asset's decimals
	Fund     uint64 // deposit per user, smallest units

	AmountMin, AmountMax uint64 // range of ordinary transfer amounts, smallest units
	AmountLimit          uint64 // the service's max_transfer_amount

	Rate        float64       // arrivals per second; 0: closed loop with Concurrency workers
	Poisson     bool          // exponential inter-arrival times (else uniform)
	Concurrency int           // closed-loop workers
	InFlightMax int           // transfers in flight at most; arrivals beyond are dropped and counted
	Duration    time.Duration // offered-load phase; 0: until Stop closes
	Stop        <-chan struct{}

	Mix Mix

	RequestTimeout time.Duration // one HTTP attempt
	AttemptsMax    int           // per transfer, over all retries
	DrainTimeout   time.Duration // after the load phase, to settle unknown outcomes
	BackoffMax     time.Duration // between retries of one transfer

	SettleSample  float64       // share of accepted transfers polled until final
	SettlePollers int           // concurrent pollers at most
	SettlePoll    time.Duration // poll interval

	Log io.Writer
}

// Defaults returns the default profile (no addresses or secrets).
func Defaults() Options {
	return Options{
		Users: 10_000, UserBase: 1_000_000, Asset: "USDT", Decimals: 8,
		Fund: 100 * 100_000_000, AmountMin: 1_000_000, AmountMax: 500_000_000, AmountLimit: 1_000_000_000_000_000,
		Rate: 5_000, Concurrency: 64, InFlightMax: 2_048, Duration: 60 * time.Second,
		Mix:            Mix{Back: 25, Cross: 20, Retry: 4, Conflict: 1, Fail: 5, Twin: 2},
		RequestTimeout: 5 * time.Second, AttemptsMax: 200, DrainTimeout: 180 * time.Second,
		BackoffMax:   2 * time.Second,
		SettleSample: 0.01, SettlePollers: 32, SettlePoll: 2 * time.Millisecond,
	}
}

func (o *Options) validate() error {
	switch {
	case o.APIAddr == "" || o.AdminAddr == "":
		return fmt.Errorf("cannot run: API and admin addresses are required")
	case o.Users < 2:
		return fmt.Errorf("cannot run: need at least 2 users, got %d", o.Users)
	case o.UserBase == 0:
		return fmt.Errorf("cannot run: user base must be positive")
	case o.Rate < 0 || (o.Rate == 0 && o.Concurrency <= 0):
		return fmt.Errorf("cannot run: need -rate > 0, or -rate 0 with -concurrency > 0")
	case o.InFlightMax <= 0 || o.AttemptsMax <= 0:
		return fmt.Errorf("cannot run: in-flight cap and attempts must be positive")
	case o.AmountMin == 0 || o.AmountMax < o.AmountMin || o.Fund < o.AmountMax:
		return fmt.Errorf("cannot run: need 0 < amount-min <= amount-max <= fund")
	case o.Mix.Back < 0 || o.Mix.Cross < 0 || o.Mix.Retry < 0 || o.Mix.Conflict < 0 || o.Mix.Fail < 0 ||
		o.Mix.Back+o.Mix.Cross+o.Mix.Retry+o.Mix.Conflict+o.Mix.Fail > 100:
		return fmt.Errorf("cannot run: mix shares must be >= 0 and sum to at most 100")
	case o.Mix.Twin < 0 || o.Mix.Twin > 100:
		return fmt.Errorf("cannot run: mix-twin must be a percent (0..100), got %d", o.Mix.Twin)
	case o.Duration <= 0 && o.Stop == nil:
		return fmt.Errorf("cannot run: need a duration or a stop channel")
	case len(o.RunID) == 0 || len(o.RunID) > 24:
		return fmt.Errorf("cannot run: run id must be 1..24 characters")
	}
	return nil
}
