package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/store"
)

// DefaultTopic is the confirmation topic when none is configured.
const DefaultTopic = "transfer_confirmations"

// Producer defaults, used for zero option fields.
const (
	DefaultBufferedRecordsMax    = 10_000
	DefaultProduceRequestTimeout = 10 * time.Second
	DefaultRecordDeliveryTimeout = 30 * time.Second
	// DefaultLinger: at 5K/s over 8 partitions, 10 ms against 1 ms took
	// the gateway's CPU per request from 266–287 to 251–257 µs and its p50
	// down in each of three alternating pairs, and added about 4 ms to
	// accepted→final (docs/benchmark-notes.md, session 9).
	DefaultLinger = 10 * time.Millisecond
)

// ErrBufferFull is reported by PublishAsync when the producer already holds
// BufferedRecordsMax unacknowledged records: the caller is not made to wait,
// the request stays pending and the scanner publishes it later.
var ErrBufferFull = errors.New("stream: producer buffer full")

// ErrClosed is returned by a closed producer.
var ErrClosed = errors.New("stream: producer closed")

// ProducerOptions configures NewProducer. Zero fields take the defaults above.
type ProducerOptions struct {
	Brokers               []string
	Topic                 string        // default DefaultTopic
	BufferedRecordsMax    int           // records waiting for an ack, at most
	ProduceRequestTimeout time.Duration // one produce request's wait for the broker
	RecordDeliveryTimeout time.Duration // a record's total time to be acknowledged
	Linger                time.Duration // how long a partition batch waits to fill
	ClientID              string        // default "internal-transfer-producer"
	Security              Security      // SASL and TLS; zero: plaintext, no authentication
}

// Producer publishes confirmation records with an idempotent kgo producer
// that waits for every in-sync replica (acks=all). Safe for concurrent use.
type Producer struct {
	client *kgo.Client
	topic  string
}

// NewProducer connects to the brokers and checks, within ctx, that one of
// them answers.
func NewProducer(ctx context.Context, opts ProducerOptions) (*Producer, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("cannot create producer: no brokers")
	}
	opts = opts.withDefaults()
	security, err := opts.Security.Options()
	if err != nil {
		return nil, fmt.Errorf("cannot create producer: %w", err)
	}
	client, err := kgo.NewClient(append(security,
		kgo.SeedBrokers(opts.Brokers...),
		kgo.ClientID(opts.ClientID),
		kgo.DefaultProduceTopic(opts.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(opts.BufferedRecordsMax),
		kgo.ProduceRequestTimeout(opts.ProduceRequestTimeout),
		kgo.RecordDeliveryTimeout(opts.RecordDeliveryTimeout),
		kgo.ProducerLinger(opts.Linger),
	)...)
	if err != nil {
		return nil, fmt.Errorf("cannot create producer: %w", err)
	}
	if err := client.Ping(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("cannot reach brokers %v: %w", opts.Brokers, err)
	}
	p := &Producer{client: client, topic: opts.Topic}
	if _, err := p.CheckTopic(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return p, nil
}

// CheckTopic asks the cluster for the topic and returns its partition
// count. The producer never creates it (kgo does not ask brokers to
// auto-create), so a cluster without it would refuse every record: the
// service stops at start-up instead, and /ready fails.
func (p *Producer) CheckTopic(ctx context.Context) (int, error) {
	topics, err := kadm.NewClient(p.client).ListTopics(ctx, p.topic)
	if err != nil {
		return 0, fmt.Errorf("cannot list topic %s: %w", p.topic, err)
	}
	d, ok := topics[p.topic]
	switch {
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		return 0, fmt.Errorf("topic %s does not exist: create it first (see the runbook, Kafka outage)", p.topic)
	case d.Err != nil:
		return 0, fmt.Errorf("topic %s: %w", p.topic, d.Err)
	}
	return len(d.Partitions), nil
}

// Durability is how safely the cluster keeps the topic's records.
type Durability struct {
	Replicas    int // the fewest replicas of any partition
	MinInsync   int // min.insync.replicas of the topic (its own, or the brokers' default)
	Partitions  int
	MinInsyncOK bool // MinInsync was read; false when the cluster did not say
}

// Warnings says what falls short of what production needs: a record the
// brokers acknowledge (acks=all) must be on two replicas of three, or a lost
// broker loses acknowledged confirmations (the scanner re-publishes them,
// late). Empty when the topic is safe.
func (d Durability) Warnings() []string {
	var w []string
	if d.Replicas < 3 {
		w = append(w, fmt.Sprintf("the topic has %d replica(s) per partition, want 3", d.Replicas))
	}
	if !d.MinInsyncOK {
		w = append(w, "the cluster did not report the topic's min.insync.replicas")
	} else if d.MinInsync < 2 {
		w = append(w, fmt.Sprintf("the topic's min.insync.replicas is %d, want 2: an acknowledged record may be on its leader only", d.MinInsync))
	}
	return w
}

// TopicDurability reads the topic's replication and min.insync.replicas.
func (p *Producer) TopicDurability(ctx context.Context) (Durability, error) {
	adm := kadm.NewClient(p.client)
	topics, err := adm.ListTopics(ctx, p.topic)
	if err != nil {
		return Durability{}, fmt.Errorf("cannot list topic %s: %w", p.topic, err)
	}
	t, ok := topics[p.topic]
	switch {
	case !ok:
		return Durability{}, fmt.Errorf("topic %s does not exist", p.topic)
	case t.Err != nil:
		return Durability{}, fmt.Errorf("cannot describe topic %s: %w", p.topic, t.Err)
	}
	d := Durability{Partitions: len(t.Partitions), Replicas: -1}
	for _, part := range t.Partitions {
		if d.Replicas < 0 || len(part.Replicas) < d.Replicas {
			d.Replicas = len(part.Replicas)
		}
	}
	d.Replicas = max(d.Replicas, 0)
	configs, err := adm.DescribeTopicConfigs(ctx, p.topic)
	if err != nil {
		return d, fmt.Errorf("cannot read the configuration of topic %s: %w", p.topic, err)
	}
	for _, rc := range configs {
		if rc.Err != nil {
			return d, fmt.Errorf("cannot read the configuration of topic %s: %w", p.topic, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key != "min.insync.replicas" || c.Value == nil {
				continue
			}
			n, err := strconv.Atoi(*c.Value)
			if err != nil {
				return d, fmt.Errorf("topic %s: min.insync.replicas %q: %w", p.topic, *c.Value, err)
			}
			d.MinInsync, d.MinInsyncOK = n, true
		}
	}
	return d, nil
}

func (o ProducerOptions) withDefaults() ProducerOptions {
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.BufferedRecordsMax <= 0 {
		o.BufferedRecordsMax = DefaultBufferedRecordsMax
	}
	if o.ProduceRequestTimeout <= 0 {
		o.ProduceRequestTimeout = DefaultProduceRequestTimeout
	}
	if o.RecordDeliveryTimeout <= 0 {
		o.RecordDeliveryTimeout = DefaultRecordDeliveryTimeout
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.ClientID == "" {
		o.ClientID = "internal-transfer-producer"
	}
	return o
}

// Topic is the topic records are published to.
func (p *Producer) Topic() string { return p.topic }

// recordPool recycles records and their key-and-value buffers: a record is
// returned to it from its promise, after which the client holds no
// reference to it (the promise is the client's last use of a record). A
// transfer's confirmation was two allocations here, about 5 % of the
// service's bytes per transfer (allocation profile, docs/benchmark-notes.md
// session 13).
var recordPool = sync.Pool{New: func() any { return &kgo.Record{Value: make([]byte, 0, 448)} }}

// record encodes req's confirmation into a pooled record: its key (the
// user id) and its value share one buffer. Return it with release, from
// its promise only.
func (p *Producer) record(req store.Request) (*kgo.Record, error) {
	c := FromRequest(req)
	r := recordPool.Get().(*kgo.Record)
	buf := strconv.AppendUint(r.Value[:0], c.UserID, 10)
	k := len(buf)
	buf, err := appendEncoded(buf, c)
	if err != nil {
		release(r)
		return nil, err
	}
	*r = kgo.Record{Key: buf[:k], Value: buf[k:], Topic: p.topic}
	return r, nil
}

// release returns r to the pool once the client is done with it.
func release(r *kgo.Record) {
	buf := r.Key[:0] // the key starts the buffer
	if cap(buf) == 0 {
		buf = r.Value[:0] // not filled
	}
	if cap(buf) == 0 || cap(buf) > 4096 { // none, or grown by an odd record: let it go
		return
	}
	*r = kgo.Record{Value: buf}
	recordPool.Put(r)
}

// Publish publishes req's confirmation and waits for the brokers' ack, or
// for ctx to end (then the record may still be delivered: publishing twice
// is harmless, settlement is idempotent). It does not wait for room in a
// full buffer (ErrBufferFull). The wait is the caller's ctx alone: an
// idempotent producer never fails a record whose batch was in flight when
// its connection broke, it waits for the partition's leader to answer.
func (p *Producer) Publish(ctx context.Context, req store.Request) error {
	r, err := p.record(req)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	// Not ctx: kgo fails every buffered record of the partition whose batch
	// starts with a record whose context ended, so a caller giving up would
	// fail other requests' confirmations (the gateway's PublishAsync) with it.
	// Delivery is bounded by RecordDeliveryTimeout; ctx bounds the wait.
	p.client.TryProduce(context.Background(), r, func(r *kgo.Record, err error) { release(r); done <- err })
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no ack before the deadline, the record may still be delivered: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("cannot publish confirmation of request %d: %w", req.ID, mapErr(err))
	}
	return nil
}

// PublishAsync publishes req's confirmation without waiting. done (may be
// nil) is called exactly once with the outcome, from the producer's promise
// goroutine, so it must be quick and must not block on the producer. When
// the buffer is full done receives ErrBufferFull right away instead of the
// caller being blocked. Delivery is bounded by RecordDeliveryTimeout,
// except for a record whose batch was in flight when its connection broke:
// the idempotent producer waits for the partition's leader to answer it, so
// done may come late (the request stays pending meanwhile; the scanner
// publishes it again).
func (p *Producer) PublishAsync(req store.Request, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	r, err := p.record(req)
	if err != nil {
		done(err)
		return
	}
	id := req.ID // the promise keeps the id, not a copy of the request
	p.client.TryProduce(context.Background(), r, func(r *kgo.Record, err error) {
		release(r)
		if err != nil {
			done(fmt.Errorf("cannot publish confirmation of request %d: %w", id, mapErr(err)))
			return
		}
		done(nil)
	})
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, kgo.ErrMaxBuffered):
		return fmt.Errorf("%w: %w", ErrBufferFull, err)
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// Close waits, within ctx, for buffered records to be acknowledged, then
// closes the client. Records still unacknowledged when ctx ends are aborted
// (their requests stay pending; the scanner re-publishes them).
func (p *Producer) Close(ctx context.Context) error {
	err := p.client.Flush(ctx)
	if err != nil {
		abortCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.client.AbortBufferedRecords(abortCtx)
		cancel()
		err = fmt.Errorf("cannot flush producer: %w", err)
	}
	p.client.Close()
	return err
}
