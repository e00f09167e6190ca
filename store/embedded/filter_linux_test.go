package embedded

import (
	"syscall"
	"testing"
	"unsafe"
)

// TestFilterPagesFaultedIn: the filter's pages are resident when
// allocFilterBlocks returns, so no request pays their first-touch faults
// (with huge pages, a 2 MiB zeroing and maybe a memory compaction each).
func TestFilterPagesFaultedIn(t *testing.T) {
	blocks, free := allocFilterBlocks(1 << 16) // 2 MiB
	defer free()
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&blocks[0])), len(blocks)*filterBlockBytes)
	vec := make([]byte, (len(mem)+pageBytes-1)/pageBytes)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Skipf("mincore: %v", errno)
	}
	for i, v := range vec {
		if v&1 == 0 {
			t.Fatalf("page %d of %d not resident after allocFilterBlocks", i, len(vec))
		}
	}
}
