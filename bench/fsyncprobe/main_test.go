package main

import (
	"os"
	"testing"
	"time"
)

func TestEveryCaseSyncsAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	for _, c := range cases() {
		lat, elapsed, pause, err := probe(dir, c, 30*time.Millisecond, 4096)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(lat) == 0 || elapsed <= 0 {
			t.Fatalf("%s: %d syncs in %v", c.name, len(lat), elapsed)
		}
		if (c.pause > 0 && pause < c.pause) || (c.pause == 0 && pause != 0) {
			t.Fatalf("%s: asked for pauses of %v, measured %v", c.name, c.pause, pause)
		}
		for _, l := range lat {
			if l <= 0 {
				t.Fatalf("%s: a sync took %v", c.name, l)
			}
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("scratch files left behind: %v", left)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	if err := run(t.TempDir(), time.Second, 0); err == nil {
		t.Error("run accepted a zero record size")
	}
	if err := run(t.TempDir(), 0, 4096); err == nil {
		t.Error("run accepted a zero duration")
	}
}
