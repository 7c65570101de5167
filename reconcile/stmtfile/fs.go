package stmtfile

import (
	"fmt"
	"io"
	"os"

	"github.com/citypass/citypass/internal/atomicfile"
)

// FS is what the statement writers need of a file system, step by step of
// an atomic write (internal/atomicfile knows how each step is made
// durable): a temp file that will become a path, finishing it, renaming it
// into place. OS is the real one; tests inject faults through their own.
type FS interface {
	// CreateTemp creates the temp file that will become path, in path's
	// directory.
	CreateTemp(path string) (File, error)
	// Finish gives the written temp file its mode, syncs and closes it (f is
	// closed even when Finish fails).
	Finish(f File, perm os.FileMode) error
	// Rename moves the finished temp file over path and syncs the
	// directory.
	Rename(tmp, path string) error
	// Remove removes a temp file.
	Remove(name string) error
}

// File is an open temp file of an FS.
type File interface {
	io.Writer
	io.Reader
	io.Seeker
	io.Closer
	Name() string
}

// Writeback is implemented by files whose written pages can be handed to
// the disk early and dropped from the page cache (OS files on Linux): a CSV
// of gigabytes then holds a few MB of page cache and its final fsync waits
// only for its tail.
type Writeback interface {
	// StartWriteback asks for [off, off+n) to be written to disk now.
	// Advisory: the final sync still decides.
	StartWriteback(off, n int64)
	// DropWritten waits until [off, off+n), whose writeback started
	// earlier, is on disk, then drops its pages from the page cache. Its
	// error is a write error (the sync after it would not report it).
	DropWritten(off, n int64) error
}

// OS is the operating system's file system, through internal/atomicfile.
// Its files implement Writeback on Linux.
var OS FS = osFS{}

type osFS struct{}

func (osFS) CreateTemp(path string) (File, error) {
	f, err := atomicfile.CreateTemp(path)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Finish(f File, perm os.FileMode) error {
	of, ok := f.(osFile)
	if !ok {
		_ = f.Close()
		return fmt.Errorf("stmtfile: finishing %s: not a file of stmtfile.OS", f.Name())
	}
	return atomicfile.Finish(of.File, perm)
}

func (osFS) Rename(tmp, path string) error { return atomicfile.Rename(tmp, path) }
func (osFS) Remove(name string) error      { return os.Remove(name) }

// osFile is an *os.File with the page-cache hints of fs_linux.go.
type osFile struct{ *os.File }

func (f osFile) StartWriteback(off, n int64)    { startWriteback(f.File, off, n) }
func (f osFile) DropWritten(off, n int64) error { return dropWritten(f.File, off, n) }
