package reconcile

import (
	"crypto/sha256"
	"errors"
	"hash"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// hashedFile writes a statement CSV and its SHA-256 on a goroutine of its
// own: the close's journal pass formats lines into a chunk, hands it over
// when full and goes on formatting while the previous chunks are hashed and
// written, so the hashing (about a tenth of a close's work) and the writes
// run beside the valuation instead of after it. At most hashedChunks chunks
// are in flight; memory is bounded by (hashedChunks+1) × (hashedChunk +
// hashedSlack).
//
// Every chunk but the last is exactly hashedChunk bytes (a line that runs
// past the boundary is carried over to the next chunk), so that, when the
// file system allows it, whole chunks are written with O_DIRECT from aligned
// buffers: a CSV of gigabytes that nothing reads back soon does not go
// through the page cache, whose copying and page bookkeeping cost the close
// as much CPU as the SHA-256 of the lines, nor evicts the ledger's pages.
// The last chunk is written through f. Without O_DIRECT (tmpfs, other
// systems) every chunk goes through f, and writeback of each is started at
// once, so the final fsync waits only for the tail.
type hashedFile struct {
	f      *os.File
	direct writerAtCloser // f's file opened again with O_DIRECT, or nil
	h      hash.Hash
	cur    []byte
	full   chan []byte
	free   chan []byte
	done   chan struct{}
	err    atomic.Pointer[error] // the first write error
	closed bool
	// directChunks counts the chunks written with O_DIRECT (read after
	// close).
	directChunks int
}

const (
	hashedChunk  = 256 << 10
	hashedSlack  = 64 << 10 // room past the boundary for the line that crosses it
	hashedChunks = 8
	directAlign  = 4096 // O_DIRECT buffers, offsets and lengths are multiples of this
)

// errWriteFailed is returned by Write once a chunk failed to write; close
// returns the failure itself.
var errWriteFailed = errors.New("reconcile: an earlier write failed")

// writerAtCloser is the O_DIRECT descriptor (an interface for tests).
type writerAtCloser interface {
	WriteAt(p []byte, off int64) (int, error)
	Close() error
}

// newHashedFile writes to f, and whole chunks to direct when it is not nil
// (f's file opened with O_DIRECT; closed by close).
func newHashedFile(f *os.File, direct writerAtCloser) *hashedFile {
	w := &hashedFile{f: f, direct: direct, h: sha256.New(), cur: alignedChunk(),
		full: make(chan []byte, hashedChunks), free: make(chan []byte, hashedChunks), done: make(chan struct{})}
	for range hashedChunks - 1 {
		w.free <- alignedChunk()
	}
	go w.loop()
	return w
}

// alignedChunk returns an empty buffer of capacity hashedChunk+hashedSlack
// whose first byte is directAlign-aligned.
func alignedChunk() []byte {
	b := make([]byte, hashedChunk+hashedSlack+directAlign)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	return b[off : off : off+hashedChunk+hashedSlack]
}

func (w *hashedFile) loop() {
	defer close(w.done)
	var off int64
	for b := range w.full {
		if w.err.Load() == nil {
			w.h.Write(b)
			if err := w.writeAt(b, off); err != nil {
				w.err.Store(&err)
			}
			off += int64(len(b))
		}
		w.free <- b[:0]
	}
}

// writeAt writes b at off: directly when it is a whole, aligned chunk and
// there is a direct descriptor, else through f.
func (w *hashedFile) writeAt(b []byte, off int64) error {
	if w.direct != nil && len(b) == hashedChunk && uintptr(unsafe.Pointer(&b[0]))%directAlign == 0 {
		_, err := w.direct.WriteAt(b, off)
		if err == nil {
			w.directChunks++
		}
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		// The file system took the open but not the write: go on without.
		_ = w.direct.Close()
		w.direct = nil
	}
	if _, err := w.f.WriteAt(b, off); err != nil {
		return err
	}
	startWriteback(w.f, off, int64(len(b)))
	return nil
}

// Write appends p to the current chunk, handing chunks over as they fill.
// It fails once an earlier chunk failed to write.
func (w *hashedFile) Write(p []byte) (int, error) {
	if w.err.Load() != nil {
		return 0, errWriteFailed
	}
	for rest := p; len(rest) > 0; {
		k := min(len(rest), hashedChunk-len(w.cur))
		w.cur = append(w.cur, rest[:k]...)
		rest = rest[k:]
		w.handOver()
	}
	return len(p), nil
}

// reserve returns the current chunk with room for n more bytes, for the
// caller to append a line to and give back with commit: formatting a line
// straight into the chunk saves copying it there. It fails once an earlier
// chunk failed to write.
func (w *hashedFile) reserve(n int) ([]byte, error) {
	if w.err.Load() != nil {
		return nil, errWriteFailed
	}
	if n > cap(w.cur)-len(w.cur) {
		// A line longer than the slack: the chunk grows, and is written
		// through f as it is no longer aligned.
		w.cur = slices.Grow(w.cur, n)
	}
	return w.cur, nil
}

// commit takes back the chunk from reserve with a line appended, handing it
// over once it holds hashedChunk bytes.
func (w *hashedFile) commit(b []byte) {
	w.cur = b
	w.handOver()
}

// handOver passes whole chunks of hashedChunk bytes from the current chunk
// to the writer, carrying what follows over to the next chunk.
func (w *hashedFile) handOver() {
	for len(w.cur) >= hashedChunk {
		next := append(<-w.free, w.cur[hashedChunk:]...)
		w.full <- w.cur[:hashedChunk]
		w.cur = next
	}
}

// close hands over what is left, waits until every chunk is hashed and
// written, and returns the SHA-256 of all bytes written and the first write
// error. Calling it again returns the same.
func (w *hashedFile) close() ([]byte, error) {
	if !w.closed {
		w.closed = true
		if len(w.cur) > 0 {
			w.full <- w.cur
		}
		w.cur = nil
		close(w.full)
	}
	<-w.done
	if w.direct != nil {
		_ = w.direct.Close()
		w.direct = nil
	}
	if p := w.err.Load(); p != nil {
		return nil, *p
	}
	return w.h.Sum(nil), nil
}
