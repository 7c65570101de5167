//go:build linux

package ledger

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockHolder asks the kernel which process holds the fcntl lock on path
// (Pebble's LOCK file) and reads its command line. Best effort: zero values
// when unknown.
func lockHolder(path string) (pid int, cmd string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil || lk.Type == syscall.F_UNLCK {
		// F_UNLCK: no other process holds it, so this one does.
		return os.Getpid(), commandOf(os.Getpid())
	}
	return int(lk.Pid), commandOf(int(lk.Pid))
}

func commandOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	s := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// readLock takes a shared (read) fcntl lock on path, Pebble's LOCK file,
// opened read-only: readers exclude a writer (whose exclusive lock
// conflicts) but not each other, and nothing is written. A LOCK file that
// does not exist, or a file system mounted read-only where it cannot be
// opened, needs no lock: no writer can be using that directory.
func readLock(path string) (io.Closer, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.EROFS) {
		return io.NopCloser(nil), nil
	}
	if err != nil {
		return nil, err
	}
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Whence: 0, Start: 0, Len: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
