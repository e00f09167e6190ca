package scylla

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/gocql/gocql"
)

func TestParseConsistency(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want gocql.Consistency
	}{
		{"ANY", gocql.Any}, {"ONE", gocql.One}, {"TWO", gocql.Two}, {"THREE", gocql.Three},
		{"QUORUM", gocql.Quorum}, {"ALL", gocql.All}, {"LOCAL_QUORUM", gocql.LocalQuorum},
		{"EACH_QUORUM", gocql.EachQuorum}, {"SERIAL", gocql.Serial},
		{"LOCAL_SERIAL", gocql.LocalSerial}, {"LOCAL_ONE", gocql.LocalOne},
		{"quorum", gocql.Quorum}, {" local_quorum ", gocql.LocalQuorum},
	} {
		got, err := ParseConsistency(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseConsistency(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "QUORUMS", "LOCAL-QUORUM", "4", "strong"} {
		if got, err := ParseConsistency(bad); err == nil {
			t.Errorf("ParseConsistency(%q) = %v, want an error", bad, got)
		}
	}
}

func TestOptionsResolve(t *testing.T) {
	s, err := Options{Hosts: []string{"h:9042"}, IdempotencyTTL: 1500 * time.Millisecond}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.Keyspace != "trading" || s.consistency != gocql.Quorum || s.serial != gocql.Serial ||
		s.Timeout != DefaultTimeout || s.ttlSeconds != 3 || s.OpenSealAfter != DefaultOpenSealAfter || s.Now == nil {
		// 1.5 s rounds up to 2, and one more second covers ScyllaDB's
		// truncating TTL clock.
		t.Errorf("resolved defaults wrong: %+v", s)
	}
	if s, err := (Options{Hosts: []string{"h"}, Keyspace: "Trading_EU"}).resolve(); err != nil || s.Keyspace != "trading_eu" {
		t.Errorf("keyspace Trading_EU resolved to %q (%v), want trading_eu as CQL folds it", s.Keyspace, err)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no hosts", Options{}, "no hosts"},
		{"unknown consistency", Options{Hosts: []string{"h"}, Consistency: "MOST"}, "MOST"},
		{"write-only consistency", Options{Hosts: []string{"h"}, Consistency: "ANY"}, "ANY"},
		{"serial as regular", Options{Hosts: []string{"h"}, Consistency: "LOCAL_SERIAL"}, "LOCAL_SERIAL"},
		{"ONE misses writes", Options{Hosts: []string{"h"}, Consistency: "ONE"}, "ONE"},
		{"TWO misses writes", Options{Hosts: []string{"h"}, Consistency: "TWO"}, "TWO"},
		{"LOCAL_ONE misses writes", Options{Hosts: []string{"h"}, Consistency: "LOCAL_ONE"}, "LOCAL_ONE"},
		{"EACH_QUORUM cannot read", Options{Hosts: []string{"h"}, Consistency: "EACH_QUORUM"}, "EACH_QUORUM"},
		{"LOCAL_QUORUM without a data centre", Options{Hosts: []string{"h"}, Consistency: "LOCAL_QUORUM"}, "local_dc"},
		{"regular as serial", Options{Hosts: []string{"h"}, SerialConsistency: "QUORUM"}, "serial"},
		{"negative timeout", Options{Hosts: []string{"h"}, Timeout: -time.Second}, "negative"},
		{"user without password", Options{Hosts: []string{"h"}, Username: "it"}, "password"},
		{"password without user", Options{Hosts: []string{"h"}, Password: "pw"}, "user"},
		{"CA file without TLS", Options{Hosts: []string{"h"}, TLSCAFile: "/etc/scylla/ca.pem"}, "without TLS"},
		{"server name without TLS", Options{Hosts: []string{"h"}, TLSServerName: "scylla.prod.internal"}, "without TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.o.resolve(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resolve error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	for _, level := range []string{"QUORUM", "all", "LOCAL_QUORUM"} {
		s, err := Options{Hosts: []string{"h"}, Consistency: level, LocalDC: "dc1"}.resolve()
		if err != nil || s.serial != gocql.Serial {
			t.Errorf("consistency %s with a local data centre: %v (serial %v); want it accepted, the key LWT SERIAL", level, err, s.serial)
		}
	}
}

// TestClosedStoreRefusesCalls checks every method refuses with
// store.ErrClosed once the store is closed, before touching the session.
func TestClosedStoreRefusesCalls(t *testing.T) {
	s := &Store{}
	s.closed.Store(true)
	ctx := context.Background()
	_, _, errCreate := s.Create(ctx, store.Request{ID: 1, UserID: 1})
	_, errAdvance := s.Advance(ctx, 1, store.StatusPending, store.Outcome{})
	_, errGet := s.Get(ctx, 1)
	_, errHistory := s.History(ctx, store.HistoryQuery{UserID: 1, Limit: 1})
	_, errOpen := s.ListOpen(ctx, store.OpenQuery{Limit: 1})
	_, errCount := s.CountOpen(ctx, time.Now())
	errRecord := s.RecordAction(ctx, store.Action{RequestID: 1})
	_, errActions := s.Actions(ctx, 1)
	for i, err := range []error{errCreate, errAdvance, errGet, errHistory, errOpen, errCount, errRecord, errActions, s.Ping(ctx), s.Close()} {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("call %d on a closed store: err = %v, want store.ErrClosed", i, err)
		}
	}
}

// The driver gets the credentials and a verifying TLS configuration.
func TestClusterConfigAuthAndTLS(t *testing.T) {
	set, err := Options{Hosts: []string{"s1:9042"}, Username: "it", Password: "pw", TLS: true, TLSCAFile: "/etc/scylla/ca.pem",
		TLSServerName: "scylla.prod.internal"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	c := clusterConfig(set, "trading")
	auth, ok := c.Authenticator.(gocql.PasswordAuthenticator)
	if !ok || auth.Username != "it" || auth.Password != "pw" {
		t.Errorf("authenticator %#v, want the user and password", c.Authenticator)
	}
	if c.SslOpts == nil || !c.SslOpts.EnableHostVerification || c.SslOpts.CaPath != "/etc/scylla/ca.pem" ||
		c.SslOpts.Config == nil || c.SslOpts.Config.InsecureSkipVerify || c.SslOpts.Config.ServerName != "scylla.prod.internal" {
		t.Errorf("TLS options %+v, want host verification against the CA file", c.SslOpts)
	}
	plain, err := Options{Hosts: []string{"s1:9042"}}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c := clusterConfig(plain, "trading"); c.SslOpts != nil || c.Authenticator != nil {
		t.Errorf("no TLS or user asked, got TLS %+v and authenticator %#v", c.SslOpts, c.Authenticator)
	}
}
