package tigerbeetle

import (
	"crypto/rand"
	"encoding/binary"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// envOptions returns the Options for the TigerBeetle cluster named by
// TB_ADDRESSES (comma-separated, replica order) and TB_CLUSTER_ID (default 0),
// and skips the test when TB_ADDRESSES is not set.
func envOptions(tb testing.TB) Options {
	tb.Helper()
	raw := strings.TrimSpace(os.Getenv("TB_ADDRESSES"))
	if raw == "" {
		tb.Skip("TB_ADDRESSES not set: skipping TigerBeetle conformance")
	}
	opts := Options{Addresses: strings.Split(raw, ","), Timeout: 10 * time.Second}
	if s := strings.TrimSpace(os.Getenv("TB_CLUSTER_ID")); s != "" {
		id, ok := new(big.Int).SetString(s, 10)
		if !ok || id.Sign() < 0 || id.BitLen() > 128 {
			tb.Fatalf("TB_CLUSTER_ID=%q: want a decimal integer of 0..2^128-1 (TigerBeetle cluster ids are u128)", s)
		}
		lo := new(big.Int).And(id, new(big.Int).SetUint64(^uint64(0)))
		opts.ClusterID = ledger.Uint128{Lo: lo.Uint64(), Hi: new(big.Int).Rsh(id, 64).Uint64()}
	}
	return opts
}

// openEnv opens the cluster of envOptions and closes it when tb ends.
func openEnv(tb testing.TB) *Ledger {
	tb.Helper()
	l, err := New(envOptions(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return l
}

// randomID returns a random id, never TigerBeetle's reserved 0 or 2^128-1,
// so runs against a long-lived cluster do not collide.
func randomID(tb testing.TB) ledger.Uint128 {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("cannot read random bytes: %v", err)
	}
	id := ledger.Uint128{Lo: binary.LittleEndian.Uint64(b[:8]), Hi: binary.LittleEndian.Uint64(b[8:])}
	if id.IsZero() || id.IsMax() {
		id.Lo ^= 1
	}
	return id
}
