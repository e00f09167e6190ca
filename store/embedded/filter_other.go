//go:build !linux

package embedded

import "sync/atomic"

// allocFilterBlocks allocates n zeroed filter blocks on the heap.
func allocFilterBlocks(n uint64) (blocks [][8]atomic.Uint32, free func()) {
	return make([][8]atomic.Uint32, n), func() {}
}
