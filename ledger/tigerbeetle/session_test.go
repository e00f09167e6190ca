package tigerbeetle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tb "github.com/tigerbeetle/tigerbeetle-go"
	tberrors "github.com/tigerbeetle/tigerbeetle-go/pkg/errors"
	"github.com/tigerbeetle/tigerbeetle-go/pkg/types"

	"github.com/exchange/internal-transfer/ledger"
)

// scriptedClient is a tb.Client whose create_transfers answer is fixed. It
// stands in for a cluster only where this machine cannot produce the
// behaviour under test (an eviction, an instant answer); everything else is
// tested against the real client.
type scriptedClient struct {
	tb.Client // nil: calling anything not scripted panics
	err       error
	results   []types.TransferEventResult
	closed    atomic.Int32
	calls     atomic.Int32
	hold      chan struct{} // when set, CreateTransfers answers once it is closed
}

func (c *scriptedClient) CreateTransfers(events []types.Transfer) ([]types.TransferEventResult, error) {
	c.calls.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	return c.results, c.err
}

func (c *scriptedClient) Close() { c.closed.Add(1) }

// scriptedDial hands out clients in order and counts dials.
type scriptedDial struct {
	clients   []*scriptedClient
	dials     atomic.Int32
	mu        sync.Mutex
	addresses []string // of each dial, joined
}

func (d *scriptedDial) dial(_ types.Uint128, addresses []string) (tb.Client, error) {
	d.mu.Lock()
	d.addresses = append(d.addresses, strings.Join(addresses, ","))
	d.mu.Unlock()
	n := int(d.dials.Add(1)) - 1
	if n >= len(d.clients) {
		return nil, tberrors.ErrSystemResources{}
	}
	return d.clients[n], nil
}

// replacing returns a Ledger on first, whose replacement (the second dial)
// is fresh, a client that answers "exists".
func replacing(t *testing.T, first *scriptedClient) (l *Ledger, d *scriptedDial, fresh *scriptedClient) {
	t.Helper()
	fresh = &scriptedClient{results: []types.TransferEventResult{{Index: 0, Result: types.TransferExists}}}
	d = &scriptedDial{clients: []*scriptedClient{first, fresh}}
	l, err := newLedger(Options{Addresses: []string{"127.0.0.1:3000"}}, d.dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, d, fresh
}

func TestEvictedClientIsReplaced(t *testing.T) {
	evicted := &scriptedClient{err: tberrors.ErrClientEvicted{}}
	l, d, fresh := replacing(t, evicted)
	ctx := context.Background()
	batch := []ledger.Transfer{{ID: u128(1)}}

	_, err := l.CreateTransfers(ctx, batch)
	if !errors.Is(err, ErrEvicted) || !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("evicted call: %v, want ErrEvicted wrapping ErrOutcomeUnknown", err)
	}
	if d.dials.Load() != 2 || evicted.closed.Load() != 1 || l.Stats().Replacements != 1 {
		t.Fatalf("dials %d, evicted closed %d, stats %+v", d.dials.Load(), evicted.closed.Load(), l.Stats())
	}
	res, err := l.CreateTransfers(ctx, batch)
	if err != nil || len(res) != 1 || res[0].Result != ledger.TransferExists {
		t.Fatalf("call on the new client: %v %v", res, err)
	}
	if err := l.Close(); err != nil || fresh.closed.Load() != 1 {
		t.Errorf("Close: %v, new client closed %d times", err, fresh.closed.Load())
	}
}

// A replacement client is given the replicas' addresses as their names
// resolve now: a replica that moved since New is reached without a restart.
func TestReplacementResolvesNamesAgain(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.1")
	lookupNetIP = func(context.Context, string, string) ([]netip.Addr, error) { return []netip.Addr{ip}, nil }
	t.Cleanup(func() { lookupNetIP = net.DefaultResolver.LookupNetIP })
	d := &scriptedDial{clients: []*scriptedClient{{err: tberrors.ErrClientEvicted{}}, {}}}
	l, err := newLedger(Options{Addresses: []string{"tb1.prod.internal:3001"}}, d.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ip = netip.MustParseAddr("10.0.0.2") // the replica moved
	if _, err := l.CreateTransfers(context.Background(), []ledger.Transfer{{ID: u128(1)}}); !errors.Is(err, ErrEvicted) {
		t.Fatalf("evicted call: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if want := []string{"10.0.0.1:3001", "10.0.0.2:3001"}; strings.Join(d.addresses, " ") != strings.Join(want, " ") {
		t.Fatalf("dialled %v, want %v", d.addresses, want)
	}
}

// Some client builds, once evicted, terminate themselves: only the packet
// in flight gets "evicted", and every later call "client closed". A call
// that meets such a client while the Ledger is open replaces it.
func TestSelfTerminatedClientIsReplaced(t *testing.T) {
	l, d, _ := replacing(t, &scriptedClient{err: tberrors.ErrClientClosed{}})
	batch := []ledger.Transfer{{ID: u128(1)}}
	if _, err := l.CreateTransfers(context.Background(), batch); !errors.Is(err, ErrEvicted) {
		t.Fatalf("call on a closed client: %v, want ErrEvicted", err)
	}
	res, err := l.CreateTransfers(context.Background(), batch)
	if err != nil || len(res) != 1 || d.dials.Load() != 2 {
		t.Fatalf("next call: %v %v after %d dials; want it answered by a new client", res, err, d.dials.Load())
	}
}

// An eviction that only an abandoned call saw (its caller's deadline had
// passed) still gets the session replaced: the next call does it before it
// submits, instead of every later call failing until a restart.
func TestEvictionSeenByAnAbandonedCallIsReplaced(t *testing.T) {
	evicted := &scriptedClient{err: tberrors.ErrClientEvicted{}, hold: make(chan struct{})}
	l, _, fresh := replacing(t, evicted)
	batch := []ledger.Transfer{{ID: u128(1)}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.CreateTransfers(ctx, batch); !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("call past its deadline: %v, want ErrOutcomeUnknown", err)
	}
	close(evicted.hold) // the packet completes "evicted", with no caller waiting
	waitStats(t, l, "after the abandoned call completed", func(s Stats) bool { return s.InFlight == 0 })
	res, err := l.CreateTransfers(context.Background(), batch)
	if err != nil || len(res) != 1 || fresh.calls.Load() != 1 || evicted.calls.Load() != 1 {
		t.Fatalf("next call: %v %v (evicted client called %d times, new one %d); want it sent on a new client",
			res, err, evicted.calls.Load(), fresh.calls.Load())
	}
}

func TestReplacementIsRateLimited(t *testing.T) {
	first := &scriptedClient{err: tberrors.ErrClientEvicted{}}
	second := &scriptedClient{err: tberrors.ErrClientEvicted{}}
	d := &scriptedDial{clients: []*scriptedClient{first, second}}
	l, err := newLedger(Options{Addresses: []string{"3000"}}, d.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		if _, err := l.CreateTransfers(context.Background(), nil); !errors.Is(err, ErrEvicted) {
			t.Fatalf("got %v, want ErrEvicted", err)
		}
	}
	// The first eviction replaced first by second; second's evictions within
	// replaceIntervalMin must not dial again.
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials for three evictions within %v, want 2", n, replaceIntervalMin)
	}
	if second.calls.Load() != 2 {
		t.Errorf("second client got %d calls, want 2", second.calls.Load())
	}
}

func TestMapClientError(t *testing.T) {
	for _, tc := range []struct {
		in      error
		want    []error
		notWant error
	}{
		{tberrors.ErrClientClosed{}, []error{ledger.ErrClosed, ledger.ErrOutcomeUnknown}, nil},
		{tberrors.ErrMaximumBatchSizeExceeded{}, []error{ledger.ErrBatchTooLarge}, ledger.ErrOutcomeUnknown},
		{tberrors.ErrClientEvicted{}, []error{ErrEvicted, ledger.ErrOutcomeUnknown}, nil},
		{tberrors.ErrClientReleaseTooLow{}, []error{ErrReleaseMismatch, ledger.ErrOutcomeUnknown}, ErrEvicted},
		{tberrors.ErrClientReleaseTooHigh{}, []error{ErrReleaseMismatch, ledger.ErrOutcomeUnknown}, ErrEvicted},
		{tberrors.ErrInvalidOperation{}, []error{tberrors.ErrInvalidOperation{}}, ledger.ErrOutcomeUnknown},
	} {
		t.Run(fmt.Sprintf("%T", tc.in), func(t *testing.T) {
			err := mapClientError("create transfers", tc.in)
			if !strings.HasPrefix(err.Error(), "cannot create transfers: ") {
				t.Errorf("message %q lacks its context", err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("%v does not wrap %v", err, w)
				}
			}
			if tc.notWant != nil && errors.Is(err, tc.notWant) {
				t.Errorf("%v wraps %v", err, tc.notWant)
			}
			if !errors.Is(err, tc.in) {
				t.Errorf("%v loses the client's error", err)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no addresses", Options{}},
		{"negative concurrency", Options{Addresses: []string{"3000"}, Concurrency: -1}},
		{"too much concurrency", Options{Addresses: []string{"3000"}, Concurrency: ConcurrencyMax + 1}},
		{"negative timeout", Options{Addresses: []string{"3000"}, Timeout: -time.Second}},
		{"empty address", Options{Addresses: []string{" "}}},
		{"bad address", Options{Addresses: []string{"127.0.0.1:99999"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.opts)
			if err == nil {
				_ = l.Close()
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "cannot create TigerBeetle") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestResolveAddresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := resolveAddresses(ctx, []string{"127.0.0.1:3001", "3002", "[::1]:3003", "10.0.0.4", "localhost:3005", "::1", "2001:db8::10", "[::1]"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:3001", "3002", "[::1]:3003", "10.0.0.4", "127.0.0.1:3005", "[::1]", "[2001:db8::10]", "[::1]"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	// The client itself rejects names: resolving is what makes them usable.
	l, err := New(Options{Addresses: []string{"localhost:" + strings.Split(deadAddress(t), ":")[1]}})
	if err != nil {
		t.Fatalf("New with a host name: %v", err)
	}
	within(t, 5*time.Second, "Close", func() { _ = l.Close() })
	// A bare IPv6 address reaches the client in brackets, which it parses.
	l, err = New(Options{Addresses: []string{"::1"}})
	if err != nil {
		t.Fatalf("New with a bare IPv6 address: %v", err)
	}
	within(t, 5*time.Second, "Close", func() { _ = l.Close() })
	if _, err := resolveAddresses(ctx, []string{"tb1.invalid:3001"}); err == nil {
		t.Error("an unresolvable name was accepted")
	}
}
