// Package auth verifies the bearer tokens of the user API and signs dev
// tokens for `itctl token`.
//
// A token is a JWT whose subject is the user id (decimal, no sign, no leading
// zeros, > 0). Only the algorithms the operator configured are accepted —
// HS256 with a shared secret, and/or EdDSA or RS256 with a PEM public key —
// so "none" and algorithm-confusion tokens fail like a bad signature. Every
// token must carry exp; nbf and iat are honoured when present; issuer and
// audience are checked when configured.
//
// Verified tokens are cached, keyed by the complete token text: a hit needs
// the exact bytes of a token that already verified, and the cached entry
// keeps its exp and nbf so it stops working exactly when the token would.
package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// HS256SecretMinBytes is the shortest HS256 secret accepted: a shorter one
// can be brute-forced from a single token.
const HS256SecretMinBytes = 32

// rsaKeyMinBits is the smallest RSA public key accepted.
const rsaKeyMinBits = 2048

// Errors callers branch on. Every rejected token matches ErrUnauthorized.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrConfig       = errors.New("invalid auth configuration")
)

// Error is a rejected token; Reason says why in words safe to show the
// client ("token is expired", "token signature is invalid", ...).
type Error struct{ Reason string }

func (e *Error) Error() string { return "unauthorized: " + e.Reason }

// Is makes errors.Is(err, ErrUnauthorized) true.
func (e *Error) Is(target error) bool { return target == ErrUnauthorized }

// Config selects the accepted algorithms and keys.
type Config struct {
	HS256Secret  []byte        // enables HS256; at least HS256SecretMinBytes
	PublicKeyPEM []byte        // enables EdDSA (Ed25519 key) or RS256 (RSA key), PKIX "PUBLIC KEY" PEM
	Issuer       string        // required iss when set
	Audience     string        // required aud when set
	Leeway       time.Duration // clock skew allowed on exp, nbf and iat
	CacheEntries int           // verified tokens kept; 0 picks DefaultCacheEntries, < 0 disables
	Now          func() time.Time
}

// DefaultCacheEntries bounds the verified-token cache.
const DefaultCacheEntries = 65536

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc
	leeway  time.Duration
	now     func() time.Time
	cache   *tokenCache // nil when disabled
}

// NewVerifier validates cfg and builds a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	keys := map[string]any{}
	if cfg.HS256Secret != nil {
		if len(cfg.HS256Secret) < HS256SecretMinBytes {
			return nil, fmt.Errorf("%w: HS256 secret has %d bytes, need at least %d",
				ErrConfig, len(cfg.HS256Secret), HS256SecretMinBytes)
		}
		keys[jwt.SigningMethodHS256.Alg()] = append([]byte(nil), cfg.HS256Secret...)
	}
	if len(cfg.PublicKeyPEM) > 0 {
		alg, key, err := parsePublicKey(cfg.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		keys[alg] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: neither an HS256 secret nor a public key is configured", ErrConfig)
	}
	if cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute {
		return nil, fmt.Errorf("%w: leeway %v outside 0..5m", ErrConfig, cfg.Leeway)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	algs := make([]string, 0, len(keys))
	for alg := range keys {
		algs = append(algs, alg)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &Verifier{
		parser: jwt.NewParser(opts...),
		keyfunc: func(t *jwt.Token) (any, error) {
			// RFC 7515 4.1.11: a token naming header extensions that must
			// be understood is refused, as no extension is.
			if _, ok := t.Header["crit"]; ok {
				return nil, errors.New("critical header extensions are not supported")
			}
			// The parser already refused algorithms outside keys; the key is
			// picked by algorithm so a public key is never used as an HMAC secret.
			if k, ok := keys[t.Method.Alg()]; ok {
				return k, nil
			}
			return nil, fmt.Errorf("algorithm %s not configured", t.Method.Alg())
		},
		leeway: cfg.Leeway,
		now:    now,
	}
	switch {
	case cfg.CacheEntries == 0:
		v.cache = newTokenCache(DefaultCacheEntries)
	case cfg.CacheEntries > 0:
		v.cache = newTokenCache(cfg.CacheEntries)
	}
	return v, nil
}

// PublicKeyAlgorithm returns the algorithm a PKIX "PUBLIC KEY" PEM verifies:
// EdDSA for an Ed25519 key, RS256 for an RSA key of rsaKeyMinBits or more.
func PublicKeyAlgorithm(pemData []byte) (string, error) {
	alg, _, err := parsePublicKey(pemData)
	return alg, err
}

func parsePublicKey(data []byte) (alg string, key any, err error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return "", nil, fmt.Errorf("%w: public key is not a PEM \"PUBLIC KEY\" block", ErrConfig)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return "", nil, fmt.Errorf("%w: cannot parse public key: %v", ErrConfig, err)
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA.Alg(), k, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < rsaKeyMinBits {
			return "", nil, fmt.Errorf("%w: RSA key has %d bits, need at least %d", ErrConfig, k.N.BitLen(), rsaKeyMinBits)
		}
		return jwt.SigningMethodRS256.Alg(), k, nil
	}
	return "", nil, fmt.Errorf("%w: public key type %T is not Ed25519 or RSA", ErrConfig, pub)
}

// Verify checks token (the text after "Bearer ") and returns its user id.
// token is not retained unless it verifies, and then only as a copy.
func (v *Verifier) Verify(token []byte) (uint64, error) {
	return v.VerifyAt(token, v.now())
}

// VerifyAt is Verify for a caller that already read the clock: now decides
// cached tokens' validity (fresh tokens are judged by Config.Now, which
// should be the same clock).
func (v *Verifier) VerifyAt(token []byte, now time.Time) (uint64, error) {
	if v.cache != nil {
		if user, ok := v.cache.get(token, now, v.leeway); ok {
			return user, nil
		}
	}
	var claims jwt.RegisteredClaims
	if _, err := v.parser.ParseWithClaims(string(token), &claims, v.keyfunc); err != nil {
		return 0, &Error{Reason: reason(err)}
	}
	if err := checkSegments(token); err != nil {
		return 0, err
	}
	user, err := ParseSubject(claims.Subject)
	if err != nil {
		return 0, err
	}
	if v.cache != nil {
		e := cacheEntry{user: user, exp: claims.ExpiresAt.UnixNano()}
		if claims.NotBefore != nil {
			e.nbf = claims.NotBefore.UnixNano()
		}
		v.cache.put(string(token), e, now)
	}
	return user, nil
}

// checkSegments refuses what the jwt parser lets through although RFC 7519
// forbids it, in a token whose signature already verified: a member named
// twice in the header or the claims (encoding/json keeps the last, while a
// proxy or log reader may take the first, so two readers could see two users
// in one token), and exp, nbf or iat written as a string ("1700000000"; a
// NumericDate is a JSON number, RFC 7519 section 2).
func checkSegments(token []byte) error {
	parts := bytes.SplitN(token, []byte{'.'}, 3)
	if len(parts) != 3 {
		return &Error{Reason: jwt.ErrTokenMalformed.Error()}
	}
	for i, part := range parts[:2] {
		raw, err := base64.RawURLEncoding.DecodeString(string(part))
		if err != nil {
			return &Error{Reason: jwt.ErrTokenMalformed.Error()}
		}
		if reason := checkMembers(raw, i == 1); reason != "" {
			return &Error{Reason: reason}
		}
	}
	return nil
}

// checkMembers returns why the JSON object raw is refused, or "".
//
// The claims are decoded into a struct, and encoding/json matches member
// names to fields regardless of case (Unicode case folding: "SUB" and
// "ſub" fill Subject too), keeping the last; so in the claims two names
// that fold alike are duplicates, and exp, nbf and iat are found by folding.
// The header is decoded into a map, where only exact names collide.
func checkMembers(raw []byte, claims bool) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return jwt.ErrTokenMalformed.Error()
	}
	same := func(a, b string) bool { return a == b }
	if claims {
		same = strings.EqualFold
	}
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jwt.ErrTokenMalformed.Error()
		}
		name, _ := tok.(string)
		for _, prev := range seen {
			if same(prev, name) {
				return "token repeats member " + strconv.Quote(name)
			}
		}
		seen = append(seen, name)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return jwt.ErrTokenMalformed.Error()
		}
		if !claims {
			continue
		}
		for _, date := range [...]string{"exp", "nbf", "iat"} {
			if strings.EqualFold(name, date) && (len(value) == 0 || value[0] == '"') {
				return "token claim " + name + " is not a number"
			}
		}
	}
	return ""
}

// reason turns a jwt error into a short client-safe phrase.
func reason(err error) string {
	for _, known := range []error{
		jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience,
		jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable, jwt.ErrTokenMalformed,
	} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return "token is invalid"
}

// ParseSubject parses a token subject as a user id: decimal digits, no sign,
// no leading zero, non-zero, at most 2^63-1 (the API's int64 user ids).
func ParseSubject(sub string) (uint64, error) {
	if sub == "" {
		return 0, &Error{Reason: "token has no subject"}
	}
	if sub[0] == '0' || sub[0] < '0' || sub[0] > '9' {
		return 0, &Error{Reason: "token subject is not a user id"}
	}
	user, err := strconv.ParseUint(sub, 10, 63)
	if err != nil {
		return 0, &Error{Reason: "token subject is not a user id"}
	}
	return user, nil
}

// SignHS256 returns a token for user signed with secret, valid for ttl from
// now — the dev token `itctl token` prints.
func SignHS256(secret []byte, user uint64, ttl time.Duration) (string, error) {
	return SignHS256Claims(secret, Claims{User: user, TTL: ttl})
}

// Claims are the optional parts of a dev token.
type Claims struct {
	User     uint64
	TTL      time.Duration // > 0
	Issuer   string
	Audience string
	Now      time.Time // zero: time.Now()
}

// SignHS256Claims is SignHS256 with issuer, audience and issue time.
func SignHS256Claims(secret []byte, c Claims) (string, error) {
	if len(secret) < HS256SecretMinBytes {
		return "", fmt.Errorf("cannot sign token: %w: HS256 secret has %d bytes, need at least %d",
			ErrConfig, len(secret), HS256SecretMinBytes)
	}
	if c.User == 0 || c.TTL <= 0 {
		return "", fmt.Errorf("cannot sign token: need user > 0 and ttl > 0, got user %d ttl %v", c.User, c.TTL)
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	claims := jwt.RegisteredClaims{
		Subject:   strconv.FormatUint(c.User, 10),
		Issuer:    c.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("cannot sign token: %w", err)
	}
	return s, nil
}
