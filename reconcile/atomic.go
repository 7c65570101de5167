package reconcile

import (
	"fmt"
	"os"

	"github.com/citypass/citypass/internal/atomicfile"
)

// writeFileAtomic writes a file for partners or for the operator atomically
// (internal/atomicfile): a reader sees the old file or the whole new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	return nil
}
