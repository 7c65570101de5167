package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
)

// keyEpoch holds the ledger's epoch: a random non-zero 64-bit number drawn
// when the ledger is created (docs/fleet.md, "Identity"). A wiped or
// replaced disk gets a new epoch, so a node's (epoch, journal seq) names
// one record for good.
var keyEpoch = append([]byte{pSchema}, "epoch"...)

// keyCreated holds when the ledger was created (its clock, UnixNano): a
// fleet node numbers its taps above a floor derived from it (docs/fleet.md,
// "Tap numbering").
var keyCreated = append([]byte{pSchema}, "created"...)

// newEpoch draws a non-zero epoch from r.
func newEpoch(r io.Reader) (uint64, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("ledger: drawing the ledger epoch: %w", err)
		}
		if e := binary.BigEndian.Uint64(b[:]); e != 0 {
			return e, nil
		}
	}
}

// Epoch returns the ledger's epoch (docs/fleet.md, "Identity").
func (l *Ledger) Epoch() uint64 { return l.epoch }

// Created returns when the ledger was created (the zero time for a ledger
// created before this was recorded).
func (l *Ledger) Created() time.Time { return l.created }

func (l *Ledger) loadCreated() error {
	v, closer, err := l.db.Get(keyCreated)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: reading the creation time: %w", err)
	}
	defer closer.Close()
	n, err := decodeU64(keyCreated, v, kindCounter)
	if err == nil {
		l.created = time.Unix(0, int64(n)).UTC()
	}
	return err
}

// create writes a new ledger's schema version and epoch.
func (l *Ledger) create() error {
	epoch, err := newEpoch(l.rand())
	if err != nil {
		return err
	}
	b := l.db.NewBatch()
	defer b.Close()
	_ = b.Set(keySchema, encodeU64(kindSchema, schemaVersion), nil)
	_ = b.Set(keyEpoch, encodeU64(kindCounter, epoch), nil)
	created := l.opts.Now().UTC()
	_ = b.Set(keyCreated, encodeU64(kindCounter, uint64(created.UnixNano())), nil)
	if err := l.apply(func() error { return b.Commit(pebble.Sync) }); err != nil {
		return fmt.Errorf("ledger: writing schema version: %w", err)
	}
	l.epoch, l.created = epoch, created
	return nil
}

func (l *Ledger) rand() io.Reader {
	if l.opts.Rand != nil {
		return l.opts.Rand
	}
	return rand.Reader
}

// upgrade brings a ledger of an earlier schema version to schemaVersion,
// then loads the epoch. Each step is idempotent and the version is raised
// in the step's last (synced) batch, so a crash mid-way redoes the step.
//
//	1 → 2: usage becomes the set of a pass's visits (engine.Usage), rebuilt
//	       from the journal's accepted entries; the ledger gets an epoch.
//	2 → 3: a hub's origins and origin index are kept by run (origins.go):
//	       each record's origin and index entry becomes a run of one.
func (l *Ledger) upgrade(from uint64) error {
	if from > schemaVersion {
		return fmt.Errorf("ledger: schema version %d is newer than this release's %d: upgrade citypass", from, schemaVersion)
	}
	if from < 1 {
		return fmt.Errorf("ledger: unknown schema version %d", from)
	}
	if from == 1 {
		if err := l.upgradeUsage(); err != nil {
			return fmt.Errorf("ledger: upgrading schema 1 to 2: %w", err)
		}
	}
	if from <= 2 {
		if err := l.upgradeOrigins(); err != nil {
			return fmt.Errorf("ledger: upgrading schema 2 to 3: %w", err)
		}
	}
	v, closer, err := l.db.Get(keyEpoch)
	if err != nil {
		return fmt.Errorf("ledger: reading the epoch: %w", err)
	}
	defer closer.Close()
	if l.epoch, err = decodeU64(keyEpoch, v, kindCounter); err != nil {
		return err
	}
	return l.loadCreated()
}

// upgradeUsage rebuilds every pass's usage from the journal, in memory
// (a visit is some 80 bytes: fine for a gate's or a hub's ledger of tens of
// millions of taps on a server), and writes it with schema version 2 and a
// new epoch in one synced batch.
func (l *Ledger) upgradeUsage() error {
	usage := map[string]*engine.Usage{}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pJournal}, UpperBound: []byte{pJournal + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		rec, err := decodeTap(it.Key(), it.Value())
		if err != nil {
			_ = it.Close()
			return err
		}
		if !rec.Decision.Accept || rec.Direction != engine.Entry || rec.Pass == "" {
			continue
		}
		u := usage[rec.Pass]
		if u == nil {
			u = &engine.Usage{}
			usage[rec.Pass] = u
		}
		u.Add(engine.Visit{Tap: rec.ID, At: rec.At, Venue: rec.Venue, Gate: rec.Gate})
	}
	if err := it.Close(); err != nil {
		return err
	}
	epoch, err := newEpoch(l.rand())
	if err != nil {
		return err
	}
	b := l.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{pUsage}, []byte{pUsage + 1}, nil); err != nil {
		return err
	}
	for id, u := range usage {
		if err := b.Set(strKey(pUsage, id), encodeUsage(u), nil); err != nil {
			return err
		}
	}
	_ = b.Set(keyEpoch, encodeU64(kindCounter, epoch), nil)
	_ = b.Set(keyCreated, encodeU64(kindCounter, uint64(l.opts.Now().UnixNano())), nil)
	_ = b.Set(keySchema, encodeU64(kindSchema, 2), nil)
	return l.apply(func() error { return b.Commit(pebble.Sync) })
}

// upgradeBatchKeys bounds the keys one synced batch of upgradeOrigins
// rewrites.
const upgradeBatchKeys = 16384

// upgradeOrigins rewrites every schema-2 origin (kindOrigin, one per
// journal record from a node) as an origin run of one record and every
// origin index entry (kindOriginIdx) as an index run of one, under the same
// keys, in synced batches of at most upgradeBatchKeys; the last batch
// raises the schema version to 3. A value already rewritten is skipped, so
// a crash mid-way redoes only what is left.
func (l *Ledger) upgradeOrigins() error {
	rewrite := func(p byte, conv func(k, v []byte) ([]byte, error)) error {
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
		if err != nil {
			return err
		}
		b := l.db.NewBatch()
		commit := func() error {
			err := l.apply(func() error { return b.Commit(pebble.Sync) })
			_ = b.Close()
			b = l.db.NewBatch()
			return err
		}
		for it.First(); it.Valid() && err == nil; it.Next() {
			var v []byte
			if v, err = it.ValueAndErr(); err != nil {
				break
			}
			var nv []byte
			if nv, err = conv(it.Key(), v); err != nil || nv == nil {
				continue
			}
			if err = b.Set(it.Key(), nv, nil); err == nil && b.Count() >= upgradeBatchKeys {
				err = commit()
			}
		}
		if err == nil {
			err = commit()
		}
		_ = b.Close()
		return errors.Join(err, it.Close())
	}
	err := rewrite(pOrigin, func(k, v []byte) ([]byte, error) {
		if len(v) > 0 && v[0] == kindOriginRun {
			return nil, nil // rewritten before a crash
		}
		o, err := decodeOrigin(k, v)
		if err != nil {
			return nil, err
		}
		seq, ok := parseJournalKey(append([]byte{pJournal}, k[1:]...))
		if !ok {
			return nil, &CorruptionError{Key: bytes.Clone(k), Reason: "malformed origin key"}
		}
		return encodeOriginRun(&originRun{firstJournal: seq, node: o.Node, epoch: o.Epoch, firstNodeSeq: o.NodeSeq,
			uploadedAt: o.UploadedAt, clockOffset: o.ClockOffset, clockKnown: o.ClockKnown,
			recordedAt: []time.Time{o.NodeRecordedAt}}), nil
	})
	if err != nil {
		return err
	}
	err = rewrite(pOriginIdx, func(k, v []byte) ([]byte, error) {
		if len(v) > 0 && v[0] == kindIndexRun {
			return nil, nil
		}
		seq, err := decodeU64(k, v, kindOriginIdx)
		if err != nil {
			return nil, err
		}
		node, epoch, nseq, ok := parseNodeKey(k)
		if !ok {
			return nil, &CorruptionError{Key: bytes.Clone(k), Reason: "malformed origin index key"}
		}
		return encodeIndexRun(&indexRun{node: node, epoch: epoch, firstNodeSeq: nseq, firstJournal: seq, count: 1}), nil
	})
	if err != nil {
		return err
	}
	return l.apply(func() error { return l.db.Set(keySchema, encodeU64(kindSchema, 3), pebble.Sync) })
}
