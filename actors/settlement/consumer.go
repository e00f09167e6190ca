package settlement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/actors/dispatch"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/ledger"
)

// DefaultGroup is the consumer group when none is configured.
const DefaultGroup = "settlement_service"

// Consumer defaults, used for zero option fields.
const (
	DefaultPollRecordsMax    = 1_000
	DefaultPartitionQueueMax = 2_000
	DefaultCommitInterval    = 100 * time.Millisecond
	DefaultStepRecordsMax    = 256
	DefaultCommitTimeout     = 5 * time.Second
	DefaultRecordTimeout     = 30 * time.Second
	DefaultRetryBackoffMin   = 100 * time.Millisecond
	DefaultRetryBackoffMax   = 5 * time.Second
	DefaultRestartsMax       = 10
	DefaultRestartWindow     = 1 * time.Minute
	DefaultFetchMaxWait      = 500 * time.Millisecond
	DefaultEndOffsetsEvery   = 5 * time.Second
	// callbackWaitMax bounds the revoke callback's wait for the partition
	// actors: above a default batch in flight (RecordTimeout), so an old
	// owner is done before the callback returns, and with the commit after
	// it (a CommitTimeout, plus one for a commit in flight) below kgo's 60 s
	// rebalance timeout.
	callbackWaitMax = 45 * time.Second
	leaveGroupWait  = 5 * time.Second
	mailboxSize     = 8 // a nudge and a step at most; the rest is slack
	errorPause      = 100 * time.Millisecond
)

// ConsumerOptions configures the settlement consumer. Zero fields take the
// defaults above; zero group timeouts take kgo's.
type ConsumerOptions struct {
	Brokers []string
	Topic   string // default stream.DefaultTopic
	Group   string // default DefaultGroup
	// InstanceID turns on static group membership; "" (the default, and
	// what the services use) for none. A static member keeps its
	// partitions across a restart within SessionTimeout, but a clean stop
	// does not hand them over either: kgo sends no LeaveGroup for it, so
	// they wait out the session timeout.
	InstanceID        string
	Security          stream.Security // SASL and TLS; zero: plaintext, no authentication
	PollRecordsMax    int             // records per poll, across partitions
	PartitionQueueMax int             // unfinished records per partition before its fetching pauses
	StepRecordsMax    int             // records of a partition settled in one batch (≤ ledger.BatchEventsMax)
	// CommitInterval is the least time between two offset commits (each
	// covers every partition, after one store sync). A crash settles again
	// what finished since the last, harmlessly.
	CommitInterval    time.Duration
	CommitTimeout     time.Duration
	RecordTimeout     time.Duration // one step's whole settlement: a batch of up to StepRecordsMax records (a failed step halves the next)
	RetryBackoffMin   time.Duration // first wait before retrying a failed record
	RetryBackoffMax   time.Duration // longest wait; doubled from the minimum per failure (also the offset commits' after failures)
	RestartsMax       int           // partition actor restarts within RestartWindow before a respawn
	RestartWindow     time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	FetchMaxWait      time.Duration
	// EndOffsetsEvery is how often the end offsets of the assigned
	// partitions are listed for the lag gauge: a paused partition (its
	// queue full behind a record that keeps failing) is not fetched, so
	// fetches alone would stop reporting how far behind it falls.
	EndOffsetsEvery time.Duration
	Logger          *slog.Logger
}

func (o ConsumerOptions) withDefaults() ConsumerOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Topic == "" {
		o.Topic = stream.DefaultTopic
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	def(&o.PollRecordsMax, DefaultPollRecordsMax)
	def(&o.PartitionQueueMax, DefaultPartitionQueueMax)
	def(&o.StepRecordsMax, DefaultStepRecordsMax)
	o.StepRecordsMax = min(o.StepRecordsMax, ledger.BatchEventsMax)
	def(&o.RestartsMax, DefaultRestartsMax)
	defd(&o.CommitInterval, DefaultCommitInterval)
	defd(&o.CommitTimeout, DefaultCommitTimeout)
	defd(&o.RecordTimeout, DefaultRecordTimeout)
	defd(&o.RetryBackoffMin, DefaultRetryBackoffMin)
	defd(&o.RetryBackoffMax, DefaultRetryBackoffMax)
	defd(&o.RestartWindow, DefaultRestartWindow)
	defd(&o.FetchMaxWait, DefaultFetchMaxWait)
	defd(&o.EndOffsetsEvery, DefaultEndOffsetsEvery)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// consumer is a group member: one poll loop feeding one actor per assigned
// partition under a supervisor.
type consumer struct {
	opts       ConsumerOptions
	settler    *Settler
	log        *slog.Logger
	client     *kgo.Client
	system     *actor.ActorSystem
	supervisor *actor.PID
	commits    *committer

	mu    sync.Mutex
	parts map[int32]*partition

	pollCancel context.CancelFunc
	pollDone   chan struct{}
	settled    atomic.Int64 // records finished, for tests and debugging

	// afterSettle, when set (tests only), runs after a record's outcome is
	// in the store and before its offset may be committed.
	afterSettle func(rec *kgo.Record)

	dispatch *dispatch.Pool // runs the partition actors' mailboxes on reused goroutines
}

func newConsumer(settler *Settler, opts ConsumerOptions) *consumer {
	opts = opts.withDefaults()
	return &consumer{opts: opts, settler: settler, log: opts.Logger, parts: map[int32]*partition{},
		dispatch: dispatch.NewPool(dispatch.Options{})}
}

func (c *consumer) start(ctx context.Context) error {
	if len(c.opts.Brokers) == 0 {
		return errors.New("cannot start consumer: no brokers")
	}
	security, err := c.opts.Security.Options()
	if err != nil {
		return fmt.Errorf("cannot start consumer: %w", err)
	}
	c.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return c.log.With("component", "settlement-actors")
	}))
	props := actor.PropsFromProducer(func() actor.Actor { return newSupervisorActor(c) },
		actor.WithSupervisor(supervisorStrategy(c.opts.RestartsMax, c.opts.RestartWindow)),
		actor.WithMailbox(actor.Bounded(64)))
	c.supervisor = c.system.Root.Spawn(props)

	c.commits = newCommitter(c) // before any assignment callback can run
	client, err := kgo.NewClient(append(security, c.kgoOptions()...)...)
	if err != nil {
		c.system.Shutdown()
		return fmt.Errorf("cannot create consumer: %w", err)
	}
	if err := client.Ping(ctx); err != nil {
		client.Close()
		c.system.Shutdown()
		return fmt.Errorf("cannot reach brokers %v: %w", c.opts.Brokers, err)
	}
	c.client = client
	go c.commits.run()
	pollCtx, cancel := context.WithCancel(context.Background())
	c.pollCancel, c.pollDone = cancel, make(chan struct{})
	lags.add(c)
	go c.poll(pollCtx)
	go c.watchEndOffsets(pollCtx)
	return nil
}

// watchEndOffsets raises the assigned partitions' high watermarks from the
// cluster's end offsets every EndOffsetsEvery until ctx ends.
func (c *consumer) watchEndOffsets(ctx context.Context) {
	tick := time.NewTicker(c.opts.EndOffsetsEvery)
	defer tick.Stop()
	adm := kadm.NewClient(c.client) // shares the client: never closed here
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lctx, cancel := context.WithTimeout(ctx, c.opts.EndOffsetsEvery)
		ends, err := adm.ListEndOffsets(lctx, c.opts.Topic)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Debug("cannot list end offsets", "topic", c.opts.Topic, "err", err)
			}
			continue
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				return
			}
			if p := c.part(o.Partition); p != nil {
				p.raiseHWM(o.Offset)
			}
		})
	}
}

func (c *consumer) kgoOptions() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.opts.Brokers...),
		kgo.ClientID("settlement"),
		kgo.ConsumerGroup(c.opts.Group),
		kgo.ConsumeTopics(c.opts.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(c.opts.FetchMaxWait),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.revoked),
	}
	if c.opts.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(c.opts.InstanceID))
	}
	if c.opts.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.opts.SessionTimeout))
	}
	if c.opts.RebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(c.opts.RebalanceTimeout))
	}
	if c.opts.HeartbeatInterval > 0 {
		opts = append(opts, kgo.HeartbeatInterval(c.opts.HeartbeatInterval))
	}
	return opts
}

// poll fetches records and queues them on their partitions. With
// BlockRebalanceOnPoll, assignment callbacks run only between polls, so
// every fetched partition has its actor.
func (c *consumer) poll(ctx context.Context) {
	defer close(c.pollDone)
	for {
		fetches := c.client.PollRecords(ctx, c.opts.PollRecordsMax)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			c.client.AllowRebalance()
			return
		}
		failed := false
		fetches.EachError(func(topic string, p int32, err error) {
			failed = true
			streamErrors.Inc()
			c.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		})
		fetches.EachPartition(c.queue)
		c.client.AllowRebalance()
		if failed {
			select {
			case <-ctx.Done():
			case <-time.After(errorPause):
			}
		}
	}
}

func (c *consumer) queue(fp kgo.FetchTopicPartition) {
	p := c.part(fp.Partition)
	if p == nil {
		return
	}
	// A fetch can return good records and then an error for the same
	// partition (a corrupt batch after them): kgo has already moved its
	// position past those records, so they are queued all the same, or
	// committing later offsets would skip them. The error was logged.
	if fp.Err == nil {
		p.raiseHWM(fp.HighWatermark)
	}
	if len(fp.Records) == 0 {
		return
	}
	p.first.CompareAndSwap(-1, fp.Records[0].Offset)
	if p.push(fp.Records) >= c.opts.PartitionQueueMax {
		p.mu.Lock()
		if !p.paused {
			p.paused = true
			c.client.PauseFetchPartitions(map[string][]int32{p.topic: {p.id}})
		}
		p.mu.Unlock()
	}
	if pid := p.currentPID(); pid != nil && p.nudged.CompareAndSwap(false, true) {
		c.system.Root.Send(pid, &nudgeMsg{})
	}
}

// finished resumes fetching of a paused partition once half its queue
// drained, unless p was revoked: a late actor of a partition assigned here
// again would resume fetching for the new one, whose queue may be full while
// it stays marked paused, so nothing would pause it again.
func (c *consumer) finished(p *partition, left int) {
	if left > c.opts.PartitionQueueMax/2 || !c.isAssigned(p) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.paused = false
		c.client.ResumeFetchPartitions(map[string][]int32{p.topic: {p.id}})
	}
}

func (c *consumer) part(id int32) *partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parts[id]
}

func (c *consumer) isAssigned(p *partition) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parts[p.id] == p
}

func (c *consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	var parts []*partition
	c.mu.Lock()
	for _, id := range assigned[c.opts.Topic] {
		if c.parts[id] == nil {
			p := newPartition(c.opts.Topic, id)
			c.parts[id] = p
			parts = append(parts, p)
		}
	}
	c.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	done := make(chan struct{})
	c.system.Root.Send(c.supervisor, &startPartitions{parts: parts, done: done})
	c.wait(context.Background(), done, "start", len(parts))
	c.log.Info("partitions assigned", "topic", c.opts.Topic, "partitions", assigned[c.opts.Topic])
}

// revoked stops the actors of revoked or lost partitions and commits what
// they finished before the partition goes. Unfinished records are dropped:
// the next owner fetches them again from the committed offset.
func (c *consumer) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	var parts []*partition
	var ids []int32
	c.mu.Lock()
	for _, id := range revoked[c.opts.Topic] {
		if p := c.parts[id]; p != nil {
			delete(c.parts, id)
			parts, ids = append(parts, p), append(ids, id)
		}
	}
	c.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	c.stopParts(context.Background(), parts)
	c.commits.flush(parts)
	c.client.ResumeFetchPartitions(map[string][]int32{c.opts.Topic: ids})
	c.log.Info("partitions revoked", "topic", c.opts.Topic, "partitions", ids)
}

// stopParts stops parts' actors (each finishes its batch in flight),
// waiting at most callbackWaitMax or until ctx ends.
func (c *consumer) stopParts(ctx context.Context, parts []*partition) {
	done := make(chan struct{})
	c.system.Root.Send(c.supervisor, &stopPartitions{parts: parts, done: done})
	c.wait(ctx, done, "stop", len(parts))
}

func (c *consumer) wait(ctx context.Context, done chan struct{}, what string, n int) {
	start := time.Now()
	select {
	case <-done:
	case <-ctx.Done():
		c.log.Error("partition actors did not answer before the shutdown deadline", "op", what, "partitions", n,
			"waited", time.Since(start).Round(time.Millisecond).String())
	case <-time.After(callbackWaitMax):
		c.log.Error("partition actors did not answer in time", "op", what, "partitions", n,
			"waited", callbackWaitMax.String())
	}
}

// backoff is the wait before retrying a record after failures attempts:
// doubling from RetryBackoffMin up to RetryBackoffMax.
func (c *consumer) backoff(failures int) time.Duration {
	d := c.opts.RetryBackoffMin
	for i := 1; i < failures && d < c.opts.RetryBackoffMax; i++ {
		d *= 2
	}
	return min(d, c.opts.RetryBackoffMax)
}

func (c *consumer) mailboxSize() int { return mailboxSize }

// lag sums, over the assigned partitions, the records not yet settled.
func (c *consumer) lag() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	for _, p := range c.parts {
		sum += p.lag()
	}
	return sum
}

// assignedCount returns how many partitions are assigned.
func (c *consumer) assignedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.parts)
}

// running reports whether the poll loop runs.
func (c *consumer) running() bool {
	if c.pollDone == nil {
		return false
	}
	select {
	case <-c.pollDone:
		return false
	default:
		return true
	}
}

// stop stops fetching, lets each partition actor finish its record in
// flight, commits what they finished, leaves the group and closes the
// client, within ctx.
func (c *consumer) stop(ctx context.Context) error {
	if c.client == nil {
		return nil
	}
	lags.remove(c)
	c.pollCancel()
	var err error
	select {
	case <-c.pollDone:
	case <-ctx.Done():
		err = fmt.Errorf("cannot stop poll loop: %w", ctx.Err())
	}
	c.mu.Lock()
	parts := make([]*partition, 0, len(c.parts))
	for id, p := range c.parts {
		parts = append(parts, p)
		delete(c.parts, id)
	}
	c.mu.Unlock()
	if len(parts) > 0 {
		c.stopParts(ctx, parts)
		c.commits.flush(parts)
	}
	c.commits.stop()
	// Its own deadline: stopping the partitions may have used up ctx, and a
	// LeaveGroup not sent leaves the partitions unowned until the session
	// times out (kgo does not send it again on Close).
	leaveCtx, cancelLeave := context.WithTimeout(context.Background(), leaveGroupWait)
	defer cancelLeave()
	if lerr := c.client.LeaveGroupContext(leaveCtx); lerr != nil && err == nil {
		err = fmt.Errorf("cannot leave group %s: %w", c.opts.Group, lerr)
	}
	c.client.Close()
	if serr := c.system.Root.StopFuture(c.supervisor).Wait(); serr != nil && err == nil {
		err = fmt.Errorf("cannot stop supervisor: %w", serr)
	}
	c.system.Shutdown()
	return err
}
