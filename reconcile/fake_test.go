package reconcile

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/citypass/citypass/engine"
)

// fakeLedger is an in-memory Ledger with the semantics CONTRACT.md gives the
// real one: journal by seq, statements and posting ids unique, atomic
// PutStatement and MarkPaid, balanced postings only.
type fakeLedger struct {
	mu         sync.Mutex
	taps       []engine.TapRecord // index = seq-1
	passes     map[string]engine.Pass
	postings   []engine.Posting
	postingIDs map[string]bool
	records    map[string]map[string][]byte // table → id → value
	now        time.Time
	updates    int // Update calls that stored postings
	// journalRead counts the records the last Journal call handed out.
	journalRead uint64
	// batch is the size of JournalBatches' batches (0: 7); with
	// ownedStrings set, their strings are the records' own, not views.
	batch        int
	ownedStrings bool
	view         *fakeReader // View's index of the taps, rebuilt after a change
}

var _ Ledger = (*fakeLedger)(nil)

func newFakeLedger() *fakeLedger {
	return &fakeLedger{passes: map[string]engine.Pass{}, postingIDs: map[string]bool{},
		records: map[string]map[string][]byte{}, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// tap journals a record, assigning JournalSeq and RecordedAt (the record's
// own At plus a second, or the fake clock when later).
func (f *fakeLedger) tap(r engine.TapRecord) engine.TapRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.JournalSeq = uint64(len(f.taps) + 1)
	if r.At.After(f.now) {
		f.now = r.At
	}
	f.now = f.now.Add(time.Second)
	r.RecordedAt = f.now
	f.taps = append(f.taps, r)
	f.view = nil
	return r
}

func (f *fakeLedger) putPass(p engine.Pass) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.passes[p.ID] = p
	f.view = nil
}

func (f *fakeLedger) putPosting(p engine.Posting) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addPostingsLocked([]engine.Posting{p})
}

func (f *fakeLedger) addPostingsLocked(ps []engine.Posting) error {
	seen := map[string]bool{}
	for i := range ps {
		if !ps[i].Balanced() {
			return fmt.Errorf("fake: posting %s unbalanced", ps[i].ID)
		}
		if f.postingIDs[ps[i].ID] || seen[ps[i].ID] {
			return fmt.Errorf("fake: posting id %s reused", ps[i].ID)
		}
		seen[ps[i].ID] = true
	}
	for _, p := range ps {
		f.postingIDs[p.ID] = true
		f.postings = append(f.postings, p)
	}
	return nil
}

func (f *fakeLedger) Journal(ctx context.Context, fromSeq uint64, fn func(*engine.TapRecord) error) error {
	f.mu.Lock()
	taps := append([]engine.TapRecord(nil), f.taps...)
	f.mu.Unlock()
	f.journalRead = 0
	for i := range taps {
		if taps[i].JournalSeq < fromSeq {
			continue
		}
		f.journalRead++
		if err := fn(&taps[i]); err != nil {
			return err
		}
	}
	return nil
}

// JournalBatches hands fn Journal's records in batches of up to f.batch
// (7) in a reused slice, as the real ledger recycles its batches; like the real
// ledger's, their strings view bytes that are reused once fn returns, and
// these are scribbled over then, so a close that kept one of them past fn
// reads garbage and fails its test.
func (f *fakeLedger) JournalBatches(ctx context.Context, fromSeq uint64, fn func([]engine.TapRecord) error) error {
	batch := make([]engine.TapRecord, 0, cmp.Or(f.batch, 7))
	var bytes scribbled
	call := func() error {
		err := fn(batch)
		bytes.scribble()
		clear(batch)
		batch = batch[:0]
		return err
	}
	err := f.Journal(ctx, fromSeq, func(r *engine.TapRecord) error {
		rec := *r
		for _, s := range []*string{&rec.ID.Device, &rec.Card, &rec.Gate, &rec.Venue, &rec.Pass, &rec.Product, &rec.TariffVersion,
			&rec.Category, &rec.Decision.Pass, &rec.Decision.Product} {
			if !f.ownedStrings {
				*s = bytes.view(*s)
			}
		}
		batch = append(batch, rec)
		if len(batch) < cap(batch) {
			return nil
		}
		return call()
	})
	if err == nil && len(batch) > 0 {
		err = call()
	}
	return err
}

// scribbled hands out strings that view its buffers, until scribble
// overwrites every byte of them with '~' and starts reusing them.
type scribbled struct {
	bufs [][]byte // each filled up to its length, never beyond its capacity
}

func (s *scribbled) view(v string) string {
	if v == "" {
		return v
	}
	k := len(s.bufs) - 1
	if k < 0 || len(s.bufs[k])+len(v) > cap(s.bufs[k]) {
		s.bufs = append(s.bufs, make([]byte, 0, max(4<<10, len(v))))
		k++
	}
	at := len(s.bufs[k])
	s.bufs[k] = append(s.bufs[k], v...)
	return unsafe.String(&s.bufs[k][at], len(v))
}

func (s *scribbled) scribble() {
	for k, b := range s.bufs {
		for i := range b {
			b[i] = '~'
		}
		s.bufs[k] = b[:0]
	}
}

func (f *fakeLedger) JournalBetween(ctx context.Context, from, to time.Time, fn func(*engine.TapRecord) error) error {
	f.mu.Lock()
	var taps []engine.TapRecord
	for _, t := range f.taps {
		if !t.At.Before(from) && t.At.Before(to) {
			taps = append(taps, t)
		}
	}
	f.mu.Unlock()
	sort.SliceStable(taps, func(i, j int) bool { return taps[i].At.Before(taps[j].At) })
	for i := range taps {
		if err := fn(&taps[i]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeLedger) LastJournalSeq() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(len(f.taps)), nil
}

func (f *fakeLedger) Passes(ctx context.Context, fn func(*engine.Pass) error) error {
	f.mu.Lock()
	var ps []engine.Pass
	for _, p := range f.passes {
		ps = append(ps, p)
	}
	f.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	for i := range ps {
		if err := fn(&ps[i]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeLedger) Postings(ctx context.Context, fn func(*engine.Posting) error) error {
	f.mu.Lock()
	ps := append([]engine.Posting(nil), f.postings...)
	f.mu.Unlock()
	for i := range ps {
		if err := fn(&ps[i]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeLedger) Record(table, id string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.records[table][id]
	return bytes.Clone(v), ok, nil
}

func (f *fakeLedger) Records(ctx context.Context, table string, fn func(id string, value []byte) error) error {
	f.mu.Lock()
	var ids []string
	vals := map[string][]byte{}
	for id, v := range f.records[table] {
		ids = append(ids, id)
		vals[id] = bytes.Clone(v)
	}
	f.mu.Unlock()
	sort.Strings(ids)
	for _, id := range ids {
		if err := fn(id, vals[id]); err != nil {
			return err
		}
	}
	return nil
}

// UpdateRecords runs fn against a copy of the records under the lock and
// keeps it, with the postings, only when fn and the postings succeed.
func (f *fakeLedger) UpdateRecords(ctx context.Context, fn func(get RecordGet, put RecordPut, post PostingPut) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	writes := map[string]map[string][]byte{}
	var ps []engine.Posting
	get := func(table, id string) ([]byte, bool, error) {
		if v, ok := writes[table][id]; ok {
			return bytes.Clone(v), true, nil
		}
		v, ok := f.records[table][id]
		return bytes.Clone(v), ok, nil
	}
	put := func(table, id string, v []byte) error {
		if table == "" || id == "" {
			return fmt.Errorf("fake: empty table or id")
		}
		if writes[table] == nil {
			writes[table] = map[string][]byte{}
		}
		writes[table][id] = bytes.Clone(v)
		return nil
	}
	post := func(p engine.Posting) error { ps = append(ps, p); return nil }
	if err := fn(get, put, post); err != nil {
		return err
	}
	if err := f.addPostingsLocked(ps); err != nil {
		return err
	}
	for table, m := range writes {
		if f.records[table] == nil {
			f.records[table] = map[string][]byte{}
		}
		for id, v := range m {
			f.records[table][id] = v
		}
	}
	return nil
}

// fakeTxn is the fake's engine.Txn: only PutPosting is used by reconcile.
type fakeTxn struct {
	engine.Txn
	ps []engine.Posting
}

func (t *fakeTxn) PutPosting(p engine.Posting) error {
	t.ps = append(t.ps, p)
	return nil
}

func (f *fakeLedger) Update(ctx context.Context, fn func(tx engine.Txn) error) error {
	tx := &fakeTxn{}
	if err := fn(tx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates++
	return f.addPostingsLocked(tx.ps)
}

// View reads the fake: taps by id, passes, no cards, and usage derived
// from the journal (every accepted entry of the pass, in canonical order),
// as the real ledger keeps it.
func (f *fakeLedger) View(ctx context.Context, fn func(r engine.Reader) error) error {
	f.mu.Lock()
	r := f.view
	if r == nil {
		r = &fakeReader{taps: map[engine.TapID]engine.TapRecord{}, passes: maps.Clone(f.passes), usage: map[string]engine.Usage{}}
		for _, t := range f.taps {
			r.taps[t.ID] = t
			if t.Decision.Accept && t.Direction == engine.Entry && t.Pass != "" {
				u := r.usage[t.Pass]
				u.Visits = append(u.Visits, engine.Visit{Tap: t.ID, At: t.At, Venue: t.Venue, Gate: t.Gate})
				r.usage[t.Pass] = u
			}
		}
		for _, u := range r.usage {
			slices.SortFunc(u.Visits, func(a, b engine.Visit) int { return engine.CompareVisits(&a, &b) })
		}
		f.view = r
	}
	f.mu.Unlock()
	return fn(r)
}

type fakeReader struct {
	taps   map[engine.TapID]engine.TapRecord
	passes map[string]engine.Pass
	usage  map[string]engine.Usage
}

func (r *fakeReader) Tap(id engine.TapID) (engine.TapRecord, bool, error) {
	t, ok := r.taps[id]
	return t, ok, nil
}
func (r *fakeReader) Pass(id string) (engine.Pass, bool, error) {
	p, ok := r.passes[id]
	return p, ok, nil
}
func (r *fakeReader) Card(string) (engine.Card, bool, error) { return engine.Card{}, false, nil }
func (r *fakeReader) Usage(id string) (engine.Usage, error)  { return r.usage[id], nil }

func (f *fakeLedger) Usages(ctx context.Context, fn func(passID string, u *engine.Usage) error) error {
	var us map[string]engine.Usage
	if err := f.View(ctx, func(r engine.Reader) error { us = r.(*fakeReader).usage; return nil }); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(us)) {
		u := us[id].Clone()
		if err := fn(id, &u); err != nil {
			return err
		}
	}
	return nil
}
