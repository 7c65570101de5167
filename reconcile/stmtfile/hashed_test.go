package stmtfile

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHashedFile: what is written through many chunks lands in the file in
// order and hashes to the SHA-256 of those bytes, also the part whose pages
// were dropped from the page cache (beyond dropLag); close is idempotent.
func TestHashedFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	require.NoError(t, err)
	w := newHashedFile(osFile{f})
	rng := rand.New(rand.NewPCG(3, 4))
	var want bytes.Buffer
	for want.Len() < dropLag+4*dropStep+5*hashedChunks*hashedChunk {
		p := make([]byte, rng.IntN(3*hashedChunk/2))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		want.Write(p)
		n, err := w.Write(p)
		require.NoError(t, err)
		require.Equal(t, len(p), n)
	}
	sum, err := w.close()
	require.NoError(t, err)
	wantSum := sha256.Sum256(want.Bytes())
	assert.Equal(t, wantSum[:], sum)
	again, err := w.close()
	require.NoError(t, err)
	assert.Equal(t, sum, again)
	require.NoError(t, f.Close())
	got, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want.Bytes(), got), "file bytes")
}

// TestHashedFileWriteError: a chunk that fails to write fails the later
// Writes and close, with the write's own error.
func TestHashedFileWriteError(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	require.NoError(t, err)
	require.NoError(t, f.Close()) // every write now fails
	w := newHashedFile(osFile{f})
	p := make([]byte, hashedChunk)
	var werr error
	for i := 0; i < 4*hashedChunks && werr == nil; i++ {
		_, werr = w.Write(p)
	}
	assert.ErrorIs(t, werr, errWriteFailed)
	_, err = w.close()
	assert.ErrorIs(t, err, os.ErrClosed)
}
