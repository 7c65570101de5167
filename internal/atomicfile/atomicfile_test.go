// These tests prove that a write leaves the whole new file with its mode or,
// when it fails or is refused, the old file and no temporary file.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "statement.csv")
	require.NoError(t, WriteFile(path, []byte("one"), 0o644))
	require.NoError(t, WriteFile(path, []byte("two"), 0o600))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(got), "replaced")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, []string{"statement.csv"}, names(t, dir), "no temporary file left")
}

func TestWriteNewFileNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cards.key")
	require.NoError(t, WriteNewFile(path, []byte("first"), 0o600))
	err := WriteNewFile(path, []byte("second"), 0o600)
	require.ErrorIs(t, err, fs.ErrExist)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "first", string(got))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, []string{"cards.key"}, names(t, dir))
}

// TestLinkLosesARace: a file that appears between the check and the link
// is not replaced either.
func TestLinkLosesARace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	f, err := CreateTemp(path)
	require.NoError(t, err)
	_, err = f.WriteString("mine")
	require.NoError(t, err)
	require.NoError(t, Finish(f, 0o600))
	require.NoError(t, os.WriteFile(path, []byte("theirs"), 0o600))
	require.ErrorIs(t, Link(f.Name(), path), fs.ErrExist)
	require.NoError(t, os.Remove(f.Name()))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "theirs", string(got))
}

func TestFailedWriteLeavesNothing(t *testing.T) {
	require.Error(t, WriteFile(filepath.Join(t.TempDir(), "missing", "f"), []byte("x"), 0o644))

	if os.Geteuid() == 0 {
		t.Log("running as root: a read-only directory does not stop writes; only the missing directory was checked")
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, WriteFile(path, []byte("old"), 0o644))
	require.NoError(t, os.Chmod(dir, 0o500))
	defer os.Chmod(dir, 0o700)
	require.Error(t, WriteFile(path, []byte("new"), 0o644))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(got))
	assert.Equal(t, []string{"f"}, names(t, dir))
}

// TestRenameOntoADirectoryFails: when the last step fails, the temporary
// file is removed and the target is untouched.
func TestRenameOntoADirectoryFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "taken")
	require.NoError(t, os.Mkdir(path, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(path, "inside"), nil, 0o600))
	require.Error(t, WriteFile(path, []byte("x"), 0o644))
	assert.Equal(t, []string{"taken"}, names(t, dir))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
}
