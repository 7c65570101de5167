package stmtfile

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync/atomic"
)

// hashedFile writes a statement CSV and its SHA-256 on a goroutine of its
// own: the close's journal pass hands it filled chunks and goes on
// formatting lines while the previous chunks are hashed and written, so the
// hashing and the write syscalls run beside the valuation instead of after
// it. When the file implements Writeback, the kernel is asked to start
// writing each MiB to disk as it is written, so the final fsync of a CSV of
// gigabytes waits only for its tail, and the written pages are dropped from
// the page cache some MB behind. At most hashedChunks chunks are in flight;
// memory is bounded by (hashedChunks+1) × hashedChunk.
type hashedFile struct {
	f      File
	wb     Writeback // nil when f has no page-cache hints
	h      hash.Hash
	cur    []byte
	full   chan []byte
	free   chan []byte
	done   chan struct{}
	err    atomic.Pointer[error] // the first write error
	closed bool
}

const (
	hashedChunk  = 256 << 10
	hashedChunks = 4
)

// errWriteFailed is returned, wrapping the failure, by Write once a chunk
// failed to write; close returns the failure itself.
var errWriteFailed = errors.New("stmtfile: an earlier write failed")

func newHashedFile(f File) *hashedFile {
	wb, _ := f.(Writeback)
	w := &hashedFile{f: f, wb: wb, h: sha256.New(), cur: make([]byte, 0, hashedChunk),
		full: make(chan []byte, hashedChunks), free: make(chan []byte, hashedChunks), done: make(chan struct{})}
	for range hashedChunks - 1 {
		w.free <- make([]byte, 0, hashedChunk)
	}
	go w.loop()
	return w
}

// writebackStep is the least the kernel is asked to start writing back at
// a time (StartWriteback): every request is a system call and a kick of the
// disk's queue, and four chunks at a time are as good for the fsync at the
// end. dropLag is how far behind the written end the pages of a CSV are
// dropped from the page cache (DropWritten): by then their writeback is
// long done. dropStep is the least dropped at a time.
const (
	writebackStep = 1 << 20
	dropLag       = 8 << 20
	dropStep      = 4 << 20
)

func (w *hashedFile) loop() {
	defer close(w.done)
	var off, started, dropped int64 // bytes written; whose writeback was started; whose pages were dropped
	for b := range w.full {
		if w.err.Load() == nil {
			w.h.Write(b)
			if _, err := w.f.Write(b); err != nil {
				w.err.Store(&err)
			} else {
				off += int64(len(b))
				if w.wb != nil && off-started >= writebackStep {
					w.wb.StartWriteback(started, off-started)
					started = off
				}
				if w.wb != nil && off-dropLag-dropped >= dropStep {
					if err := w.wb.DropWritten(dropped, off-dropLag-dropped); err != nil {
						w.err.Store(&err)
					}
					dropped = off - dropLag
				}
			}
		}
		w.free <- b[:0]
	}
}

// Write appends p to the current chunk, handing it over when full. It
// fails once an earlier chunk failed to write.
func (w *hashedFile) Write(p []byte) (int, error) {
	b, err := w.reserve(len(p))
	if err != nil {
		return 0, err
	}
	w.cur = append(b, p...)
	return len(p), nil
}

// reserve returns the current chunk with room for n more bytes (or a fresh
// chunk, when it lacks the room, after handing it over), for the caller to
// append a line to and give back with commit: formatting a line straight
// into the chunk saves copying it there. It fails once an earlier chunk
// failed to write.
func (w *hashedFile) reserve(n int) ([]byte, error) {
	if len(w.cur)+n > cap(w.cur) && len(w.cur) > 0 {
		if p := w.err.Load(); p != nil {
			return nil, fmt.Errorf("%w: %w", errWriteFailed, *p)
		}
		w.full <- w.cur
		w.cur = <-w.free
	}
	return w.cur, nil
}

// commit makes b, the chunk from reserve with bytes appended, the current
// chunk.
func (w *hashedFile) commit(b []byte) { w.cur = b }

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
	if p := w.err.Load(); p != nil {
		return nil, *p
	}
	return w.h.Sum(nil), nil
}
