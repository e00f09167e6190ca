package storetest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// defaultTTL is the idempotency TTL of every store the suite opens, except
// the one of the expiry test.
const defaultTTL = 24 * time.Hour

// opTimeout bounds every call the suite makes on a store.
const opTimeout = 30 * time.Second

// Run runs the conformance suite against the stores open returns. See the
// package comment for what open must do.
func Run(t *testing.T, open func(t *testing.T, opts Options) store.Store) {
	s := suite{open: open}
	t.Run("Create", s.testCreate)
	t.Run("Advance", s.testAdvance)
	t.Run("History", s.testHistory)
	t.Run("ListOpen", s.testListOpen)
	t.Run("CountOpen", s.testCountOpen)
	t.Run("Actions", s.testActions)
	t.Run("IdempotencyExpiry", s.testExpiry)
	t.Run("NodeClaims", s.testClaims)
}

type suite struct {
	open func(t *testing.T, opts Options) store.Store
}

// store opens a store with the default TTL and closes it when t ends.
func (s suite) store(t *testing.T) store.Store {
	return s.storeWith(t, Options{IdempotencyTTL: defaultTTL})
}

func (s suite) storeWith(t *testing.T, opts Options) store.Store {
	t.Helper()
	st := s.open(t, opts)
	if st == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// ctx returns a context bounded by opTimeout and cancelled when t ends.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return c
}

// randID returns a random non-zero 63-bit id (fits a CQL bigint).
func randID(t *testing.T) uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return binary.BigEndian.Uint64(b[:])>>1 | 1
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return hex.EncodeToString(b)
}

// now is the wall clock at the store's precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// newRequest returns a fully populated request from user to toUser created
// at created, with a fresh random id.
func newRequest(t *testing.T, user, toUser uint64, created time.Time) store.Request {
	r := store.Request{
		ID:              randID(t),
		UserID:          user,
		ToUserID:        toUser,
		FromAccountType: "funding",
		ToAccountType:   "spot",
		Asset:           "USDT",
		Amount:          randID(t) % 1_000_000_000,
		Fingerprint:     randHex(t, 16),
		CreatedAt:       created.UTC().Truncate(time.Millisecond),
	}
	copy(r.PendingID[:], randHex(t, 8))
	return r
}

// ignoreUpdatedAt compares requests on everything the caller chose; the
// store's clock sets UpdatedAt.
var ignoreUpdatedAt = cmpopts.IgnoreFields(store.Request{}, "UpdatedAt")

// wantRequest fails t unless got is want (as a caller wrote it) in status st.
func wantRequest(t *testing.T, got, want store.Request, st store.Status) {
	t.Helper()
	want.Status = st
	if diff := cmp.Diff(want, got, ignoreUpdatedAt); diff != "" {
		t.Errorf("request %d mismatch (-want +got):\n%s", want.ID, diff)
	}
	if got.UpdatedAt.IsZero() {
		t.Errorf("request %d: UpdatedAt is zero", got.ID)
	}
}

// mustCreate creates r and fails t unless it was created.
func mustCreate(t *testing.T, st store.Store, r store.Request) store.Request {
	t.Helper()
	got, created, err := st.Create(ctx(t), r)
	if err != nil || !created {
		t.Fatalf("Create(%d) = created %v, err %v; want created", r.ID, created, err)
	}
	return got
}

// mustAdvance advances id to `to` and fails t on error.
func mustAdvance(t *testing.T, st store.Store, id uint64, to store.Status) store.Request {
	t.Helper()
	got, err := st.Advance(ctx(t), id, to, store.Outcome{})
	if err != nil {
		t.Fatalf("Advance(%d, %s): %v", id, to, err)
	}
	if got.Status != to {
		t.Fatalf("Advance(%d, %s) returned status %s", id, to, got.Status)
	}
	return got
}

// mustGet fails t unless id exists.
func mustGet(t *testing.T, st store.Store, id uint64) store.Request {
	t.Helper()
	got, err := st.Get(ctx(t), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return got
}

// wantErr fails t unless err matches target with errors.Is.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// newestFirst sorts requests as History returns them.
func newestFirst(rs []store.Request) {
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].CreatedAt.Equal(rs[j].CreatedAt) {
			return rs[i].CreatedAt.After(rs[j].CreatedAt)
		}
		return rs[i].ID > rs[j].ID
	})
}

// ids lists the ids of rs, in order.
func ids(rs []store.Request) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
