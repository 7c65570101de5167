package ledger

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
)

// JournalBatches reads the journal like Journal (seq >= fromSeq, journal
// order, one snapshot) for scans of the whole journal, such as a month's
// close, that must keep up with a raw scan of the keys. It is a pipeline:
// one scanner goroutine walks the journal with a single iterator and copies
// the stored keys and values into raw batches; decoder goroutines
// (Options.JournalDecoders of them, taking the raw batches in turn) check and decode
// them into records; and fn is called on the calling goroutine with the
// decoded batches, in journal order. One iterator, not one per decoder:
// concurrent iterators over the same blocks cost Pebble more CPU than one. A
// batch and its records, strings included, are valid only until fn returns:
// the strings are views of the raw batch's bytes, not copies (which would
// cost the decoders time and the scan its allocations), and both are
// recycled once fn returns. A caller that keeps a string past fn must copy it
// (strings.Clone). It stops at fn's first error, or the first read, decode or
// iterator error, and returns it.
func (l *Ledger) JournalBatches(ctx context.Context, fromSeq uint64, fn func([]engine.TapRecord) error) error {
	ref, err := l.acquire()
	if err != nil {
		return err
	}
	defer ref.release()
	it, err := ref.s.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: journalKey(max(fromSeq, 1)), UpperBound: []byte{pJournal + 1}})
	if err != nil {
		return fmt.Errorf("ledger: opening iterator: %w", storageErr(err))
	}
	decoders, inFlight := l.opts.JournalDecoders, l.opts.JournalBatchesInFlight
	// A lane owns enough raw batches for both stages to be full, plus the
	// one held from the scanner until fn is done with its records, which
	// view its bytes.
	rawPerLane := 2*inFlight + 2
	p := &batchPipe{stop: make(chan struct{}), lanes: make([]batchLane, decoders), batchLen: l.opts.JournalBatchLen}
	for w := range p.lanes {
		ln := &p.lanes[w]
		ln.in = make(chan *rawBatch, inFlight)
		ln.rawFree = make(chan *rawBatch, rawPerLane)
		ln.out = make(chan batchMsg, inFlight)
		ln.free = make(chan []engine.TapRecord, inFlight)
		for range rawPerLane {
			ln.rawFree <- &rawBatch{}
		}
		for range inFlight {
			ln.free <- make([]engine.TapRecord, 0, p.batchLen)
		}
	}
	done := make(chan struct{}, decoders+1)
	go func() {
		defer func() { done <- struct{}{} }()
		p.scan(ctx, it)
	}()
	for w := range p.lanes {
		go func() {
			defer func() { done <- struct{}{} }()
			p.lanes[w].decode(p.stop)
		}()
	}
	defer func() {
		close(p.stop)
		for range decoders + 1 {
			<-done
		}
	}()
	for k := 0; ; k++ {
		ln := &p.lanes[k%decoders]
		m := <-ln.out
		switch {
		case m.err != nil:
			return m.err
		case m.end:
			return nil
		}
		err := fn(m.batch)
		// Both go back to where they came from, which has room.
		ln.free <- m.batch[:0]
		ln.rawFree <- m.raw
		if err != nil {
			return err
		}
	}
}

// batchPipe is one JournalBatches run: batch k goes through lane k mod
// len(lanes), so fn reads the lanes in turn to keep journal order.
type batchPipe struct {
	stop     chan struct{} // closed when fn's side returns
	lanes    []batchLane
	batchLen int // records per batch (Options.JournalBatchLen)
}

// batchLane is one decoder and its queues: raw batches in (and their free
// pool, which fn's side refills), decoded batches out (and theirs).
type batchLane struct {
	in      chan *rawBatch
	rawFree chan *rawBatch
	out     chan batchMsg
	free    chan []engine.TapRecord
}

// rawBatch is a run of journal entries as stored: their keys and values
// back to back in buf, entry i at buf[ends[i-1]:ends[i]] (ends[-1] = 0),
// its key the first len(journalKey) bytes. A raw batch with end or err set
// carries no entries: it tells the decoder the scan ended, or failed.
type rawBatch struct {
	buf  []byte
	ends []int
	end  bool
	err  error
}

// batchMsg is a decoder's message: a batch and the raw batch its strings
// view, the end of the journal, or the error that ended the scan.
type batchMsg struct {
	batch []engine.TapRecord
	raw   *rawBatch
	end   bool
	err   error
}

// journalKeyLen is the length of every journal key.
var journalKeyLen = len(journalKey(0))

// scan is the scanner goroutine: it fills raw batches from it, in journal
// order, handing batch k to lane k mod len(lanes), then sends the end (or
// the first error, including the iterator's on closing) down the next lane.
func (p *batchPipe) scan(ctx context.Context, it *pebble.Iterator) {
	k := 0
	next := func() (*rawBatch, bool) {
		select {
		case rb := <-p.lanes[k%len(p.lanes)].rawFree:
			rb.buf, rb.ends, rb.end, rb.err = rb.buf[:0], rb.ends[:0], false, nil
			return rb, true
		case <-p.stop:
			return nil, false
		}
	}
	send := func(rb *rawBatch) bool {
		select {
		case p.lanes[k%len(p.lanes)].in <- rb:
			k++
			return true
		case <-p.stop:
			return false
		}
	}
	finish := func(rb *rawBatch, err error) {
		if cerr := it.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("ledger: iterating the journal: %w", cerr)
		}
		if len(rb.ends) > 0 {
			if !send(rb) {
				return
			}
			var ok bool
			if rb, ok = next(); !ok {
				return
			}
		}
		rb.end, rb.err = err == nil, err
		send(rb)
	}
	rb, ok := next()
	if !ok {
		_ = it.Close()
		return
	}
	for valid := it.First(); valid; valid = it.Next() {
		key := it.Key()
		if len(key) != journalKeyLen {
			finish(rb, &CorruptionError{Key: key, Reason: "malformed journal key"})
			return
		}
		v, err := it.ValueAndErr()
		if err != nil {
			finish(rb, fmt.Errorf("ledger: reading %s: %w", describeKey(key), storageErr(err)))
			return
		}
		rb.buf = append(append(rb.buf, key...), v...)
		rb.ends = append(rb.ends, len(rb.buf))
		if len(rb.ends) == p.batchLen {
			if !send(rb) {
				_ = it.Close()
				return
			}
			if err := ctx.Err(); err != nil {
				rb, ok = next()
				if ok {
					finish(rb, err)
				} else {
					_ = it.Close()
				}
				return
			}
			if rb, ok = next(); !ok {
				_ = it.Close()
				return
			}
		}
	}
	if err := it.Error(); err != nil {
		finish(rb, fmt.Errorf("ledger: iterating the journal: %w", storageErr(err)))
		return
	}
	finish(rb, nil)
}

// decode is a decoder goroutine: it decodes the raw batches of its lane
// into record batches, and passes on the end or an error, after which it
// stops.
func (ln *batchLane) decode(stop <-chan struct{}) {
	in := newInterner()
	in.views = true
	send := func(m batchMsg) bool {
		select {
		case ln.out <- m:
			return true
		case <-stop:
			return false
		}
	}
	for {
		var rb *rawBatch
		select {
		case rb = <-ln.in:
		case <-stop:
			return
		}
		if rb.end || rb.err != nil {
			send(batchMsg{end: rb.end, err: rb.err})
			return
		}
		var batch []engine.TapRecord
		select {
		case batch = <-ln.free:
		case <-stop:
			return
		}
		batch = batch[:len(rb.ends)]
		from := 0
		for i, to := range rb.ends {
			e := rb.buf[from:to]
			from = to
			if err := decodeTapInto(e[:journalKeyLen], e[journalKeyLen:], &batch[i], in); err != nil {
				send(batchMsg{err: err})
				return
			}
		}
		if !send(batchMsg{batch: batch, raw: rb}) {
			return
		}
	}
}
