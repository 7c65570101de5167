//go:build !linux

package stmtfile

import "os"

// startWriteback is a no-op where sync_file_range does not exist: the
// fsync that ends a statement CSV writes it all.
func startWriteback(*os.File, int64, int64) {}

// dropWritten is a no-op there too: the pages stay cached until the kernel
// needs them.
func dropWritten(*os.File, int64, int64) error { return nil }
