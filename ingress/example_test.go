package ingress_test

import (
	"context"
	"log"
	"net"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress"
	"github.com/exchange/internal-transfer/store"
)

// service stands in for the actor service in this example.
type service struct{}

func (service) Submit(ctx context.Context, cmd transfers.Command) (store.Request, error) {
	return store.Request{}, transfers.ErrUnavailable
}
func (service) Get(ctx context.Context, id uint64) (store.Request, error) {
	return store.Request{}, transfers.ErrNotFound
}
func (service) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	return store.HistoryPage{}, nil
}
func (service) Balances(ctx context.Context, user uint64) ([]transfers.Balance, error) {
	return nil, nil
}

// Wiring in a gateway's main: build, serve, and on SIGTERM drain.
func Example() {
	catalog, err := transfers.NewCatalog(
		[]transfers.Asset{{Name: "USDT", Ledger: 1, Decimals: 8}},
		[]transfers.AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}},
		[]transfers.Route{{From: "funding", To: "spot"}, {From: "spot", To: "funding"}},
	)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := ingress.New(ingress.Options{
		Catalog:              catalog,
		MinAmount:            100,
		MaxAmount:            1_000_000_000_000,
		MaxRequestsPerMinute: 600,
		JWTSecret:            []byte("a-dev-secret-of-at-least-32-bytes!!"),
		Version:              "1.0.0",
	}, service{}, nil, func(ctx context.Context) error { return nil })
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.ServeUser(ln) // returns when Shutdown closes the listener
	// ... wait for SIGTERM ...
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil { // stop accepting, finish in-flight
		log.Print(err)
	}
}
