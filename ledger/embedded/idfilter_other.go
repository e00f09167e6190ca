//go:build !linux

package embedded

// allocFilterBlocks allocates n filter blocks on the Go heap.
func allocFilterBlocks(n uint64) (blocks [][8]uint32, free func()) {
	return make([][8]uint32, n), func() {}
}
