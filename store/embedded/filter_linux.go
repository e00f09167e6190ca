package embedded

import (
	"syscall"
	"unsafe"
)

// allocFilterBlocks maps n zeroed filter blocks outside the Go heap and asks
// for transparent huge pages: every probe touches a random block, and with
// 4 KiB pages most probes would miss the TLB as well as the cache. It falls
// back to the heap when the mapping fails. free unmaps the blocks.
func allocFilterBlocks(n uint64) (blocks [][8]uint32, free func()) {
	size := int(n * filterBlockBytes)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([][8]uint32, n), func() {}
	}
	_ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE) // advisory: 4 KiB pages still work
	blocks = unsafe.Slice((*[8]uint32)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	return blocks, func() { _ = syscall.Munmap(mem) }
}
