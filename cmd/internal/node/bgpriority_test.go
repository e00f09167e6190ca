package node

import (
	"runtime"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestBackgroundJobsRunAtLowPriority: a flush's goroutine runs at
// flushNice and a compaction's at backgroundNice between Begin and End, and
// afterwards its thread is back at its priority (as root, which may raise
// it back) or stays pinned to that goroutine.
func TestBackgroundJobsRunAtLowPriority(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are Linux's")
	}
	l := backgroundListener()
	l.EnsureDefaults(nil) // as pebble.Open does: no-ops for the events it leaves out
	for _, job := range []struct {
		name       string
		begin, end func()
		want       int // nice during the job
	}{
		{"flush", func() { l.FlushBegin(pebble.FlushInfo{JobID: 7}) }, func() { l.FlushEnd(pebble.FlushInfo{JobID: 7}) }, flushNice},
		{"compaction", func() { l.CompactionBegin(pebble.CompactionInfo{JobID: 8}) }, func() { l.CompactionEnd(pebble.CompactionInfo{JobID: 8}) }, backgroundNice},
	} {
		t.Run(job.name, func(t *testing.T) {
			type result struct {
				before, during, after int
				err                   error
			}
			done := make(chan result, 1)
			go func() { // a goroutine of its own, like Pebble's jobs
				var r result
				runtime.LockOSThread() // read before and during on one thread
				defer runtime.UnlockOSThread()
				if r.before, r.err = threadNice(); r.err != nil {
					done <- r
					return
				}
				job.begin()
				r.during, r.err = threadNice()
				job.end()
				if r.err == nil {
					r.after, r.err = threadNice()
				}
				done <- r
			}()
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.before >= job.want {
				t.Skipf("the test runs at nice %d already", r.before)
			}
			if r.during != job.want {
				t.Fatalf("nice %d during the %s, want %d", r.during, job.name, job.want)
			}
			if r.after != r.before && r.after != job.want {
				t.Fatalf("nice %d after the %s, want %d back (or %d, kept on its own thread)", r.after, job.name, r.before, job.want)
			}
		})
	}
}

// TestLowerThreadPriorityRestores: restore puts the thread back at its
// priority and unpins it, so the next goroutine on that thread runs at
// the normal priority; it needs the right to raise a priority (root here).
func TestLowerThreadPriorityRestores(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are Linux's")
	}
	done := make(chan [3]int, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		before, _ := threadNice()
		restore := lowerThreadPriority(backgroundNice)
		during, _ := threadNice()
		restore()
		after, _ := threadNice()
		done <- [3]int{before, during, after}
	}()
	n := <-done
	if n[0] >= backgroundNice {
		t.Skipf("the test runs at nice %d already", n[0])
	}
	if n[1] != backgroundNice {
		t.Fatalf("nice %d while lowered, want %d", n[1], backgroundNice)
	}
	if n[2] != n[0] {
		if n[2] == backgroundNice && !canRaisePriority() {
			t.Skip("no right to raise a priority back: the thread stays pinned instead")
		}
		t.Fatalf("nice %d after restore, want %d", n[2], n[0])
	}
}
