package settlement

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/exchange/internal-transfer/actors/stream"
)

// The settlement consumer authenticates like the producer: a cluster that
// requires SCRAM lets it join with the right password only.
func TestConsumerAuthenticatesWithSCRAM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "confirmations"),
		kfake.EnableSASL(), kfake.Superuser(stream.SASLScramSHA512, "settlement", "s3cret-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := newEnv(t, "", 1)
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"s3cret-password", true}, {"guess", false}} {
		cons := newConsumer(NewSettler(e.settlerOptions()), ConsumerOptions{Brokers: c.ListenAddrs(), Topic: "confirmations",
			Group: "g-" + tc.password, SessionTimeout: kafkaMinSessionTimeout, Logger: e.log,
			Security: stream.Security{SASLMechanism: stream.SASLScramSHA512, Username: "settlement", Password: tc.password}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cons.start(ctx)
		cancel()
		if (err == nil) != tc.ok {
			t.Fatalf("password %q: start error %v, want success %v", tc.password, err, tc.ok)
		}
		if err == nil {
			stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
			if err := cons.stop(stopCtx); err != nil {
				t.Errorf("stop: %v", err)
			}
			stop()
		}
	}
}
