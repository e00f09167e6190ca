// How the settlement tests reach Kafka.
//
// By default each env starts its own embedded broker (franz-go's kfake,
// stream.StartEmbedded) on a free loopback port. With KAFKA_BROKERS set
// (comma-separated host:port) the same tests run, unchanged, against that
// Kafka or Redpanda cluster instead:
//
//	KAFKA_BROKERS=127.0.0.1:9092 go test ./actors/settlement/ ./actors/stream/
//
// Each env then creates its own topic "confirmations-<random>" with kadm
// (the test's partition count; the cluster's default replication factor,
// or KAFKA_REPLICATION)
// and uses its own consumer group "settlement_test-<random>"; both are
// deleted when the test ends. Tests that stop or restart the broker itself
// skip. TestExternalBrokerPath proves this path on every default run by
// pointing a child test process at a kfake cluster of its own.
//
// An env's brokers, topic and group are kept in its directory (broker.addr,
// kafka.topic, kafka.group), so the crash tests' child processes reopen the
// same ones.

package settlement

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/stream/kafkatest"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

const (
	testAsset   = "USDT"
	assetLedger = 1
	waitMax     = 20 * time.Second
)

// env is one settlement deployment on disk: the embedded ledger and store,
// a Kafka cluster over TCP (the embedded broker, or KAFKA_BROKERS), and a
// producer standing in for the gateway.
type env struct {
	t        testing.TB
	dir      string
	brokers  []string // seed brokers: the embedded broker's address, or KAFKA_BROKERS
	external bool     // brokers come from KAFKA_BROKERS: tests never start or stop them
	topic    string   // this env's confirmation topic
	group    string   // this env's consumer group
	ledger   *ledgerembedded.Ledger
	store    *storeembedded.Store
	broker   *stream.Broker
	producer *stream.Producer
	catalog  *transfers.Catalog
	log      *slog.Logger
}

var nextRequestID atomic.Uint64

func init() { nextRequestID.Store(uint64(time.Now().UnixNano()) >> 8) }

func testCatalog(t testing.TB) *transfers.Catalog {
	c, err := transfers.NewCatalog(
		[]transfers.Asset{{Name: testAsset, Ledger: assetLedger, Decimals: 8}},
		[]transfers.AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}},
		[]transfers.Route{{From: "funding", To: "spot"}, {From: "spot", To: "funding"}, {From: "funding", To: "funding", CrossUser: true}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("SETTLEMENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newEnv opens everything in dir (a fresh temp dir when "").
func newEnv(t testing.TB, dir string, partitions int32) *env {
	t.Helper()
	return openEnv(t, dir, partitions, true)
}

// openEnv opens the ledger and store in dir and a producer. With withBroker
// it also provides the topic: it starts the embedded broker, or creates the
// topic on the external cluster (deleting it and the group at cleanup);
// without, another process or env does (on the names kept in dir).
func openEnv(t testing.TB, dir string, partitions int32, withBroker bool) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	e := &env{t: t, dir: dir, catalog: testCatalog(t), log: testLogger()}
	e.placeKafka()
	e.openBackends()
	if withBroker {
		if e.external {
			t.Cleanup(e.deleteTopicAndGroup) // after e.close, registered below; also if creation fails half-way
			e.createTopic(partitions)
		} else {
			e.startBroker(partitions)
		}
	}
	e.producer = e.newProducer()
	t.Cleanup(e.close)
	return e
}

// placeKafka reads the env's brokers, topic and group back from dir, or
// names them and keeps them there when dir has none yet.
func (e *env) placeKafka() {
	e.t.Helper()
	external := externalBrokers()
	e.external = len(external) > 0
	brokers := e.keep("broker.addr", func() string {
		if e.external {
			return strings.Join(external, ",")
		}
		return freeAddr(e.t)
	})
	e.brokers = strings.Split(brokers, ",")
	e.topic = e.keep("kafka.topic", func() string { return "confirmations-" + randomSuffix(e.t) })
	e.group = e.keep("kafka.group", func() string { return "settlement_test-" + randomSuffix(e.t) })
}

// keep returns the content of file name in the env's dir, first writing
// fresh() there when the file does not exist.
func (e *env) keep(name string, fresh func() string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	v := fresh()
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (e *env) openBackends() {
	var err error
	if e.ledger, err = ledgerembedded.Open(ledgerembedded.Options{Dir: filepath.Join(e.dir, "ledger")}); err != nil {
		e.t.Fatalf("open ledger: %v", err)
	}
	if e.store, err = storeembedded.Open(storeembedded.Options{Dir: filepath.Join(e.dir, "store")}); err != nil {
		e.t.Fatalf("open store: %v", err)
	}
}

func (e *env) startBroker(partitions int32) {
	b, err := stream.StartEmbedded(stream.EmbeddedOptions{DataDir: filepath.Join(e.dir, "kafka"),
		ListenAddr: e.brokers[0], Topic: e.topic, Partitions: partitions})
	if err != nil {
		e.t.Fatalf("start broker: %v", err)
	}
	e.broker = b
}

func (e *env) newProducer() *stream.Producer {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := stream.NewProducer(ctx, stream.ProducerOptions{Brokers: e.brokers, Topic: e.topic,
		RecordDeliveryTimeout: 10 * time.Second, ProduceRequestTimeout: 5 * time.Second, Security: kafkatest.SecurityFor(e.brokers)})
	if err != nil {
		e.t.Fatalf("producer: %v", err)
	}
	return p
}

func (e *env) close() {
	if e.producer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		e.producer.Close(ctx)
		cancel()
		e.producer = nil
	}
	if e.broker != nil {
		e.broker.Close()
		e.broker = nil
	}
	if e.store != nil {
		e.store.Close()
		e.store = nil
	}
	if e.ledger != nil {
		e.ledger.Close()
		e.ledger = nil
	}
}

func (e *env) settlerOptions() SettlerOptions {
	return SettlerOptions{Ledger: e.ledger, Store: e.store, Catalog: e.catalog, Publisher: e.producer,
		CallTimeout: 2 * time.Second, Logger: e.log}
}

// options are fast-reacting service options for tests. The scanner runs
// rarely unless a test asks for it, so the consumer path is what is tested.
// The session timeout is Kafka's (and Redpanda's) default minimum,
// group.min.session.timeout.ms: a real cluster refuses a shorter one. No
// test waits for a session to expire: members leave, or static members are
// replaced by their restart.
func (e *env) options(scanner time.Duration) Options {
	return Options{
		Settler: e.settlerOptions(),
		Consumer: ConsumerOptions{Brokers: e.brokers, Topic: e.topic, Group: e.group, Security: kafkatest.SecurityFor(e.brokers),
			RetryBackoffMin: 20 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond,
			SessionTimeout: kafkaMinSessionTimeout, HeartbeatInterval: 300 * time.Millisecond,
			RebalanceTimeout: 5 * time.Second, FetchMaxWait: 100 * time.Millisecond, Logger: e.log},
		Scanner: ScannerOptions{Interval: scanner, Grace: 200 * time.Millisecond, Logger: e.log},
	}
}

// startService starts a service, stopped at cleanup, and waits until its
// consumer holds partitions: a real Kafka delays a new group's first
// assignment (group.initial.rebalance.delay.ms, 3 s by default), which the
// tests' short waits for an outcome must not include.
func (e *env) startService(opts Options) *Service {
	e.t.Helper()
	svc := NewService(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		e.t.Fatalf("start service: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Stop(ctx)
	})
	for deadline := time.Now().Add(waitMax); svc.consumer.assignedCount() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("service got no partition of %s within %v", e.topic, waitMax)
		}
	}
	return svc
}

func (e *env) accountID(user uint64, typ string) ledger.Uint128 {
	id, err := e.catalog.AccountID(user, typ, testAsset)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// fund creates user's funding and spot accounts and deposits amount into
// funding from the operator account.
func (e *env) fund(user uint64, amount uint64) {
	e.t.Helper()
	ctx := context.Background()
	accounts := []ledger.Account{{ID: ledger.OperatorAccountID(assetLedger), Ledger: assetLedger, Code: ledger.CodeOperatorAccount}}
	for _, typ := range []string{"funding", "spot"} {
		accounts = append(accounts, ledger.Account{ID: e.accountID(user, typ), Ledger: assetLedger,
			Code: ledger.CodeUserAccount, Flags: ledger.AccountDebitsMustNotExceedCredits})
	}
	res, err := e.ledger.CreateAccounts(ctx, accounts)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Result != ledger.AccountExists {
			e.t.Fatalf("create account %d: %s", r.Index, r.Result)
		}
	}
	if amount == 0 {
		return
	}
	e.createOK(ledger.Transfer{ID: ledger.OperationID("deposit", fmt.Sprint(user, "-", nextRequestID.Add(1))),
		DebitAccountID: ledger.OperatorAccountID(assetLedger), CreditAccountID: e.accountID(user, "funding"),
		Amount: ledger.U128(amount), Ledger: assetLedger, Code: ledger.CodeDeposit})
}

func (e *env) createOK(t ledger.Transfer) {
	e.t.Helper()
	res, err := e.ledger.CreateTransfers(context.Background(), []ledger.Transfer{t})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(res) != 0 {
		e.t.Fatalf("create transfer: %s", res[0].Result)
	}
}

// request is a new funding→(to's) spot or funding request of amount.
func (e *env) request(user, to uint64, amount uint64, age time.Duration) store.Request {
	req := store.Request{ID: nextRequestID.Add(1), UserID: user, ToUserID: to,
		FromAccountType: "funding", ToAccountType: "spot", Asset: testAsset, Amount: amount,
		Fingerprint: "fp", CreatedAt: time.Now().Add(-age)}
	if user != to {
		req.ToAccountType = "funding"
	}
	req.PendingID = transfers.PendingID(req).Bytes()
	return req
}

// Steps of the gateway, one by one, so tests can stop between them.
func (e *env) create(req store.Request) store.Request {
	e.t.Helper()
	got, created, err := e.store.Create(context.Background(), req)
	if err != nil || !created {
		e.t.Fatalf("store create: %v (created %v)", err, created)
	}
	return got
}

func (e *env) hold(req store.Request) {
	e.t.Helper()
	t, err := e.catalog.HoldTransfer(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.createOK(t)
}

func (e *env) markPending(req store.Request) store.Request {
	e.t.Helper()
	got, err := e.store.Advance(context.Background(), req.ID, store.StatusPending, store.Outcome{})
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) publish(req store.Request) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.producer.Publish(ctx, req); err != nil {
		e.t.Fatal(err)
	}
}

// transfer runs the whole gateway path: requesting, hold, pending, publish.
func (e *env) transfer(user, to, amount uint64) store.Request {
	e.t.Helper()
	req := e.create(e.request(user, to, amount, 0))
	e.hold(req)
	req = e.markPending(req)
	e.publish(req)
	return req
}
