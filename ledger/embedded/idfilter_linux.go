package embedded

import (
	"syscall"
	"unsafe"
)

// allocFilterBlocks maps n filter blocks outside the Go heap and asks for
// transparent huge pages: the filter is read at random, and with 4 KiB pages
// nearly every probe would also miss the TLB. The memory is zero until
// touched. Without mmap it falls back to the Go heap.
func allocFilterBlocks(n uint64) (blocks [][8]uint32, free func()) {
	size := int(n * idFilterBlockBytes)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([][8]uint32, n), func() {}
	}
	_ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE) // advisory: 4 KiB pages still work
	blocks = unsafe.Slice((*[8]uint32)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	return blocks, func() { _ = syscall.Munmap(mem) }
}
