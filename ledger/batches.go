package ledger

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
)

// JournalBatches reads the journal like Journal (seq >= fromSeq, journal
// order, one snapshot) for scans of the whole journal, such as a month's
// close, that must keep up with a raw scan of the keys: fn is called on the
// calling goroutine with consecutive batches of records, in journal order,
// while reader goroutines (journalReaders of them) iterate and decode the
// batches after it, each reading every journalReaders-th chunk of
// journalChunk seqs from its own iterator. A batch and its records are
// valid only until fn returns (they are recycled; the strings in them are
// ordinary immutable strings and may be kept). Repeating fields are
// interned, so a record costs about one allocation (its card and pass ids
// share one string). It stops at fn's first error, or the first read,
// decode or iterator error, and returns it.
func (l *Ledger) JournalBatches(ctx context.Context, fromSeq uint64, fn func([]engine.TapRecord) error) error {
	ref, err := l.acquire()
	if err != nil {
		return err
	}
	defer ref.release()
	lk, err := lastKey(ref.s, []byte{pJournal}, []byte{pJournal + 1})
	if err != nil || lk == nil {
		return err
	}
	last, ok := parseJournalKey(lk)
	if !ok {
		return &CorruptionError{Key: lk, Reason: "malformed journal key"}
	}
	fromSeq = max(fromSeq, 1)
	if last < fromSeq {
		return nil
	}
	chunks := (last-fromSeq)/journalChunk + 1
	readers := min(journalReaders(), int(chunks))

	stop := make(chan struct{})
	out := make([]chan batchMsg, readers)
	free := make([]chan []engine.TapRecord, readers)
	var wg sync.WaitGroup
	for w := range readers {
		out[w] = make(chan batchMsg, batchesPerReader)
		free[w] = make(chan []engine.TapRecord, batchesPerReader)
		for range batchesPerReader {
			free[w] <- make([]engine.TapRecord, 0, journalBatch)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := chunkReader{out: out[w], free: free[w], stop: stop, in: newInterner()}
			it, err := ref.s.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{pJournal}, UpperBound: []byte{pJournal + 1}})
			if err != nil {
				r.send(batchMsg{err: fmt.Errorf("ledger: opening iterator: %w", err)})
				return
			}
			r.it = it
			defer func() {
				if err := it.Close(); err != nil {
					r.send(batchMsg{err: fmt.Errorf("ledger: iterating the journal: %w", err)})
				}
			}()
			for k := uint64(w); k < chunks; k += uint64(readers) {
				lo := fromSeq + k*journalChunk
				if !r.readChunk(ctx, lo, min(lo+journalChunk, last+1)) {
					return
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for k := uint64(0); k < chunks; k++ {
		w := int(k % uint64(readers))
		for {
			m := <-out[w]
			if m.err != nil {
				return m.err
			}
			if m.end {
				break
			}
			err := fn(m.batch)
			free[w] <- m.batch[:0]
			if err != nil {
				return err
			}
		}
	}
	// Every chunk is consumed; the readers close their iterators, and an
	// error from that is their last message.
	wg.Wait()
	for _, ch := range out {
		select {
		case m := <-ch:
			if m.err != nil {
				return m.err
			}
		default:
		}
	}
	return nil
}

// Reading geometry of JournalBatches: journalChunk seqs per chunk (one seek
// each), journalBatch records per batch, batchesPerReader batches per
// reader: what a reader may run ahead, two chunks' worth, so that each
// reader can decode its next chunk whole while fn works through another
// reader's. Variables for tests.
var (
	journalChunk     uint64 = 1024
	journalBatch            = 256
	batchesPerReader        = 8
)

// journalReaders is how many goroutines read and decode the journal: one
// per CPU (the caller's fn takes the rest), at least 2, at most 4.
func journalReaders() int { return min(max(runtime.GOMAXPROCS(0), 2), 4) }

// batchMsg is a reader's message: a batch, the end of a chunk, or the error
// that ended its reading.
type batchMsg struct {
	batch []engine.TapRecord
	end   bool
	err   error
}

// chunkReader is one reader goroutine of JournalBatches.
type chunkReader struct {
	it   *pebble.Iterator
	out  chan<- batchMsg
	free chan []engine.TapRecord
	stop <-chan struct{}
	in   *interner
}

// send delivers m unless the scan stopped; false when it did.
func (r *chunkReader) send(m batchMsg) bool {
	select {
	case r.out <- m:
		return true
	case <-r.stop:
		return false
	}
}

// readChunk sends the records with seq in [lo, hi) in batches, then the
// chunk's end; on an error it sends the error and returns false.
func (r *chunkReader) readChunk(ctx context.Context, lo, hi uint64) bool {
	fail := func(err error) bool {
		r.send(batchMsg{err: err})
		return false
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	var batch []engine.TapRecord
	take := func() bool {
		select {
		case batch = <-r.free:
			return true
		case <-r.stop:
			return false
		}
	}
	if !take() {
		return false
	}
	hiKey := journalKey(hi)
	for valid := r.it.SeekGE(journalKey(lo)); valid; valid = r.it.Next() {
		k := r.it.Key()
		if string(k) >= string(hiKey) {
			break
		}
		v, err := r.it.ValueAndErr()
		if err != nil {
			return fail(fmt.Errorf("ledger: reading %s: %w", describeKey(k), err))
		}
		n := len(batch)
		batch = batch[:n+1]
		if err := decodeTapInto(k, v, &batch[n], r.in); err != nil {
			return fail(err)
		}
		if len(batch) == cap(batch) {
			if !r.send(batchMsg{batch: batch}) || !take() {
				return false
			}
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
		}
	}
	if err := r.it.Error(); err != nil {
		return fail(fmt.Errorf("ledger: iterating the journal: %w", err))
	}
	if len(batch) == 0 {
		r.free <- batch // back where it came from: there is room
	} else if !r.send(batchMsg{batch: batch}) {
		return false
	}
	return r.send(batchMsg{end: true})
}
