package reconcile

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHashedFile: what is written through many chunks, by Write and by
// reserve/commit, in pieces of every size (longer than a chunk, longer than
// the slack, empty), lands in the file in order and hashes to the SHA-256 of
// those bytes; close is idempotent. It runs through f alone, with O_DIRECT
// when the temp dir's file system has it, and with a direct descriptor that
// refuses its writes with EINVAL (the fallback to f).
func TestHashedFile(t *testing.T) {
	for _, mode := range []string{"through f", "direct", "direct refused"} {
		t.Run(mode, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "x"))
			require.NoError(t, err)
			var direct writerAtCloser
			switch mode {
			case "direct":
				if d := openDirect(f); d != nil {
					direct = d
				} else {
					t.Log("no O_DIRECT here: the chunks go through f")
				}
			case "direct refused":
				direct = &refusingFile{}
			}
			w := newHashedFile(f, direct)
			rng := rand.New(rand.NewPCG(3, 4))
			var want bytes.Buffer
			for want.Len() < 5*hashedChunks*hashedChunk {
				var n int
				switch rng.IntN(4) {
				case 0:
					n = rng.IntN(3 * hashedChunk / 2)
				case 1:
					n = hashedSlack + rng.IntN(100)
				default:
					n = rng.IntN(300)
				}
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
				want.Write(p)
				if rng.IntN(2) == 0 {
					got, err := w.Write(p)
					require.NoError(t, err)
					require.Equal(t, len(p), got)
				} else {
					b, err := w.reserve(len(p))
					require.NoError(t, err)
					w.commit(append(b, p...))
				}
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
			if mode == "direct" && direct != nil {
				assert.Greater(t, w.directChunks, 4*hashedChunks, "whole chunks go around the page cache")
			}
			if r, ok := direct.(*refusingFile); ok {
				assert.Zero(t, w.directChunks)
				assert.Equal(t, 1, r.writes, "one refused write, then f")
				assert.True(t, r.closed)
			}
		})
	}
}

// refusingFile refuses every write as a file system without O_DIRECT
// writes does.
type refusingFile struct {
	writes int
	closed bool
}

func (r *refusingFile) WriteAt([]byte, int64) (int, error) { r.writes++; return 0, syscall.EINVAL }
func (r *refusingFile) Close() error                       { r.closed = true; return nil }

// TestHashedFileWriteError: a chunk that fails to write, through f or
// through the direct descriptor (with an error other than EINVAL), fails
// the later Writes and close, with the write's own error.
func TestHashedFileWriteError(t *testing.T) {
	for _, mode := range []string{"through f", "direct"} {
		t.Run(mode, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "x"))
			require.NoError(t, err)
			var direct writerAtCloser
			if mode == "direct" {
				d, err := os.Open(f.Name()) // read-only: writes fail with EBADF
				require.NoError(t, err)
				direct = d
			} else {
				require.NoError(t, f.Close()) // every write now fails
			}
			w := newHashedFile(f, direct)
			p := make([]byte, hashedChunk)
			var werr error
			for i := 0; i < 4*hashedChunks && werr == nil; i++ {
				_, werr = w.Write(p)
			}
			assert.ErrorIs(t, werr, errWriteFailed)
			_, err = w.close()
			if mode == "direct" {
				assert.ErrorIs(t, err, syscall.EBADF)
			} else {
				assert.ErrorIs(t, err, os.ErrClosed)
			}
		})
	}
}
