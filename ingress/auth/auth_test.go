package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	testNow    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func claimsFor(sub string, exp time.Duration) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Subject:   sub,
		IssuedAt:  jwt.NewNumericDate(testNow),
		ExpiresAt: jwt.NewNumericDate(testNow.Add(exp)),
	}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRaw signs header and payload exactly as written, with testSecret.
func signRaw(t testing.TB, header, payload string) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(in, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyRejects(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := claimsFor("1000", time.Hour)
	cases := []struct {
		name  string
		cfg   Config
		token func(t *testing.T) string
	}{
		{"expired", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("1000", -time.Second))
		}},
		{"expired beyond leeway", Config{HS256Secret: testSecret, Leeway: 5 * time.Second}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("1000", -6*time.Second))
		}},
		{"no exp", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "1000"})
		}},
		{"not yet valid", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			c := good
			c.NotBefore = jwt.NewNumericDate(testNow.Add(time.Minute))
			return sign(t, jwt.SigningMethodHS256, testSecret, c)
		}},
		{"issued in the future", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			c := good
			c.IssuedAt = jwt.NewNumericDate(testNow.Add(time.Minute))
			return sign(t, jwt.SigningMethodHS256, testSecret, c)
		}},
		{"malformed", Config{HS256Secret: testSecret}, func(*testing.T) string { return "not.a.jwt" }},
		{"empty", Config{HS256Secret: testSecret}, func(*testing.T) string { return "" }},
		{"two segments", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			s := sign(t, jwt.SigningMethodHS256, testSecret, good)
			return s[:strings.LastIndexByte(s, '.')]
		}},
		{"wrong signature", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("ffffffffffffffffffffffffffffffff"), good)
		}},
		{"tampered payload", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			s := sign(t, jwt.SigningMethodHS256, testSecret, good)
			other := sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("2000", time.Hour))
			p := strings.Split(s, ".")
			q := strings.Split(other, ".")
			return p[0] + "." + q[1] + "." + p[2]
		}},
		{"alg none", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)
		}},
		{"wrong alg HS512", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS512, testSecret, good)
		}},
		{"EdDSA token when only HS256 configured", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, edPriv, good)
		}},
		{"HS256 signed with the public key (alg confusion)", Config{PublicKeyPEM: pemOf(t, &rsaKey.PublicKey)}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, pemOf(t, &rsaKey.PublicKey), good)
		}},
		{"RS256 token when EdDSA configured", Config{PublicKeyPEM: pemOf(t, edPub)}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey, good)
		}},
		{"missing sub", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("", time.Hour))
		}},
		{"non-numeric sub", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("alice", time.Hour))
		}},
		{"negative sub", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("-5", time.Hour))
		}},
		{"zero sub", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("0", time.Hour))
		}},
		{"leading zero sub", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("01000", time.Hour))
		}},
		{"sub beyond int64", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("9223372036854775808", time.Hour))
		}},
		{"sub overflows uint64", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("18446744073709551616", time.Hour))
		}},
		{"sub named twice", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT"}`,
				fmt.Sprintf(`{"sub":"2000","exp":%d,"sub":"1000"}`, testNow.Add(time.Hour).Unix()))
		}},
		{"sub named twice, differing in case", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT"}`,
				fmt.Sprintf(`{"sub":"2000","exp":%d,"SUB":"1000"}`, testNow.Add(time.Hour).Unix()))
		}},
		{"sub named twice, by case folding", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT"}`,
				fmt.Sprintf(`{"sub":"2000","exp":%d,"ſub":"1000"}`, testNow.Add(time.Hour).Unix()))
		}},
		{"exp named twice, differing in case", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT"}`,
				fmt.Sprintf(`{"sub":"1000","exp":%d,"EXP":%d}`, testNow.Add(-time.Hour).Unix(), testNow.Add(time.Hour).Unix()))
		}},
		{"Exp as a string", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT"}`,
				fmt.Sprintf(`{"sub":"1000","Exp":"%d"}`, testNow.Add(time.Hour).Unix()))
		}},
		{"alg named twice", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"none","alg":"HS256"}`,
				fmt.Sprintf(`{"sub":"1000","exp":%d}`, testNow.Add(time.Hour).Unix()))
		}},
		{"exp as a string", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT"}`,
				fmt.Sprintf(`{"sub":"1000","exp":"%d"}`, testNow.Add(time.Hour).Unix()))
		}},
		{"nbf as a string", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT"}`,
				fmt.Sprintf(`{"sub":"1000","exp":%d,"nbf":"%d"}`, testNow.Add(time.Hour).Unix(), testNow.Unix()))
		}},
		{"a critical header extension", Config{HS256Secret: testSecret}, func(t *testing.T) string {
			return signRaw(t, `{"alg":"HS256","typ":"JWT","crit":["exp_policy"],"exp_policy":"strict"}`,
				fmt.Sprintf(`{"sub":"1000","exp":%d}`, testNow.Add(time.Hour).Unix()))
		}},
		{"wrong issuer", Config{HS256Secret: testSecret, Issuer: "exchange"}, func(t *testing.T) string {
			c := good
			c.Issuer = "evil"
			return sign(t, jwt.SigningMethodHS256, testSecret, c)
		}},
		{"missing audience", Config{HS256Secret: testSecret, Audience: "transfers"}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, good)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = func() time.Time { return testNow }
			v, err := NewVerifier(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			user, err := v.Verify([]byte(tc.token(t)))
			var ae *Error
			if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &ae) || ae.Reason == "" {
				t.Fatalf("Verify = %d, %v; want an *Error matching ErrUnauthorized", user, err)
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	full := claimsFor("9223372036854775807", time.Hour)
	full.Issuer, full.Audience = "exchange", jwt.ClaimStrings{"transfers"}
	cases := []struct {
		name  string
		cfg   Config
		token string
		user  uint64
	}{
		{"HS256", Config{HS256Secret: testSecret}, sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("1000", time.Hour)), 1000},
		{"EdDSA", Config{PublicKeyPEM: pemOf(t, edPub)}, sign(t, jwt.SigningMethodEdDSA, edPriv, claimsFor("7", time.Hour)), 7},
		{"RS256", Config{PublicKeyPEM: pemOf(t, &rsaKey.PublicKey)}, sign(t, jwt.SigningMethodRS256, rsaKey, claimsFor("8", time.Hour)), 8},
		{"HS256 and EdDSA both configured, EdDSA token", Config{HS256Secret: testSecret, PublicKeyPEM: pemOf(t, edPub)},
			sign(t, jwt.SigningMethodEdDSA, edPriv, claimsFor("9", time.Hour)), 9},
		{"issuer and audience, max user", Config{HS256Secret: testSecret, Issuer: "exchange", Audience: "transfers"},
			sign(t, jwt.SigningMethodHS256, testSecret, full), 1<<63 - 1},
		{"expired inside leeway", Config{HS256Secret: testSecret, Leeway: 5 * time.Second},
			sign(t, jwt.SigningMethodHS256, testSecret, claimsFor("10", -4*time.Second)), 10},
		{"nested members may repeat top-level names", Config{HS256Secret: testSecret},
			signRaw(t, `{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(
				`{"sub":"11","exp":%d,"ctx":{"sub":"12","exp":"x","ctx":[{"sub":1}]},"nbf":null}`,
				testNow.Add(time.Hour).Unix())), 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = func() time.Time { return testNow }
			v, err := NewVerifier(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ { // the second call is served by the cache
				user, err := v.Verify([]byte(tc.token))
				if err != nil || user != tc.user {
					t.Fatalf("call %d: Verify = %d, %v; want %d", i, user, err, tc.user)
				}
			}
		})
	}
}

// A cached token must stop working exactly when the token itself would.
func TestCacheHonoursExpiryAndNotBefore(t *testing.T) {
	clk := newClock(testNow)
	v, err := NewVerifier(Config{HS256Secret: testSecret, Leeway: 2 * time.Second, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	c := claimsFor("42", 10*time.Second)
	c.NotBefore = jwt.NewNumericDate(testNow)
	tok := []byte(sign(t, jwt.SigningMethodHS256, testSecret, c))
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if v.cache.len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", v.cache.len())
	}
	clk.add(11 * time.Second) // past exp, inside leeway
	if u, err := v.Verify(tok); err != nil || u != 42 {
		t.Fatalf("inside leeway: Verify = %d, %v", u, err)
	}
	clk.add(time.Second) // exp + leeway reached
	if _, err := v.Verify(tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("after exp+leeway: Verify err = %v, want ErrUnauthorized", err)
	}
	// The cache also refuses before nbf - leeway (a cached entry seen by a
	// clock that stepped back).
	if _, ok := v.cache.get(tok, testNow.Add(-3*time.Second), 2*time.Second); ok {
		t.Fatal("cache accepted a token before nbf - leeway")
	}
}

func TestCacheBounded(t *testing.T) {
	v, err := NewVerifier(Config{HS256Secret: testSecret, CacheEntries: 64, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2000; i++ {
		tok := sign(t, jwt.SigningMethodHS256, testSecret, claimsFor(fmt.Sprint(i), time.Hour))
		if _, err := v.Verify([]byte(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n, max := v.cache.len(), cacheShards*(64/cacheShards+1); n > max {
		t.Fatalf("cache holds %d tokens, bound is %d", n, max)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"nothing configured", Config{}},
		{"short secret", Config{HS256Secret: []byte("short")}},
		{"garbage PEM", Config{PublicKeyPEM: []byte("not pem")}},
		{"private key block", Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})}},
		{"small RSA key", Config{PublicKeyPEM: pemOf(t, &small.PublicKey)}},
		{"negative leeway", Config{HS256Secret: testSecret, Leeway: -time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("NewVerifier err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestSignHS256(t *testing.T) {
	tok, err := SignHS256(testSecret, 1000, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{HS256Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := v.Verify([]byte(tok)); err != nil || u != 1000 {
		t.Fatalf("Verify(SignHS256) = %d, %v; want 1000", u, err)
	}
	withClaims, err := SignHS256Claims(testSecret, Claims{User: 5, TTL: time.Minute, Issuer: "ex", Audience: "tr"})
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := NewVerifier(Config{HS256Secret: testSecret, Issuer: "ex", Audience: "tr"})
	if u, err := strict.Verify([]byte(withClaims)); err != nil || u != 5 {
		t.Fatalf("Verify(SignHS256Claims) = %d, %v; want 5", u, err)
	}
	if _, err := SignHS256([]byte("short"), 1, time.Minute); !errors.Is(err, ErrConfig) {
		t.Fatalf("short secret: err = %v, want ErrConfig", err)
	}
	if _, err := SignHS256(testSecret, 0, time.Minute); err == nil {
		t.Fatal("user 0 signed")
	}
	if _, err := SignHS256(testSecret, 1, 0); err == nil {
		t.Fatal("ttl 0 signed")
	}
}

func BenchmarkVerifyJWT(b *testing.B) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	hs := sign(b, jwt.SigningMethodHS256, testSecret, claimsFor("1000", time.Hour))
	ed := sign(b, jwt.SigningMethodEdDSA, edPriv, claimsFor("1000", time.Hour))
	now := func() time.Time { return testNow }
	cases := []struct {
		name  string
		cfg   Config
		token string
	}{
		{"HS256/uncached", Config{HS256Secret: testSecret, CacheEntries: -1, Now: now}, hs},
		{"HS256/cached", Config{HS256Secret: testSecret, Now: now}, hs},
		{"EdDSA/uncached", Config{PublicKeyPEM: pemOf(b, edPub), CacheEntries: -1, Now: now}, ed},
		{"EdDSA/cached", Config{PublicKeyPEM: pemOf(b, edPub), Now: now}, ed},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			v, err := NewVerifier(tc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			tok := []byte(tc.token)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
