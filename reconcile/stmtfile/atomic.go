package stmtfile

import (
	"fmt"
	"os"

	"github.com/citypass/citypass/internal/atomicfile"
)

// WriteFile writes data to path on fsys atomically (internal/atomicfile):
// readers see either the old file or the whole new one, and a failure
// leaves path as it was and no temp file behind.
func WriteFile(fsys FS, path string, data []byte, perm os.FileMode) error {
	if fsys == OS || fsys == nil {
		return atomicfile.WriteFile(path, data, perm)
	}
	f, err := fsys.CreateTemp(path)
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := fsys.Finish(f, perm); err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	return nil
}
