// Package kafkasec is how a Kafka client authenticates (SASL) and protects
// its connections (TLS): shared by the producer and the settlement consumer
// (through package stream) and by the test suites run against an external
// cluster (kafkatest), which cannot import stream.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	saslplain "github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms Security accepts.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Security is how a client authenticates to the brokers and protects the
// connection: the same for the producer and the settlement consumer. The
// zero value is plaintext without authentication (the embedded broker).
type Security struct {
	SASLMechanism string // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username      string
	Password      string
	TLS           bool   // dial the brokers over TLS (server name: the broker's host)
	TLSCAFile     string // PEM bundle the brokers' certificates must chain to; "" for the system's roots
}

// Options returns the kgo options for s, or why s is invalid. PLAIN sends
// the password as it is, so it is refused without TLS.
func (s Security) Options() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.TLSCAFile != "" && !s.TLS {
		return nil, errors.New("a TLS CA file without TLS")
	}
	if s.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.TLSCAFile != "" {
			pem, err := os.ReadFile(s.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("cannot read the TLS CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("TLS CA file %s holds no PEM certificate", s.TLSCAFile)
			}
			cfg.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.SASLMechanism == "" {
		if s.Username != "" || s.Password != "" {
			return nil, errors.New("a SASL user or password without a SASL mechanism")
		}
		return opts, nil
	}
	if strings.TrimSpace(s.Username) == "" || strings.TrimSpace(s.Password) == "" {
		return nil, fmt.Errorf("SASL %s needs a user and a password", s.SASLMechanism)
	}
	var m sasl.Mechanism
	switch s.SASLMechanism {
	case SASLPlain:
		if !s.TLS {
			return nil, errors.New("SASL PLAIN without TLS would send the password in clear")
		}
		m = saslplain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
	case SASLScramSHA256:
		m = scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
	case SASLScramSHA512:
		m = scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
	default:
		return nil, fmt.Errorf("unknown SASL mechanism %q: want %s, %s or %s", s.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	return append(opts, kgo.SASL(m)), nil
}
