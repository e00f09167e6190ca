package stream

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream/kafkatest"
	"github.com/exchange/internal-transfer/store"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// embeddedTopic is the topic of the tests that run the embedded broker
// only; the others get a fresh topic from testCluster.
const embeddedTopic = "confirmations"

func startBroker(t *testing.T, dir, addr string, partitions int32) *Broker {
	t.Helper()
	b, err := StartEmbedded(EmbeddedOptions{DataDir: dir, ListenAddr: addr, Topic: embeddedTopic, Partitions: partitions})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	return b
}

// freeAddr returns a loopback address with a port nobody listens on now, so
// a restarted broker can come back on the same address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newTestProducer(t *testing.T, brokers []string, topic string, buffered int) *Producer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := NewProducer(ctx, ProducerOptions{
		Brokers: brokers, Topic: topic, BufferedRecordsMax: buffered,
		RecordDeliveryTimeout: 3 * time.Second, ProduceRequestTimeout: 2 * time.Second,
		Security: kafkatest.SecurityFor(brokers),
	})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	return p
}

// readAll consumes topic from the beginning until want records arrived.
func readAll(t *testing.T, addrs []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(kafkatest.ClientOpts(t, addrs), kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records before timeout", len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestPublishAndRead(t *testing.T) {
	brokers, topic := testCluster(t, 4)
	p := newTestProducer(t, brokers, topic, 100)
	req := sampleRequest()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Publish(ctx, req); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	async := req
	async.ID++
	done := make(chan error, 1)
	p.PublishAsync(async, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("PublishAsync: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PublishAsync never called done")
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	recs := readAll(t, brokers, topic, 2)
	seen := map[uint64]bool{}
	for _, r := range recs {
		c, err := Decode(r.Value)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if string(r.Key) != "42" {
			t.Errorf("record key %q, want 42", r.Key)
		}
		seen[c.RequestID] = true
	}
	if !seen[req.ID] || !seen[async.ID] {
		t.Fatalf("read requests %v, want %d and %d", seen, req.ID, async.ID)
	}
	// Records of one user share a partition, so they stay in order.
	if recs[0].Partition != recs[1].Partition {
		t.Fatalf("same key went to partitions %d and %d", recs[0].Partition, recs[1].Partition)
	}
}

// TestPooledRecordsArriveIntact: records and their buffers are reused from
// each one's promise on; many publishes in flight at once, of different
// users and sizes, must each arrive with its own key and value (a buffer
// reused too early would carry another request's bytes).
func TestPooledRecordsArriveIntact(t *testing.T) {
	brokers, topic := testCluster(t, 4)
	p := newTestProducer(t, brokers, topic, 1000)
	const n = 400
	want := make(map[uint64]store.Request, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		req := sampleRequest()
		req.ID += uint64(i)
		req.UserID = uint64(1 + i%37)
		req.Amount = uint64(1 + i)
		req.IdempotencyKey = strings.Repeat("k", 1+i%60)
		want[req.ID] = req
		wg.Add(1)
		if i%2 == 0 {
			p.PublishAsync(req, func(err error) { errs <- err; wg.Done() })
			continue
		}
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errs <- p.Publish(ctx, req)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	for _, r := range readAll(t, brokers, topic, n) {
		c, err := Decode(r.Value)
		if err != nil {
			t.Fatalf("Decode(%q): %v", r.Value, err)
		}
		req, ok := want[c.RequestID]
		if !ok {
			t.Fatalf("unexpected or repeated request %d", c.RequestID)
		}
		delete(want, c.RequestID)
		if got := FromRequest(req); c != got {
			t.Fatalf("request %d arrived as %+v, want %+v", req.ID, c, got)
		}
		if string(r.Key) != strconv.FormatUint(req.UserID, 10) {
			t.Fatalf("request %d has key %q, want its user %d", req.ID, r.Key, req.UserID)
		}
	}
	if len(want) != 0 {
		t.Fatalf("%d requests never arrived", len(want))
	}
}

func TestPublishRefusesInvalidRequest(t *testing.T) {
	brokers, topic := testCluster(t, 1)
	p := newTestProducer(t, brokers, topic, 10)
	defer p.Close(context.Background())
	bad := sampleRequest()
	bad.Asset = ""
	if err := p.Publish(context.Background(), bad); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Publish without asset = %v, want ErrInvalidRecord", err)
	}
	got := make(chan error, 1)
	p.PublishAsync(bad, func(err error) { got <- err })
	if err := <-got; !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("PublishAsync without asset = %v, want ErrInvalidRecord", err)
	}
}

// With the broker gone, a full buffer makes PublishAsync report
// ErrBufferFull at once and Publish give up when its context ends.
func TestPublishBrokerDown(t *testing.T) {
	skipIfExternal(t)
	b := startBroker(t, "", "127.0.0.1:0", 1)
	p := newTestProducer(t, b.Addrs(), embeddedTopic, 1)
	b.Close()
	first := make(chan error, 1)
	p.PublishAsync(sampleRequest(), func(err error) { first <- err })
	second := make(chan error, 1)
	start := time.Now()
	next := sampleRequest()
	next.ID++
	p.PublishAsync(next, func(err error) { second <- err })
	select {
	case err := <-second:
		if !errors.Is(err, ErrBufferFull) {
			t.Fatalf("second PublishAsync = %v, want ErrBufferFull", err)
		}
		if waited := time.Since(start); waited > time.Second {
			t.Fatalf("ErrBufferFull took %v, want immediate", waited)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("PublishAsync with a full buffer did not report at once")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Publish(ctx, sampleRequest()); err == nil {
		t.Fatal("Publish with the broker down succeeded")
	}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelClose()
	if err := p.Close(closeCtx); err == nil {
		t.Fatal("Close flushed records to a dead broker")
	}
	select {
	case err := <-first:
		if err == nil {
			t.Fatal("first record reported delivered to a dead broker")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a promise uncalled")
	}
}

func TestEmbeddedRestartKeepsRecordsAndTopic(t *testing.T) {
	skipIfExternal(t)
	dir, addr := t.TempDir(), freeAddr(t)
	b := startBroker(t, dir, addr, 3)
	p := newTestProducer(t, b.Addrs(), embeddedTopic, 10)
	if err := p.Publish(context.Background(), sampleRequest()); err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())
	b.Close()

	// Restart on the same directory and address, asking for more partitions.
	b = startBroker(t, dir, addr, 5)
	defer b.Close()
	if got := b.Addrs(); len(got) != 1 || got[0] != addr {
		t.Fatalf("restarted broker listens on %v, want %s", got, addr)
	}
	n, err := b.PartitionCount(context.Background(), embeddedTopic)
	if err != nil || n != 5 {
		t.Fatalf("partitions after restart = %d, %v; want 5", n, err)
	}
	recs := readAll(t, b.Addrs(), embeddedTopic, 1)
	if c, err := Decode(recs[0].Value); err != nil || c.RequestID != sampleRequest().ID {
		t.Fatalf("record after restart = %+v, %v", c, err)
	}
}

// An external Kafka client reads what the producer wrote.
func TestKcatReadsTopic(t *testing.T) {
	skipIfExternal(t)
	bin := ""
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat (Debian package kafkacat) is required in CI")
		}
		t.Skip("kcat/kafkacat not installed (apt-get install kafkacat)")
	}
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", 2)
	defer b.Close()
	p := newTestProducer(t, b.Addrs(), embeddedTopic, 10)
	req := sampleRequest()
	if err := p.Publish(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-b", b.Addrs()[0], "-t", embeddedTopic, "-C", "-e",
		"-o", "beginning", "-f", "%k %s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	want := "42 " + `{"v":1,"request_id":"` + strconv.FormatUint(req.ID, 10) + `"`
	if !strings.Contains(string(out), want) {
		t.Fatalf("kcat output lacks %q:\n%s", want, out)
	}
}

// BenchmarkPublish measures PublishAsync to acknowledgement on a fresh
// topic of 4 partitions (the embedded broker, or KAFKA_BROKERS).
func BenchmarkPublish(b *testing.B) {
	brokers, topic := testCluster(b, 4)
	p, err := NewProducer(context.Background(), ProducerOptions{Brokers: brokers, Topic: topic, Security: kafkatest.SecurityFor(brokers)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	req := sampleRequest()
	errs := make(chan error, 1)
	inflight := make(chan struct{}, DefaultBufferedRecordsMax/2) // stay under the buffer
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		req.ID = uint64(i + 1)
		req.UserID = uint64(i%64 + 1)
		inflight <- struct{}{}
		p.PublishAsync(req, func(err error) {
			<-inflight
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := p.client.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// A producer for a topic the cluster does not have fails at once, naming
// the topic, instead of refusing every record later (kgo never asks the
// brokers to create it). The same cluster's own topic is found.
func TestProducerRequiresItsTopic(t *testing.T) {
	brokers, topic := testCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	missing := topic + "-missing"
	p, err := NewProducer(ctx, ProducerOptions{Brokers: brokers, Topic: missing, Security: kafkatest.SecurityFor(brokers)})
	if err == nil {
		p.Close(ctx)
		t.Fatalf("NewProducer for topic %s, which does not exist: no error", missing)
	}
	if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error %q does not say topic %s does not exist", err, missing)
	}
	p = newTestProducer(t, brokers, topic, 16)
	defer p.Close(ctx)
	if n, err := p.CheckTopic(ctx); err != nil || n != 2 {
		t.Fatalf("CheckTopic = %d, %v; want 2 partitions", n, err)
	}
}

// TestPublishEndsAtItsDeadline: a broker that takes a produce request and
// never answers leaves the record in flight, which an idempotent producer
// neither fails nor retries elsewhere. Publish (the scanner's, itctl's)
// still returns at its caller's deadline.
func TestPublishEndsAtItsDeadline(t *testing.T) {
	skipIfExternal(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, embeddedTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p := newTestProducer(t, c.ListenAddrs(), embeddedTopic, 10)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = p.Close(ctx)
	})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // taken, never answered
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Publish(ctx, sampleRequest())
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Publish took %v past its 300 ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish to a broker that never answers = %v, want the deadline", err)
	}
}

// A Publish whose caller gave up must not take other records down with it:
// kgo fails every buffered record of a partition whose batch starts with a
// record whose context ended. Publish's record and the next ones share a
// partition (one user) and a linger window.
func TestGivenUpPublishFailsNoOtherRecord(t *testing.T) {
	brokers, topic := testCluster(t, 1)
	p := newTestProducer(t, brokers, topic, 100)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	req := sampleRequest()
	if err := p.Publish(gone, req); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with an ended context = %v, want it canceled", err)
	}
	const n = 5
	done := make(chan error, n)
	for i := 0; i < n; i++ {
		other := req
		other.ID += uint64(i + 1)
		p.PublishAsync(other, func(err error) { done <- err })
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("a record beside a given-up Publish failed: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("PublishAsync never called done")
		}
	}
}

// The producer reads how safely the cluster keeps its topic, for the
// start-up warning: a single replica, or min.insync.replicas 1, loses
// acknowledged records with a broker.
func TestTopicDurability(t *testing.T) {
	skipIfExternal(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	two := "2"
	for _, tc := range []struct {
		topic    string
		replicas int16
		configs  map[string]*string
		warnings int
	}{
		{"safe", 3, map[string]*string{"min.insync.replicas": &two}, 0},
		{"one-replica", 1, nil, 2},
		{"no-min-insync", 3, nil, 1},
	} {
		if _, err := kadm.NewClient(adm).CreateTopic(ctx, 2, tc.replicas, tc.configs, tc.topic); err != nil {
			t.Fatalf("create %s: %v", tc.topic, err)
		}
		p := newTestProducer(t, c.ListenAddrs(), tc.topic, 10)
		d, err := p.TopicDurability(ctx)
		_ = p.Close(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.topic, err)
		}
		if d.Replicas != int(tc.replicas) || d.Partitions != 2 || len(d.Warnings()) != tc.warnings {
			t.Errorf("%s: %+v, warnings %q; want %d replicas, 2 partitions, %d warnings", tc.topic, d, d.Warnings(), tc.replicas, tc.warnings)
		}
	}
}
