package embedded

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allocFilterBlocks maps n zeroed filter blocks outside the Go heap, asks
// for transparent huge pages and faults them in: every probe touches a
// random block, and with 4 KiB pages most probes would miss the TLB as well
// as the cache. It falls back to the heap when the mapping fails. free
// unmaps the blocks.
func allocFilterBlocks(n uint64) (blocks [][8]uint32, free func()) {
	size := int(n * filterBlockBytes)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([][8]uint32, n), func() {}
	}
	_ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE) // advisory: 4 KiB pages still work
	// Fault every page in now. Left to the first probes, each first touch
	// of a huge page zeroes 2 MiB and may wait for the kernel to compact
	// memory to find one: the first requests after a start waited 6–55 ms
	// each in their filter probes. Linux before 5.14 has no
	// MADV_POPULATE_WRITE: touch each page instead.
	if err := unix.Madvise(mem, unix.MADV_POPULATE_WRITE); err != nil {
		for i := 0; i < len(mem); i += pageBytes {
			mem[i] = 0
		}
	}
	blocks = unsafe.Slice((*[8]uint32)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	return blocks, func() { _ = syscall.Munmap(mem) }
}

// pageBytes is the smallest page size allocFilterBlocks faults in.
const pageBytes = 4096
