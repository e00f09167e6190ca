package stream

import "github.com/exchange/internal-transfer/actors/stream/kafkasec"

// Security is kafkasec.Security: SASL and TLS of the producer and the
// settlement consumer.
type Security = kafkasec.Security

// SASL mechanisms Security accepts.
const (
	SASLPlain       = kafkasec.SASLPlain
	SASLScramSHA256 = kafkasec.SASLScramSHA256
	SASLScramSHA512 = kafkasec.SASLScramSHA512
)
