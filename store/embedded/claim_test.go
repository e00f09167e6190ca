package embedded

import (
	"context"
	"testing"
	"time"
)

// Only one process opens the database, so the claims a reopened store finds
// are of processes that ended: a restart after a crash (its claim never
// released) takes its node id at once, under any owner name.
func TestOpenDropsClaims(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimNode(ctx, 5, "before-crash", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if holder, err := s.ClaimNode(ctx, 5, "after-restart", time.Hour); err != nil || holder != "after-restart" {
		t.Fatalf("claim after reopening: holder %q, err %v", holder, err)
	}
}
