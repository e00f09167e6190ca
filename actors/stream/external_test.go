package stream

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream/kafkatest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const externalRunMax = 60 * time.Second // the child test process, -race included

// TestExternalBrokerPath proves the KAFKA_BROKERS path without a real
// Kafka: it starts a Kafka-like kfake cluster in this process and re-runs the broker
// tests in a child process with KAFKA_BROKERS pointing at it. The round
// trips must pass on topics they created, the embedded-broker tests must
// skip, and every topic created must be gone afterwards.
func TestExternalBrokerPath(t *testing.T) {
	if len(externalBrokers()) > 0 {
		t.Skip("KAFKA_BROKERS set: the whole suite already runs against the external cluster")
	}
	// Kafka's defaults, not the embedded broker's: three brokers, no
	// automatic topic creation.
	b, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	runExternal(t, b.ListenAddrs(), kafkatest.NoSecurityEnv, nil)
}

// TestExternalBrokerPathWithSCRAM is the same against a cluster that
// requires SCRAM: KAFKA_SASL_* reach every client the suite makes (its
// producers, readers and admin clients).
func TestExternalBrokerPathWithSCRAM(t *testing.T) {
	if len(externalBrokers()) > 0 {
		t.Skip("KAFKA_BROKERS set: the whole suite already runs against the external cluster")
	}
	b, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, "probe"),
		kfake.EnableSASL(), kfake.Superuser(SASLScramSHA256, "suite", "suite-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	sec := Security{SASLMechanism: SASLScramSHA256, Username: "suite", Password: "suite-password"}
	opts, err := sec.Options()
	if err != nil {
		t.Fatal(err)
	}
	runExternal(t, b.ListenAddrs(), []string{"KAFKA_SASL_MECHANISM=SCRAM-SHA-256", "KAFKA_SASL_USERNAME=suite",
		"KAFKA_SASL_PASSWORD=suite-password", "KAFKA_TLS=", "KAFKA_TLS_CA_FILE="}, opts)
}

// runExternal re-runs the broker tests in a child process with KAFKA_BROKERS
// at addrs and env added: the round trips must pass on topics they
// created, the embedded-broker tests must skip, and every topic created
// must be gone afterwards (listed with opts).
func runExternal(t *testing.T, addrs []string, env []string, opts []kgo.Opt) {
	t.Helper()
	// TestEmbeddedBrokerRefusesHTTP runs a broker of its own beside the
	// external one: the external cluster's SASL and TLS must not reach it.
	want := map[string]string{"TestPublishAndRead": "PASS", "TestPublishRefusesInvalidRequest": "PASS",
		"TestPublishBrokerDown": "SKIP", "TestEmbeddedRestartKeepsRecordsAndTopic": "SKIP", "TestKcatReadsTopic": "SKIP",
		"TestEmbeddedBrokerRefusesHTTP": "PASS"}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), externalRunMax)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^("+strings.Join(names, "|")+")$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), kafkatest.EnvBrokers+"="+strings.Join(addrs, ","), kafkatest.EnvReplication+"=")
	cmd.Env = append(cmd.Env, env...)
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("child run against %v: %v\n%s", addrs, err, out)
	}
	for name, result := range want {
		if !strings.Contains(out, "\n--- "+result+": "+name+" (") {
			t.Errorf("%s did not %s against the external path", name, result)
		}
	}
	if n := strings.Count(out, "KAFKA_BROKERS set: this test controls the embedded broker"); n != 3 {
		t.Errorf("%d embedded-broker tests skipped saying why, want 3", n)
	}

	made := regexp.MustCompile(`topic (confirmations-[0-9a-f]{12}) \(\d+ partitions\)`).FindAllStringSubmatch(out, -1)
	if len(made) != 2 {
		t.Errorf("child logged %d external topics, want one per round-trip test (2)", len(made))
	}
	topics := listTopics(t, addrs, opts...)
	if !topics["probe"] {
		t.Fatalf("cluster lists topics %v, without the probe topic: the listing proves nothing", topics)
	}
	for _, m := range made {
		if topics[m[1]] {
			t.Errorf("topic %s left on the cluster", m[1])
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

func listTopics(t *testing.T, brokers []string, opts ...kgo.Opt) map[string]bool {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	out := map[string]bool{}
	for _, name := range details.Names() {
		out[name] = true
	}
	return out
}
