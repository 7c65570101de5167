package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/fleet"
)

// Origins at the hub are kept by run (docs/formats.md, "Ledger"): the
// records of one upload that the hub journals one after another come from
// consecutive node seqs and get consecutive journal seqs, so one origin
// record and one index record describe the whole run, instead of two keys
// per record:
//
//	0x23 <first journal seq:8>                  originRun: node, epoch, first node seq, upload time, clock offset, and each record's node clock
//	0x24 <node> 0x00 <epoch:8> <first node seq:8>  indexRun: first journal seq, count
//
// Journal seq j of a run starting at journal seq J came from node seq
// firstNodeSeq + (j - J). Runs never overlap: a journal seq is assigned
// once, and a node seq is held once (journaled or aliased; later arrivals
// are repeats). An alias (a node record the hub already held under another
// origin) is an index run of one. A lookup finds the run with the greatest
// first seq not above the one looked for and checks that it covers it.

// originRun is the origin of journal records firstJournal ..
// firstJournal+len(recordedAt)-1.
type originRun struct {
	firstJournal uint64
	node         string
	epoch        uint64
	firstNodeSeq uint64
	uploadedAt   time.Time
	clockOffset  time.Duration
	clockKnown   bool
	recordedAt   []time.Time // the node's RecordedAt of each record, in order
}

func (r *originRun) count() uint64 { return uint64(len(r.recordedAt)) }

// origin returns the origin of journal seq j, if the run covers it.
func (r *originRun) origin(j uint64) (fleet.Origin, bool) {
	if j < r.firstJournal || j-r.firstJournal >= r.count() {
		return fleet.Origin{}, false
	}
	i := j - r.firstJournal
	return fleet.Origin{Node: r.node, Epoch: r.epoch, NodeSeq: r.firstNodeSeq + i, NodeRecordedAt: r.recordedAt[i],
		UploadedAt: r.uploadedAt, ClockOffset: r.clockOffset, ClockKnown: r.clockKnown}, true
}

// extends reports whether origin o of journal seq j continues the run.
func (r *originRun) extends(j uint64, o *fleet.Origin) bool {
	n := r.count()
	return j == r.firstJournal+n && o.Node == r.node && o.Epoch == r.epoch && o.NodeSeq == r.firstNodeSeq+n &&
		o.UploadedAt.Equal(r.uploadedAt) && o.ClockOffset == r.clockOffset && o.ClockKnown == r.clockKnown
}

func (r *originRun) index() indexRun {
	return indexRun{node: r.node, epoch: r.epoch, firstNodeSeq: r.firstNodeSeq, firstJournal: r.firstJournal, count: r.count()}
}

// indexRun says that node seqs firstNodeSeq .. firstNodeSeq+count-1 of a
// node epoch are held as journal seqs firstJournal .. firstJournal+count-1.
type indexRun struct {
	node                string
	epoch, firstNodeSeq uint64
	firstJournal, count uint64
}

// journalSeq returns the journal seq holding node seq s, if the run covers
// it.
func (r *indexRun) journalSeq(node string, epoch, s uint64) (uint64, bool) {
	if node != r.node || epoch != r.epoch || s < r.firstNodeSeq || s-r.firstNodeSeq >= r.count {
		return 0, false
	}
	return r.firstJournal + s - r.firstNodeSeq, true
}

func encodeOriginRun(r *originRun) []byte {
	e := newEnc(kindOriginRun, 48+len(r.node)+12*len(r.recordedAt))
	e.str(r.node)
	e.u64(r.epoch)
	e.u64(r.firstNodeSeq)
	e.tm(r.uploadedAt)
	e.i64(int64(r.clockOffset))
	e.boolean(r.clockKnown)
	e.u64(uint64(len(r.recordedAt)))
	for _, t := range r.recordedAt {
		e.tm(t)
	}
	return e.finish()
}

func decodeOriginRun(key, v []byte) (*originRun, error) {
	if len(key) != 9 || key[0] != pOrigin {
		return nil, &CorruptionError{Key: bytes.Clone(key), Reason: "malformed origin key"}
	}
	d, err := openValue(key, v, kindOriginRun)
	if err != nil {
		return nil, err
	}
	r := &originRun{firstJournal: binary.BigEndian.Uint64(key[1:])}
	r.node = d.str()
	r.epoch = d.u64()
	r.firstNodeSeq = d.u64()
	r.uploadedAt = d.tm()
	r.clockOffset = time.Duration(d.i64())
	r.clockKnown = d.boolean()
	n := d.count()
	r.recordedAt = make([]time.Time, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r.recordedAt = append(r.recordedAt, d.tm())
	}
	if err := d.done(key); err != nil {
		return nil, err
	}
	if n == 0 || r.firstJournal == 0 || r.firstNodeSeq == 0 {
		return nil, &CorruptionError{Key: bytes.Clone(key), Reason: "empty origin run or one starting at seq 0"}
	}
	return r, nil
}

func indexRunKey(r *indexRun) []byte { return nodeSeqKey(pOriginIdx, r.node, r.epoch, r.firstNodeSeq) }

func encodeIndexRun(r *indexRun) []byte {
	e := newEnc(kindIndexRun, 16)
	e.u64(r.firstJournal)
	e.u64(r.count)
	return e.finish()
}

func decodeIndexRun(key, v []byte) (*indexRun, error) {
	node, epoch, seq, ok := parseNodeKey(key)
	if !ok || len(key) != 1+len(node)+1+16 || key[0] != pOriginIdx {
		return nil, &CorruptionError{Key: bytes.Clone(key), Reason: "malformed origin index key"}
	}
	d, err := openValue(key, v, kindIndexRun)
	if err != nil {
		return nil, err
	}
	r := &indexRun{node: node, epoch: epoch, firstNodeSeq: seq}
	r.firstJournal = d.u64()
	r.count = d.u64()
	if err := d.done(key); err != nil {
		return nil, err
	}
	if r.count == 0 || r.firstJournal == 0 || seq == 0 {
		return nil, &CorruptionError{Key: bytes.Clone(key), Reason: "empty origin index run or one starting at seq 0"}
	}
	return r, nil
}

// iterSource is a *pebble.DB or a *pebble.Snapshot.
type iterSource interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// lastIn returns a copy of the last key in [lo, hi) and its value.
func lastIn(src iterSource, lo, hi []byte) (k, v []byte, ok bool, err error) {
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, nil, false, fmt.Errorf("ledger: opening iterator: %w", storageErr(err))
	}
	if it.Last() {
		var val []byte
		if val, err = it.ValueAndErr(); err == nil {
			k, v, ok = bytes.Clone(it.Key()), bytes.Clone(val), true
		}
	}
	if cerr := it.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("ledger: reading %s: %w", describeKey(lo), storageErr(err))
	}
	return k, v, ok, nil
}

// originRunAt returns the stored origin run with the greatest first seq
// not above journal seq j, if any (it may end before j).
func originRunAt(src iterSource, j uint64) (*originRun, error) {
	if j == ^uint64(0) {
		return nil, fmt.Errorf("%w: journal seq %d", ErrInvalid, j)
	}
	k, v, ok, err := lastIn(src, []byte{pOrigin}, originKey(j+1))
	if err != nil || !ok {
		return nil, err
	}
	return decodeOriginRun(k, v)
}

// indexRunAt returns the stored index run of node epoch (node, epoch) with
// the greatest first node seq not above s, if any (it may end before s).
func indexRunAt(src iterSource, node string, epoch, s uint64) (*indexRun, error) {
	if s == ^uint64(0) {
		return nil, fmt.Errorf("%w: node seq %d", ErrInvalid, s)
	}
	k, v, ok, err := lastIn(src, nodeEpochKey(pOriginIdx, node, epoch), nodeSeqKey(pOriginIdx, node, epoch, s+1))
	if err != nil || !ok {
		return nil, err
	}
	return decodeIndexRun(k, v)
}

// originOf returns the origin of journal seq j in src.
func originOf(src iterSource, j uint64) (fleet.Origin, bool, error) {
	r, err := originRunAt(src, j)
	if err != nil || r == nil {
		return fleet.Origin{}, false, err
	}
	o, ok := r.origin(j)
	return o, ok, nil
}

// The writer's view of runs: the transaction's own (t.runs, still open,
// and t.idxRuns, aliases), the group's earlier transactions' (l.groupRuns,
// l.groupIdx), then the database.

// originAt is TapOrigin through the transaction.
func (t *txn) originAt(j uint64) (fleet.Origin, bool, error) {
	for _, r := range t.runs {
		if o, ok := r.origin(j); ok {
			return o, true, nil
		}
	}
	for _, r := range t.l.groupRuns {
		if o, ok := r.origin(j); ok {
			return o, true, nil
		}
	}
	return originOf(t.l.db, j)
}

// heldSeq returns the journal seq holding node record (node, epoch, s)
// through the transaction.
func (t *txn) heldSeq(node string, epoch, s uint64) (uint64, bool, error) {
	for _, r := range t.runs {
		ir := r.index()
		if j, ok := ir.journalSeq(node, epoch, s); ok {
			return j, true, nil
		}
	}
	for _, rs := range [][]indexRun{t.idxRuns, t.l.groupIdx} {
		for i := range rs {
			if j, ok := rs[i].journalSeq(node, epoch, s); ok {
				return j, true, nil
			}
		}
	}
	r, err := indexRunAt(t.l.db, node, epoch, s)
	if err != nil || r == nil {
		return 0, false, err
	}
	j, ok := r.journalSeq(node, epoch, s)
	return j, ok, nil
}

// addOrigin records that journal seq j came from origin o: it extends the
// transaction's last run or starts one.
func (t *txn) addOrigin(j uint64, o *fleet.Origin) {
	if n := len(t.runs); n > 0 && t.runs[n-1].extends(j, o) {
		r := t.runs[n-1]
		r.recordedAt = append(r.recordedAt, o.NodeRecordedAt)
		return
	}
	t.runs = append(t.runs, &originRun{firstJournal: j, node: o.Node, epoch: o.Epoch, firstNodeSeq: o.NodeSeq,
		uploadedAt: o.UploadedAt, clockOffset: o.ClockOffset, clockKnown: o.ClockKnown,
		recordedAt: []time.Time{o.NodeRecordedAt}})
}

// finishRuns writes the transaction's origin runs and their index runs.
// The writer calls it after fn succeeded, before the change log.
func (t *txn) finishRuns() {
	for _, r := range t.runs {
		t.put(originKey(r.firstJournal), encodeOriginRun(r))
		ir := r.index()
		t.put(indexRunKey(&ir), encodeIndexRun(&ir))
	}
	for i := range t.idxRuns {
		t.put(indexRunKey(&t.idxRuns[i]), encodeIndexRun(&t.idxRuns[i]))
	}
}

// keepRuns adds a committed-to-be transaction's runs to the group's, for
// the group's later transactions.
func (l *Ledger) keepRuns(t *txn) {
	l.groupRuns = append(l.groupRuns, t.runs...)
	for _, r := range t.runs {
		l.groupIdx = append(l.groupIdx, r.index())
	}
	l.groupIdx = append(l.groupIdx, t.idxRuns...)
}
