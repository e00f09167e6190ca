package ledger

import (
	"fmt"
	"testing"
)

// idCases names one derivation per input, so tests can check every function.
func idCases() map[string]func() Uint128 {
	return map[string]func() Uint128{
		"user 1 type 1 ledger 1":  func() Uint128 { return UserAccountID(1, 1, 1) },
		"user 2 type 1 ledger 1":  func() Uint128 { return UserAccountID(2, 1, 1) },
		"user 1 type 2 ledger 1":  func() Uint128 { return UserAccountID(1, 2, 1) },
		"user 1 type 1 ledger 2":  func() Uint128 { return UserAccountID(1, 1, 2) },
		"operator ledger 1":       func() Uint128 { return OperatorAccountID(1) },
		"operator ledger 2":       func() Uint128 { return OperatorAccountID(2) },
		"pending key user 1 a":    func() Uint128 { return PendingIDForKey(1, "a") },
		"pending key user 2 a":    func() Uint128 { return PendingIDForKey(2, "a") },
		"pending key user 1 b":    func() Uint128 { return PendingIDForKey(1, "b") },
		"pending key user 1 ''":   func() Uint128 { return PendingIDForKey(1, "") },
		"pending request 1":       func() Uint128 { return PendingIDForRequest(1) },
		"pending request 2":       func() Uint128 { return PendingIDForRequest(2) },
		"post of request 1":       func() Uint128 { return PostID(PendingIDForRequest(1)) },
		"void of request 1":       func() Uint128 { return VoidID(PendingIDForRequest(1)) },
		"post of request 2":       func() Uint128 { return PostID(PendingIDForRequest(2)) },
		"op deposit k":            func() Uint128 { return OperationID("deposit", "k") },
		"op withdrawal k":         func() Uint128 { return OperationID("withdrawal", "k") },
		"op deposit k2":           func() Uint128 { return OperationID("deposit", "k2") },
		"op depositk + '' (join)": func() Uint128 { return OperationID("depositk", "") },
	}
}

// TestIDsDeterministic: the same input always names the same id, which is
// what turns a replay into TigerBeetle's "exists".
func TestIDsDeterministic(t *testing.T) {
	for name, f := range idCases() {
		if a, b := f(), f(); a != b {
			t.Errorf("%s: %v then %v", name, a, b)
		}
	}
}

// TestIDsDistinct: different inputs, and different kinds of object, never
// share an id, and no id is TigerBeetle's reserved 0 or 2^128-1.
func TestIDsDistinct(t *testing.T) {
	seen := map[Uint128]string{}
	for name, f := range idCases() {
		id := f()
		if id.IsZero() || id.IsMax() {
			t.Errorf("%s: reserved id %v", name, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share id %v", name, other, id)
		}
		seen[id] = name
	}
	// Many users, types and ledgers: still no collision.
	for user := range uint64(200) {
		for ledger := range uint32(5) {
			id := UserAccountID(user, uint16(user%3), ledger)
			name := fmt.Sprintf("user %d type %d ledger %d", user, user%3, ledger)
			if other, dup := seen[id]; dup && other != name {
				t.Fatalf("%s and %s share id %v", name, other, id)
			}
			seen[id] = name
		}
	}
}

// TestIDsPinned pins derivations to their values: changing a derivation
// would orphan every id already in a ledger, so it must fail loudly.
func TestIDsPinned(t *testing.T) {
	cases := []struct {
		name string
		got  Uint128
		want string
	}{
		{"PendingIDForRequest(1)", PendingIDForRequest(1), "136262411959880773512500738006774995316"},
		{"UserAccountID(1, 1, 1)", UserAccountID(1, 1, 1), "314814345322999462501782154386498707047"},
	}
	for _, c := range cases {
		if c.got.String() != c.want {
			t.Errorf("%s = %s, pinned %s", c.name, c.got, c.want)
		}
	}
}

// TestDeriveAvoidsReserved: the reserved values are remapped, never returned.
func TestDeriveAvoidsReserved(t *testing.T) {
	for i := range 10000 {
		id := derive([]byte("probe"), u64(uint64(i)))
		if id.IsZero() || id.IsMax() {
			t.Fatalf("derive returned reserved id %v", id)
		}
	}
}

func BenchmarkPendingIDForKey(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		_ = PendingIDForKey(uint64(i), "client-key-0123456789")
	}
}
