package bench

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// flushFS writes every dirty page of the file system holding dir to disk
// (syncfs) and waits for it.
func flushFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("bench: syncfs %s: %w", dir, err)
	}
	return nil
}
