package stream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestSecurityOptionsRefuse(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    Security
		want string
	}{
		{"plain without tls", Security{SASLMechanism: SASLPlain, Username: "u", Password: "p"}, "in clear"},
		{"mechanism without password", Security{SASLMechanism: SASLScramSHA256, Username: "u"}, "needs a user and a password"},
		{"password without mechanism", Security{Password: "p"}, "without a SASL mechanism"},
		{"unknown mechanism", Security{SASLMechanism: "GSSAPI", Username: "u", Password: "p"}, "unknown SASL mechanism"},
		{"ca file without tls", Security{TLSCAFile: ca}, "without TLS"},
		{"ca file without a certificate", Security{TLS: true, TLSCAFile: ca}, "no PEM certificate"},
		{"missing ca file", Security{TLS: true, TLSCAFile: ca + ".missing"}, "cannot read"},
	} {
		if _, err := tc.s.Options(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// A cluster that requires SCRAM takes the producer with the right
// credentials and refuses it with a wrong password or none.
func TestProducerAuthenticatesWithSCRAM(t *testing.T) {
	skipIfExternal(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, embeddedTopic),
		kfake.EnableSASL(), kfake.Superuser(SASLScramSHA256, "settlement", "s3cret-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, tc := range []struct {
		name string
		s    Security
		ok   bool
	}{
		{"right password", Security{SASLMechanism: SASLScramSHA256, Username: "settlement", Password: "s3cret-password"}, true},
		{"wrong password", Security{SASLMechanism: SASLScramSHA256, Username: "settlement", Password: "guess"}, false},
		{"no authentication", Security{}, false},
	} {
		publishWith(t, tc.name, c.ListenAddrs(), tc.s, tc.ok)
	}
}

// A cluster that speaks TLS takes the producer that trusts its CA and dials
// TLS, and not one that dials plaintext or trusts only the system's roots.
func TestProducerDialsTLS(t *testing.T) {
	skipIfExternal(t)
	caFile, serverCfg := selfSignedTLS(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, embeddedTopic), kfake.TLS(serverCfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	publishWith(t, "trusted CA", c.ListenAddrs(), Security{TLS: true, TLSCAFile: caFile}, true)
	publishWith(t, "system roots", c.ListenAddrs(), Security{TLS: true}, false)
	publishWith(t, "plaintext", c.ListenAddrs(), Security{}, false)
}

// publishWith starts a producer with s against addrs and publishes one
// record, which must succeed exactly when ok.
func publishWith(t *testing.T, name string, addrs []string, s Security, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	p, err := NewProducer(ctx, ProducerOptions{Brokers: addrs, Topic: embeddedTopic, Security: s,
		RecordDeliveryTimeout: 2 * time.Second, ProduceRequestTimeout: time.Second})
	if err == nil {
		err = p.Publish(ctx, sampleRequest())
		closeCtx, stop := context.WithTimeout(context.Background(), time.Second)
		_ = p.Close(closeCtx)
		stop()
	}
	if (err == nil) != ok {
		t.Errorf("%s: publish error %v, want success %v", name, err, ok)
	}
}

// selfSignedTLS writes a CA certificate for 127.0.0.1 to a file and returns
// it with a server config that presents it.
func selfSignedTLS(t *testing.T) (caFile string, server *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return caFile, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}
