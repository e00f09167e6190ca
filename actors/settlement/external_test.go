package settlement

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/stream/kafkatest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const externalRunMax = 5 * time.Minute // the child test process, -race included

// madeByEnvs matches the topic and group each env logs it created.
var madeByEnvs = regexp.MustCompile(`topic (confirmations-[0-9a-f]{12}) \(\d+ partitions, replication -?\d+\), group (settlement_test-[0-9a-f]{12})`)

// kafkaLikeCluster starts a kfake cluster with Kafka's defaults rather than
// the embedded broker's: three brokers, a 6 s minimum group session timeout,
// no automatic topic creation. It holds one topic, "probe".
func kafkaLikeCluster() (*kfake.Cluster, error) {
	return kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, "probe"))
}

// TestExternalBrokerPath proves the KAFKA_BROKERS path without a real
// Kafka: it starts a Kafka-like kfake cluster in this process and re-runs a
// subset of the suite in a child process with KAFKA_BROKERS pointing at it,
// exactly as a developer with a real cluster would. The subset must pass, the
// broker-restarting test must skip, and every topic and group the envs
// created must be gone from the cluster afterwards.
func TestExternalBrokerPath(t *testing.T) {
	if len(externalBrokers()) > 0 {
		t.Skip("KAFKA_BROKERS set: the whole suite already runs against the external cluster")
	}
	b, err := kafkaLikeCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	want := map[string]string{"TestHappyPath": "PASS", "TestReplayedRecord": "PASS", "TestRebalance": "PASS",
		"TestScanner": "PASS", "TestCrashRecovery": "PASS", "TestKafkaUnavailable": "SKIP"}
	if testing.Short() {
		want["TestCrashRecovery"] = "SKIP"
	}
	out := runExternalChild(t, b.ListenAddrs(), want)
	if !strings.Contains(out, "KAFKA_BROKERS set: this test restarts the broker") {
		t.Errorf("TestKafkaUnavailable skipped without saying why:\n%s", out)
	}

	// Each env logged the topic and group it created; all must be deleted.
	made := madeByEnvs.FindAllStringSubmatch(out, -1)
	if len(made) < 4 {
		t.Fatalf("child logged %d external topics, want one per env (≥ 4):\n%s", len(made), out)
	}
	topics, groups := clusterNames(t, b.ListenAddrs())
	for _, m := range made {
		if topics[m[1]] {
			t.Errorf("topic %s left on the cluster", m[1])
		}
		if groups[m[2]] {
			t.Errorf("group %s left on the cluster", m[2])
		}
	}
	if !topics["probe"] {
		t.Fatalf("cluster lists topics %v, without the probe topic: the listing proves nothing", topics)
	}
}

// The settlement suite against a cluster that requires SCRAM: its
// producers, consumers and admin clients all take KAFKA_SASL_*.
func TestExternalBrokerPathWithSCRAM(t *testing.T) {
	if len(externalBrokers()) > 0 {
		t.Skip("KAFKA_BROKERS set: the whole suite already runs against the external cluster")
	}
	b, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, "probe"),
		kfake.EnableSASL(), kfake.Superuser(stream.SASLScramSHA512, "suite", "suite-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	out := runExternalChild(t, b.ListenAddrs(), map[string]string{"TestHappyPath": "PASS"},
		"KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=suite", "KAFKA_SASL_PASSWORD=suite-password")
	made := madeByEnvs.FindAllStringSubmatch(out, -1)
	if len(made) == 0 {
		t.Fatalf("child logged no external topic:\n%s", out)
	}
	opts, err := stream.Security{SASLMechanism: stream.SASLScramSHA512, Username: "suite", Password: "suite-password"}.Options()
	if err != nil {
		t.Fatal(err)
	}
	topics, groups := clusterNames(t, b.ListenAddrs(), opts...)
	for _, m := range made {
		if topics[m[1]] || groups[m[2]] {
			t.Errorf("topic %s or group %s left on the cluster", m[1], m[2])
		}
	}
	if !topics["probe"] {
		t.Fatalf("cluster lists topics %v, without the probe topic: the listing proves nothing", topics)
	}
}

// runExternalChild runs the tests of want in a child process with
// KAFKA_BROKERS=brokers (and env, e.g. KAFKA_SASL_*) and checks each ended
// as want says; it returns the child's output.
func runExternalChild(t *testing.T, brokers []string, want map[string]string, env ...string) string {
	t.Helper()
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	args := []string{"-test.run=^(" + strings.Join(names, "|") + ")$", "-test.count=1", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), externalRunMax)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), kafkatest.EnvBrokers+"="+strings.Join(brokers, ","), kafkatest.EnvReplication+"=")
	cmd.Env = append(cmd.Env, kafkatest.NoSecurityEnv...)
	cmd.Env = append(cmd.Env, env...) // later entries win
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("child run against %v: %v\n%s", brokers, err, out)
	}
	for name, result := range want {
		if !strings.Contains(out, "\n--- "+result+": "+name+" (") {
			t.Errorf("%s did not %s against the external path", name, result)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
	return out
}

// clusterNames lists the cluster's topics and consumer groups.
func clusterNames(t *testing.T, brokers []string, opts ...kgo.Opt) (topics, groups map[string]bool) {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	gl, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	topics, groups = map[string]bool{}, map[string]bool{}
	for _, name := range td.Names() {
		topics[name] = true
	}
	for _, name := range gl.Groups() {
		groups[name] = true
	}
	return topics, groups
}
