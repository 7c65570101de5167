package reconcile

import (
	"os"
	"syscall"
)

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback of the
// range's dirty pages without waiting for it.
const syncFileRangeWrite = 0x2

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, so that the fsync that ends a statement CSV of gigabytes waits only
// for its tail. Advisory: an error is ignored, the fsync still decides.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite)
	})
}
