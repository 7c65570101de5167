package stmtfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, so that the fsync that ends a statement CSV of gigabytes waits only
// for its tail. Advisory: an error is ignored, the fsync still decides.
func startWriteback(f *os.File, off, n int64) {
	_ = withFD(f, func(fd int) error {
		return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// dropWritten waits until [off, off+n) of f, whose writeback started
// earlier, is on disk, then drops its pages from the page cache. A CSV of
// gigabytes then holds a few MB of page cache instead of all of it: it
// neither evicts pages other work needs (the ledger's) nor asks the kernel
// for gigabytes of fresh pages, which on a VM whose free memory went back
// to the host makes every page copied into the page cache several times
// dearer (bench/README.md). Waiting for writeback also consumes a write
// error (the fsync that follows would no longer report it), so its error is
// the write's.
func dropWritten(f *os.File, off, n int64) error {
	return withFD(f, func(fd int) error {
		if err := unix.SyncFileRange(fd, off, n,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
			return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
		}
		_ = unix.Fadvise(fd, off, n, unix.FADV_DONTNEED) // advisory
		return nil
	})
}

// withFD runs fn on f's descriptor and returns its error, or the error of
// reaching the descriptor.
func withFD(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
