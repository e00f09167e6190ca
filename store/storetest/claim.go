package storetest

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// claimTTL is the claims' ttl in testClaims: the shortest a claim takes.
const claimTTL = time.Second

func (s suite) testClaims(t *testing.T) {
	st := s.store(t)
	node := int(randID(t) % (1 << 30))
	a, b := "node-a-"+randHex(t, 4), "node-b-"+randHex(t, 4)
	claim := func(owner string) (string, error) {
		t.Helper()
		return st.ClaimNode(ctx(t), node, owner, claimTTL)
	}

	start := time.Now()
	if holder, err := claim(a); err != nil || holder != a {
		t.Fatalf("first claim: holder %q, err %v; want %q", holder, err, a)
	}
	// Within the ttl: the holder renews, anyone else is refused, told who
	// holds it (unless a slow store spent the ttl already).
	holder, err := claim(b)
	if (!errors.Is(err, store.ErrNodeClaimed) || holder != a) && time.Since(start) < claimTTL {
		t.Fatalf("claim of a held id: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, a)
	}
	start = time.Now()
	if holder, err := claim(a); err != nil || holder != a {
		t.Fatalf("renewal: holder %q, err %v; want %q", holder, err, a)
	}
	if holder, err := claim(b); (!errors.Is(err, store.ErrNodeClaimed) || holder != a) && time.Since(start) < claimTTL {
		t.Fatalf("claim after the renewal: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, a)
	}
	if holder, err := st.ClaimNode(ctx(t), node+1, b, claimTTL); err != nil || holder != b {
		t.Fatalf("claim of another id: holder %q, err %v; want %q", holder, err, b)
	}

	// Once the claim expires, the id is free for the next node, and the
	// old holder is refused.
	time.Sleep(claimTTL + 1500*time.Millisecond)
	if holder, err := claim(b); err != nil || holder != b {
		t.Fatalf("claim after expiry: holder %q, err %v; want %q", holder, err, b)
	}
	if holder, err := claim(a); !errors.Is(err, store.ErrNodeClaimed) || holder != b {
		t.Fatalf("old holder's renewal after another claimed: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, b)
	}

	for _, c := range []struct {
		name  string
		node  int
		owner string
		ttl   time.Duration
	}{
		{"negative node", -1, a, claimTTL},
		{"node over int32", math.MaxInt32 + 1, a, claimTTL},
		{"empty owner", node, "", claimTTL},
		{"long owner", node, strings.Repeat("x", store.ClaimOwnerMax+1), claimTTL},
		{"short ttl", node, a, time.Second - 1},
		{"long ttl", node, a, store.ClaimTTLMax + time.Second},
	} {
		if _, err := st.ClaimNode(ctx(t), c.node, c.owner, c.ttl); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", c.name, err)
		}
	}
	// The refused calls changed nothing: b still holds the id.
	if holder, err := claim(a); !errors.Is(err, store.ErrNodeClaimed) || holder != b {
		t.Fatalf("after refused calls: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, b)
	}
}
