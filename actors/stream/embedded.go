package stream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Embedded broker defaults.
const (
	DefaultListenAddr   = "127.0.0.1:9092"
	DefaultPartitions   = 8
	embeddedSetupWait   = 10 * time.Second
	groupSessionMinimum = 500 * time.Millisecond
)

// EmbeddedOptions configures StartEmbedded.
type EmbeddedOptions struct {
	// DataDir keeps the log and the committed group offsets across
	// restarts; "" keeps them in memory only.
	DataDir string
	// ListenAddr is host:port; port 0 picks a free port. Default
	// DefaultListenAddr.
	ListenAddr string
	Topic      string // default DefaultTopic
	Partitions int32  // default DefaultPartitions
	// Logger receives a warning (at most once a minute) when the broker
	// closes a connection that sent something other than Kafka requests;
	// nil logs nothing (they are counted either way).
	Logger *slog.Logger
}

// Broker is a one-node Kafka cluster (franz-go's kfake) served over TCP, so
// the same franz-go code and external tools (kcat) talk to it as to Kafka.
type Broker struct {
	cluster *kfake.Cluster
	addrs   []string
}

// StartEmbedded starts the broker and makes sure the topic exists with at
// least opts.Partitions partitions, also when DataDir already holds a
// cluster from an earlier run.
func StartEmbedded(opts EmbeddedOptions) (*Broker, error) {
	if opts.ListenAddr == "" {
		opts.ListenAddr = DefaultListenAddr
	}
	if opts.Topic == "" {
		opts.Topic = DefaultTopic
	}
	if opts.Partitions <= 0 {
		opts.Partitions = DefaultPartitions
	}
	host, portText, err := net.SplitHostPort(opts.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot start embedded broker: listen address %q: %w", opts.ListenAddr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("cannot start embedded broker: invalid port in %q", opts.ListenAddr)
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		// kfake always asks for 127.0.0.1; listen where the operator said.
		// Each connection refuses a request over RequestBytesMax before
		// kfake allocates it (see frameLimitListener).
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return nil, err
			}
			return &frameLimitListener{Listener: ln, max: RequestBytesMax, log: opts.Logger}, nil
		}),
		kfake.SeedTopics(opts.Partitions, opts.Topic),
		kfake.GroupMinSessionTimeout(groupSessionMinimum),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("cannot start embedded broker on %s: %w", opts.ListenAddr, err)
	}
	b := &Broker{cluster: cluster, addrs: cluster.ListenAddrs()}
	ctx, cancel := context.WithTimeout(context.Background(), embeddedSetupWait)
	defer cancel()
	if err := b.ensureTopic(ctx, opts.Topic, opts.Partitions); err != nil {
		cluster.Close()
		return nil, err
	}
	return b, nil
}

// ensureTopic creates topic, or grows it to partitions, through the Kafka
// admin API: kfake only seeds topics into an empty data directory.
func (b *Broker) ensureTopic(ctx context.Context, topic string, partitions int32) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...))
	if err != nil {
		return fmt.Errorf("cannot create admin client: %w", err)
	}
	defer client.Close()
	admin := kadm.NewClient(client)
	details, err := admin.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("cannot list topic %s: %w", topic, err)
	}
	if !details.Has(topic) {
		if _, err := admin.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			return fmt.Errorf("cannot create topic %s: %w", topic, err)
		}
		return nil
	}
	if have := int32(len(details[topic].Partitions)); have < partitions {
		resp, err := admin.UpdatePartitions(ctx, int(partitions), topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("cannot grow topic %s from %d to %d partitions: %w", topic, have, partitions, err)
		}
	}
	return nil
}

// Addrs returns the host:port the broker listens on.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Close stops the broker, persisting its state to DataDir.
func (b *Broker) Close() {
	if b == nil || b.cluster == nil {
		return
	}
	b.cluster.Close()
}

// PartitionCount returns the topic's partition count as the broker sees it.
func (b *Broker) PartitionCount(ctx context.Context, topic string) (int, error) {
	client, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...))
	if err != nil {
		return 0, fmt.Errorf("cannot create admin client: %w", err)
	}
	defer client.Close()
	details, err := kadm.NewClient(client).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("cannot list topic %s: %w", topic, err)
	}
	if !details.Has(topic) {
		return 0, fmt.Errorf("cannot find topic %s", topic)
	}
	return len(details[topic].Partitions), nil
}
