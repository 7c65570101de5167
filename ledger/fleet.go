package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
)

// The fleet's records (docs/fleet.md). At the hub: where each record came
// from, what is known of each node epoch, and quarantined records.
//
//	0x23 <first journal seq:8>                    origin run: fleet.Origin of consecutive journal records from a node (origins.go)
//	0x24 <node> 0x00 <epoch:8> <first node seq:8> index run: journal seqs holding consecutive node records (their own, or the same tap from elsewhere)
//	0x60 <node> 0x00 <epoch:8>                    fleet.NodeEpoch
//	0x61 <node> 0x00 <epoch:8> <node seq:8> <crc:4>  fleet.Quarantined (crc: CRC-32C of the record, so several contents of one seq are all kept)
const (
	pOrigin     byte = 0x23
	pOriginIdx  byte = 0x24
	pNodeEpoch  byte = 0x60
	pQuarantine byte = 0x61
)

// Value kinds of the fleet's records. Persisted; never renumber.
const (
	kindOrigin      byte = 15 // retired: one record's origin (schema 2; read by the upgrade)
	kindOriginIdx   byte = 16 // retired: one node record's journal seq (schema 2; read by the upgrade)
	kindNodeEpoch   byte = 17
	kindQuarantined byte = 18
	kindOriginRun   byte = 21 // origins.go
	kindIndexRun    byte = 22 // origins.go
)

func nodeEpochKey(p byte, node string, epoch uint64) []byte {
	k := make([]byte, 0, 1+len(node)+1+8+8)
	k = append(k, p)
	k = append(k, node...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, epoch)
}

func nodeSeqKey(p byte, node string, epoch, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nodeEpochKey(p, node, epoch), seq)
}

func originKey(journalSeq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pOrigin}, journalSeq)
}

// parseNodeKey splits <p> <node> 0x00 <epoch:8> [<seq:8>].
func parseNodeKey(k []byte) (node string, epoch, seq uint64, ok bool) {
	if len(k) < 1+1+8 {
		return "", 0, 0, false
	}
	i := bytes.IndexByte(k[1:], 0)
	if i < 1 {
		return "", 0, 0, false
	}
	node, rest := string(k[1:1+i]), k[2+i:]
	switch len(rest) {
	case 8:
		return node, binary.BigEndian.Uint64(rest), 0, true
	case 16, 20: // a node seq, and for quarantined records a content checksum
		return node, binary.BigEndian.Uint64(rest), binary.BigEndian.Uint64(rest[8:16]), true
	}
	return "", 0, 0, false
}

func (e *enc) origin(o *fleet.Origin) {
	e.str(o.Node)
	e.u64(o.Epoch)
	e.u64(o.NodeSeq)
	e.tm(o.NodeRecordedAt)
	e.tm(o.UploadedAt)
	e.i64(int64(o.ClockOffset))
	e.boolean(o.ClockKnown)
}

func (d *dec) origin() fleet.Origin {
	var o fleet.Origin
	o.Node = d.str()
	o.Epoch = d.u64()
	o.NodeSeq = d.u64()
	o.NodeRecordedAt = d.tm()
	o.UploadedAt = d.tm()
	o.ClockOffset = time.Duration(d.i64())
	o.ClockKnown = d.boolean()
	return o
}

// decodeOrigin reads a schema-2 origin (kindOrigin), for the upgrade.
func decodeOrigin(key, v []byte) (fleet.Origin, error) {
	d, err := openValue(key, v, kindOrigin)
	if err != nil {
		return fleet.Origin{}, err
	}
	o := d.origin()
	return o, d.done(key)
}

func encodeNodeEpoch(ne *fleet.NodeEpoch) []byte {
	e := newEnc(kindNodeEpoch, 96)
	e.str(ne.Node)
	e.u64(ne.Epoch)
	e.u64(ne.HighWater)
	e.u64(ne.Reported)
	e.u64(ne.Records)
	e.u64(ne.Duplicates)
	e.u64(ne.Quarantined)
	e.tm(ne.FirstContact)
	e.tm(ne.LastContact)
	e.i64(int64(ne.ClockOffset))
	e.boolean(ne.ClockKnown)
	// Fields added later go last; decodeNodeEpoch reads each group only
	// when bytes remain, so values written before it still decode.
	e.tm(ne.FirstTapAt)
	e.tm(ne.LastTapAt)
	e.tm(ne.StateAsOf)
	return e.finish()
}

func decodeNodeEpoch(key, v []byte) (fleet.NodeEpoch, error) {
	d, err := openValue(key, v, kindNodeEpoch)
	if err != nil {
		return fleet.NodeEpoch{}, err
	}
	var ne fleet.NodeEpoch
	ne.Node = d.str()
	ne.Epoch = d.u64()
	ne.HighWater = d.u64()
	ne.Reported = d.u64()
	ne.Records = d.u64()
	ne.Duplicates = d.u64()
	ne.Quarantined = d.u64()
	ne.FirstContact = d.tm()
	ne.LastContact = d.tm()
	ne.ClockOffset = time.Duration(d.i64())
	ne.ClockKnown = d.boolean()
	if d.more() { // fields added later: absent from older values
		ne.FirstTapAt = d.tm()
		ne.LastTapAt = d.tm()
	}
	if d.more() {
		ne.StateAsOf = d.tm()
	}
	return ne, d.done(key)
}

func encodeQuarantined(q *fleet.Quarantined) []byte {
	rec := encodeTap(&q.Record)
	e := newEnc(kindQuarantined, 64+len(rec)+len(q.Reason))
	e.origin(&q.Origin)
	e.bytes(rec)
	e.str(q.Reason)
	return e.finish()
}

func decodeQuarantined(key, v []byte) (fleet.Quarantined, error) {
	d, err := openValue(key, v, kindQuarantined)
	if err != nil {
		return fleet.Quarantined{}, err
	}
	var q fleet.Quarantined
	q.Origin = d.origin()
	rec := d.bytes()
	q.Reason = d.str()
	if err := d.done(key); err != nil {
		return q, err
	}
	r, err := decodeTap(key, rec)
	if err != nil {
		return q, err
	}
	q.Record = *r
	return q, nil
}

// FleetTxn is the transaction of UpdateFleet: an engine.Txn with the hub's
// fleet records. Like engine.Txn it lives on the writer for one call.
type FleetTxn interface {
	engine.Txn
	// NodeEpoch returns the hub's state of a node epoch, if known.
	NodeEpoch(node string, epoch uint64) (fleet.NodeEpoch, bool, error)
	PutNodeEpoch(ne fleet.NodeEpoch) error
	// Held returns the records the hub holds for a node record: the one
	// journaled (under this origin or, for a duplicate, another) and those
	// quarantined under it.
	Held(node string, epoch, nodeSeq uint64) ([]engine.TapRecord, error)
	// TapOrigin returns the origin of the journal record journalSeq; false
	// for a record the hub journaled itself.
	TapOrigin(journalSeq uint64) (fleet.Origin, bool, error)
	// PutForeignTap journals a node's record with its origin, keeping its
	// tap, decision and RecordedAt (the node's); it assigns JournalSeq. The
	// tap id must not be journaled yet (ErrTapConflict).
	PutForeignTap(rec *engine.TapRecord, o fleet.Origin) error
	// PutAlias records that node record (node, epoch, nodeSeq) is the tap
	// tap, already journaled.
	PutAlias(node string, epoch, nodeSeq uint64, tap engine.TapID) error
	PutQuarantined(q fleet.Quarantined) error
	// PutMeta and Meta are the ledger's named values (Ledger.PutMeta).
	PutMeta(key string, value []byte) error
	Meta(key string) ([]byte, bool, error)
	// PutStoredTariff stores another ledger's tariff version (a node's copy
	// of the hub's).
	PutStoredTariff(st StoredTariff) error
	// Prefetch reads passes (with their usage), cards and tap ids the
	// transaction is about to read in one ordered pass over the store; the
	// reads that follow return the same, at less cost.
	Prefetch(passIDs, cardUIDs []string, taps []engine.TapID) error
}

var _ FleetTxn = (*txn)(nil)

// UpdateFleet is Update with the fleet's records (FleetTxn): used by the
// hub's ingest.
func (l *Ledger) UpdateFleet(ctx context.Context, fn func(tx FleetTxn) error) error {
	return l.update(ctx, func(t *txn) error { return fn(t) })
}

func (t *txn) NodeEpoch(node string, epoch uint64) (fleet.NodeEpoch, bool, error) {
	k := nodeEpochKey(pNodeEpoch, node, epoch)
	v, ok, err := t.get(k)
	if err != nil || !ok {
		return fleet.NodeEpoch{}, false, err
	}
	ne, err := decodeNodeEpoch(k, v)
	return ne, err == nil, err
}

func (t *txn) PutNodeEpoch(ne fleet.NodeEpoch) error {
	if err := fleet.CheckNodeID(ne.Node); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	t.put(nodeEpochKey(pNodeEpoch, ne.Node, ne.Epoch), encodeNodeEpoch(&ne))
	return nil
}

func (t *txn) Held(node string, epoch, nodeSeq uint64) ([]engine.TapRecord, error) {
	var out []engine.TapRecord
	seq, ok, err := t.heldSeq(node, epoch, nodeSeq)
	if err != nil {
		return nil, err
	}
	if ok {
		jk := journalKey(seq)
		jv, ok, err := t.get(jk)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &CorruptionError{Key: nodeSeqKey(pOriginIdx, node, epoch, nodeSeq), Reason: fmt.Sprintf("node seq %d is held as journal seq %d, which does not exist", nodeSeq, seq)}
		}
		rec, err := decodeTap(jk, jv)
		if err != nil {
			return nil, err
		}
		out = append(out, *rec)
	}
	err = t.scanPrefix(nodeSeqKey(pQuarantine, node, epoch, nodeSeq), func(qk, qv []byte) error {
		q, err := decodeQuarantined(qk, qv)
		if err != nil {
			return err
		}
		out = append(out, q.Record)
		return nil
	})
	return out, err
}

// scanPrefix calls fn for every key with prefix p through the transaction:
// its own writes, the group's and the database's (for small ranges).
func (t *txn) scanPrefix(p []byte, fn func(k, v []byte) error) error {
	hi := upperBound(p)
	seen := map[string]bool{}
	in := func(k []byte) bool { return bytes.Compare(k, p) >= 0 && bytes.Compare(k, hi) < 0 }
	for i := len(t.ops) - 1; i >= 0; i-- {
		if o := t.ops[i]; in(o.key) && !seen[string(o.key)] {
			seen[string(o.key)] = true
			if err := fn(o.key, o.val); err != nil {
				return err
			}
		}
	}
	for k, v := range t.l.group {
		if in([]byte(k)) && !seen[k] {
			seen[k] = true
			if err := fn([]byte(k), v); err != nil {
				return err
			}
		}
	}
	it, err := t.l.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: hi})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		if !seen[string(it.Key())] {
			if err := fn(bytes.Clone(it.Key()), bytes.Clone(it.Value())); err != nil {
				_ = it.Close()
				return err
			}
		}
	}
	return it.Close()
}

func (t *txn) TapOrigin(journalSeq uint64) (fleet.Origin, bool, error) { return t.originAt(journalSeq) }

func (t *txn) PutForeignTap(rec *engine.TapRecord, o fleet.Origin) error {
	if err := fleet.CheckNodeID(o.Node); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if o.NodeSeq == 0 || o.NodeSeq == ^uint64(0) {
		return fmt.Errorf("%w: node %s record seq %d", ErrInvalid, o.Node, o.NodeSeq)
	}
	if err := t.putTap(rec, true); err != nil {
		return err
	}
	t.addOrigin(rec.JournalSeq, &o)
	return nil
}

func (t *txn) PutAlias(node string, epoch, nodeSeq uint64, tap engine.TapID) error {
	k := tapIDKey(tap.Device, tap.Seq)
	v, ok, err := t.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: alias of node %s seq %d to tap %s, which is not journaled", ErrNotFound, node, nodeSeq, tap)
	}
	seq, err := decodeU64(k, v, kindTapIndex)
	if err != nil {
		return err
	}
	if err := fleet.CheckNodeID(node); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if nodeSeq == 0 || nodeSeq == ^uint64(0) {
		return fmt.Errorf("%w: node %s record seq %d", ErrInvalid, node, nodeSeq)
	}
	t.idxRuns = append(t.idxRuns, indexRun{node: node, epoch: epoch, firstNodeSeq: nodeSeq, firstJournal: seq, count: 1})
	return nil
}

func (t *txn) PutQuarantined(q fleet.Quarantined) error {
	if err := fleet.CheckNodeID(q.Origin.Node); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	v := encodeQuarantined(&q)
	k := binary.BigEndian.AppendUint32(nodeSeqKey(pQuarantine, q.Origin.Node, q.Origin.Epoch, q.Origin.NodeSeq),
		crc32.Checksum(encodeTap(&q.Record), crcTable))
	t.put(k, v)
	return nil
}

// NodeEpochs calls fn for every node epoch the hub knows, by node then
// epoch.
func (l *Ledger) NodeEpochs(ctx context.Context, fn func(*fleet.NodeEpoch) error) error {
	return l.scan(ctx, []byte{pNodeEpoch}, []byte{pNodeEpoch + 1}, func(k, v []byte) error {
		ne, err := decodeNodeEpoch(k, v)
		if err != nil {
			return err
		}
		return fn(&ne)
	})
}

// Quarantine calls fn for every quarantined record, by origin.
func (l *Ledger) Quarantine(ctx context.Context, fn func(*fleet.Quarantined) error) error {
	return l.scan(ctx, []byte{pQuarantine}, []byte{pQuarantine + 1}, func(k, v []byte) error {
		q, err := decodeQuarantined(k, v)
		if err != nil {
			return err
		}
		return fn(&q)
	})
}

// Origins calls fn for the origin of every journal record from fromSeq on
// that came from a node, in journal order.
func (l *Ledger) Origins(ctx context.Context, fromSeq uint64, fn func(journalSeq uint64, o *fleet.Origin) error) error {
	ref, err := l.acquire()
	if err != nil {
		return err
	}
	defer ref.release()
	lo := originKey(fromSeq)
	if fromSeq < ^uint64(0) {
		// The run holding fromSeq may start before it.
		r, err := originRunAt(ref.s, fromSeq)
		if err != nil {
			return err
		}
		if r != nil {
			lo = originKey(r.firstJournal)
		}
	}
	return scanSnap(ctx, ref.s, lo, []byte{pOrigin + 1}, func(k, v []byte) error {
		r, err := decodeOriginRun(k, v)
		if err != nil {
			return err
		}
		for j := max(fromSeq, r.firstJournal); j-r.firstJournal < r.count(); j++ {
			o, _ := r.origin(j)
			if err := fn(j, &o); err != nil {
				return err
			}
		}
		return nil
	})
}

// Origin returns the origin of journal record journalSeq, if it came from
// a node.
func (l *Ledger) Origin(journalSeq uint64) (fleet.Origin, bool, error) {
	ref, err := l.acquire()
	if err != nil {
		return fleet.Origin{}, false, err
	}
	defer ref.release()
	return originOf(ref.s, journalSeq)
}
