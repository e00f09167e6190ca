//go:build linux

package node

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerThreadPriority pins the calling goroutine to its OS thread and
// lowers that thread's CPU priority to nice, so the kernel runs the
// request threads first while both want the CPU; alone, the thread still
// gets every idle cycle. restore raises the thread back and unpins it.
// When it cannot (raising a priority needs CAP_SYS_NICE, which a service
// user lacks), or when it runs on another goroutine than the one lowered,
// the lowered thread stays pinned to its goroutine, and Go ends the thread
// with that goroutine (Pebble runs each flush and compaction on a
// goroutine of its own): a lowered thread never runs anything else.
func lowerThreadPriority(nice int) (restore func()) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	// The raw getpriority(2) returns 20 - nice, to stay positive.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil || 20-prio >= nice {
		runtime.UnlockOSThread()
		return func() {}
	}
	was := 20 - prio
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		runtime.UnlockOSThread()
		return func() {}
	}
	return func() {
		if unix.Gettid() != tid {
			return
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, was); err != nil {
			return
		}
		runtime.UnlockOSThread()
	}
}

// threadNice returns the calling thread's nice value (tests).
func threadNice() (int, error) {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	return 20 - prio, err
}

// canRaisePriority reports whether this process may lower a nice value
// (tests).
func canRaisePriority() bool { return unix.Geteuid() == 0 }
