// Package atomicfile writes files so that a reader, or the file system after
// a crash, sees either the old file (or none) or the whole new one, never a
// part: the bytes go to a temporary file in the target's directory, which is
// given its mode, synced and closed, then renamed over the target (or linked
// to it, when an existing file must never be replaced), and the directory is
// synced so that the rename itself is durable. Statements, manifests, payout
// files and key files are all written this way; this is the one place that
// knows how.
//
// A failed write leaves no temporary file behind. Temporary files are named
// "." + the target's name + ".tmp-" + a random suffix. Functions are safe for
// concurrent use on different targets.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CreateTemp creates the temporary file that will become path, in path's
// directory. The caller writes to it, then calls Finish and Rename (or
// Link), or on failure closes and removes it.
func CreateTemp(path string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return f, nil
}

// Finish gives the written temporary file f its mode, syncs and closes it.
// f is closed even when Finish fails.
func Finish(f *os.File, perm os.FileMode) error {
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("syncing %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), err)
	}
	return nil
}

// Rename moves the finished temporary file tmp over path and syncs the
// directory.
func Rename(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// Link gives the finished temporary file tmp the name path unless path
// exists (then the error matches fs.ErrExist), and syncs the directory. The
// caller removes tmp afterwards either way.
func Link(tmp, path string) error {
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir syncs directory dir, making the renames and links in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing dir %s: %w", dir, err)
	}
	return nil
}

// WriteFile writes data to path with mode perm, replacing any file there.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, Rename)
}

// WriteNewFile writes data to path with mode perm unless a file is already
// there: then it writes nothing and the error matches fs.ErrExist.
func WriteNewFile(path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("creating %s: %w", path, fs.ErrExist)
	}
	return write(path, data, perm, Link)
}

func write(path string, data []byte, perm os.FileMode, place func(tmp, path string) error) error {
	f, err := CreateTemp(path)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after Rename; Link leaves the temp name to remove
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := Finish(f, perm); err != nil {
		return err
	}
	return place(f.Name(), path)
}
