package storetest

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// claimTTL is the claims' ttl in testClaims. ScyllaDB counts a TTL from the
// current whole second, so a claim may end up to a second early: the
// "still held" checks allow for that.
const claimTTL = 3 * time.Second

// claimHeld is how long after a claim the suite counts on it to hold.
const claimHeld = claimTTL - 1500*time.Millisecond

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
	// holds it (unless a slow store spent the time already).
	holder, err := claim(b)
	if (!errors.Is(err, store.ErrNodeClaimed) || holder != a) && time.Since(start) < claimHeld {
		t.Fatalf("claim of a held id: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, a)
	}
	start = time.Now()
	if holder, err := claim(a); err != nil || holder != a {
		t.Fatalf("renewal: holder %q, err %v; want %q", holder, err, a)
	}
	if holder, err := claim(b); (!errors.Is(err, store.ErrNodeClaimed) || holder != a) && time.Since(start) < claimHeld {
		t.Fatalf("claim after the renewal: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, a)
	}
	if holder, err := st.ClaimNode(ctx(t), node+1, b, claimTTL); err != nil || holder != b {
		t.Fatalf("claim of another id: holder %q, err %v; want %q", holder, err, b)
	}
	// A release by another owner leaves the claim; the holder's frees it.
	start = time.Now()
	if err := st.ReleaseNode(ctx(t), node, b); err != nil {
		t.Fatalf("release by another owner: %v", err)
	}
	if holder, err := claim(b); (!errors.Is(err, store.ErrNodeClaimed) || holder != a) && time.Since(start) < claimHeld {
		t.Fatalf("claim after another owner's release: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, a)
	}
	if err := st.ReleaseNode(ctx(t), node, a); err != nil {
		t.Fatalf("release by the holder: %v", err)
	}
	if holder, err := claim(b); err != nil || holder != b {
		t.Fatalf("claim after the holder's release: holder %q, err %v; want %q", holder, err, b)
	}
	if err := st.ReleaseNode(ctx(t), node+2, a); err != nil {
		t.Fatalf("release of an id never claimed: %v", err)
	}

	// Once a claim lapses, the id is free for the next node, and the old
	// holder is refused.
	time.Sleep(claimTTL + 1500*time.Millisecond)
	if holder, err := claim(a); err != nil || holder != a {
		t.Fatalf("claim after expiry: holder %q, err %v; want %q", holder, err, a)
	}
	start = time.Now()
	if holder, err := claim(b); (!errors.Is(err, store.ErrNodeClaimed) || holder != a) && time.Since(start) < claimHeld {
		t.Fatalf("old holder's renewal after another claimed: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, a)
	}

	for _, c := range []struct {
		name  string
		node  int
		owner string
		ttl   time.Duration
	}{
		{"negative node", -1, b, claimTTL},
		{"node over int32", math.MaxInt32 + 1, b, claimTTL},
		{"empty owner", node, "", claimTTL},
		{"long owner", node, strings.Repeat("x", store.ClaimOwnerMax+1), claimTTL},
		{"short ttl", node, b, time.Second - 1},
		{"long ttl", node, b, store.ClaimTTLMax + time.Second},
	} {
		if _, err := st.ClaimNode(ctx(t), c.node, c.owner, c.ttl); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("claim with %s: err %v, want ErrInvalid", c.name, err)
		}
		if c.ttl == claimTTL {
			if err := st.ReleaseNode(ctx(t), c.node, c.owner); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("release with %s: err %v, want ErrInvalid", c.name, err)
			}
		}
	}
	// The refused calls changed nothing: a still holds the id.
	if holder, err := claim(b); (!errors.Is(err, store.ErrNodeClaimed) || holder != a) && time.Since(start) < claimHeld {
		t.Fatalf("after refused calls: holder %q, err %v; want %q and ErrNodeClaimed", holder, err, a)
	}
}
