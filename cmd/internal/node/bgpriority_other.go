//go:build !linux

package node

// lowerThreadPriority does nothing here: thread priorities are Linux's.
func lowerThreadPriority(int) (restore func()) { return func() {} }

func threadNice() (int, error) { return 0, nil }

func canRaisePriority() bool { return false }
