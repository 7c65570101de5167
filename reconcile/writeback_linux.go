package reconcile

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, so that the fsync that ends a statement CSV of gigabytes waits only
// for its tail. Advisory: an error is ignored, the fsync still decides.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// dropWritten waits until [off, off+n) of f, whose writeback started
// earlier, is on disk, then drops its pages from the page cache. A CSV of
// gigabytes then holds a few MB of page cache instead of all of it: it
// neither evicts pages other work needs (the ledger's) nor asks the kernel
// for gigabytes of fresh pages, which on a VM whose free memory went back
// to the host made every page of the copy into the page cache several
// times dearer (bench: a sixth of a month's close). Waiting for writeback
// also consumes a write error (the fsync that follows would no longer
// report it), so its error is the write's.
func dropWritten(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := rc.Control(func(fd uintptr) {
		werr = unix.SyncFileRange(int(fd), off, n,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		if werr == nil {
			_ = unix.Fadvise(int(fd), off, n, unix.FADV_DONTNEED) // advisory
		}
	}); err != nil {
		return err
	}
	if werr != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: werr}
	}
	return nil
}
