package ledger

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// openDirs holds the real directories (vfs.Default) that a Ledger of this
// process has open, so that a second Open of one of them is refused with a
// *LockedError before Pebble is asked. The kernel's fcntl lock, which Pebble
// takes, does not exclude the process that holds it, and asking the kernel
// who holds it (lockHolder) through a second descriptor would drop the
// first one's lock when that descriptor is closed.
var openDirs = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// claimDir records that this process opens dir. It returns the function
// that forgets it, or a *LockedError naming this process when dir is open
// already. Directories of other file systems (vfs.NewMem in tests) are not
// recorded: Pebble's own lock excludes a second Open of them.
func claimDir(fs vfs.FS, dir string) (release func(), err error) {
	if fs != vfs.Default {
		return func() {}, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = filepath.Clean(dir)
	}
	openDirs.Lock()
	defer openDirs.Unlock()
	if openDirs.m[abs] {
		return nil, &LockedError{Dir: dir, PID: os.Getpid(), Command: selfCommand()}
	}
	openDirs.m[abs] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			openDirs.Lock()
			delete(openDirs.m, abs)
			openDirs.Unlock()
		})
	}, nil
}

// selfCommand is this process's command line, shortened like lockHolder's.
func selfCommand() string {
	s := strings.Join(os.Args, " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// readOnlyFS is the file system of a read-only Open: Pebble's lock, which
// creates and write-locks the LOCK file, becomes readLock's shared lock,
// which writes nothing.
type readOnlyFS struct{ vfs.FS }

func (fs readOnlyFS) Lock(name string) (io.Closer, error) {
	if fs.FS != vfs.Default {
		return fs.FS.Lock(name)
	}
	return readLock(name)
}

// Unwrap returns the file system underneath.
func (fs readOnlyFS) Unwrap() vfs.FS { return fs.FS }
