//go:build !linux

package embedded

// allocFilterBlocks allocates n zeroed filter blocks on the heap.
func allocFilterBlocks(n uint64) (blocks [][8]uint32, free func()) {
	return make([][8]uint32, n), func() {}
}
