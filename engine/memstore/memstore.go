package memstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/citypass/citypass/engine"
)

// Store is an in-memory engine.Store. It is safe for concurrent use: Update
// runs one transaction at a time under a mutex, View reads under a read lock.
// Records are deep-copied on the way in and out, so callers never share maps
// or slices with the store.
type Store struct {
	mu       sync.RWMutex
	now      func() time.Time
	taps     map[engine.TapID]engine.TapRecord
	journal  []engine.TapID
	passes   map[string]engine.Pass
	cards    map[string]engine.Card
	usage    map[string]engine.Usage
	postings map[string]engine.Posting
	order    []string // posting ids in commit order

	// FailNext, when set, makes the next commit fail with this error after fn
	// returned nil (a simulated fsync failure); nothing is kept.
	failNext error
}

var _ engine.Store = (*Store)(nil)

// New returns an empty store. now stamps RecordedAt; nil means time.Now.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, taps: map[engine.TapID]engine.TapRecord{}, passes: map[string]engine.Pass{},
		cards: map[string]engine.Card{}, usage: map[string]engine.Usage{}, postings: map[string]engine.Posting{}}
}

// FailNextCommit makes the next Update whose fn succeeds fail with err and
// keep nothing, as a ledger whose fsync fails.
func (s *Store) FailNextCommit(err error) {
	s.mu.Lock()
	s.failNext = err
	s.mu.Unlock()
}

// Update runs fn as one atomic transaction.
func (s *Store) Update(ctx context.Context, fn func(tx engine.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &txn{s: s, taps: map[engine.TapID]engine.TapRecord{}, passes: map[string]engine.Pass{},
		cards: map[string]engine.Card{}, usage: map[string]engine.Usage{}, postings: map[string]engine.Posting{}}
	if err := fn(tx); err != nil {
		return err
	}
	if err := s.failNext; err != nil {
		s.failNext = nil
		return fmt.Errorf("memstore: commit: %w", err)
	}
	for _, id := range tx.journal {
		s.taps[id] = tx.taps[id]
		s.journal = append(s.journal, id)
	}
	for id, p := range tx.passes {
		s.passes[id] = p
	}
	for id, c := range tx.cards {
		s.cards[id] = c
	}
	for id, u := range tx.usage {
		s.usage[id] = u
	}
	for _, id := range tx.order {
		s.postings[id] = tx.postings[id]
		s.order = append(s.order, id)
	}
	return nil
}

// View runs fn under a read lock.
func (s *Store) View(ctx context.Context, fn func(r engine.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(reader{s})
}

// Journal returns every journaled tap in journal order.
func (s *Store) Journal() []engine.TapRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]engine.TapRecord, 0, len(s.journal))
	for _, id := range s.journal {
		out = append(out, s.taps[id])
	}
	return out
}

// Postings returns every posting in commit order.
func (s *Store) Postings() []engine.Posting {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]engine.Posting, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, clonePosting(s.postings[id]))
	}
	return out
}

// Passes returns every pass, by id.
func (s *Store) Passes() []engine.Pass {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]engine.Pass, 0, len(s.passes))
	for _, p := range s.passes {
		out = append(out, p.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

type reader struct{ s *Store }

func (r reader) Tap(id engine.TapID) (engine.TapRecord, bool, error) {
	t, ok := r.s.taps[id]
	return t, ok, nil
}

func (r reader) Pass(id string) (engine.Pass, bool, error) {
	p, ok := r.s.passes[id]
	return p.Clone(), ok, nil
}

func (r reader) Card(uid string) (engine.Card, bool, error) {
	c, ok := r.s.cards[uid]
	return c.Clone(), ok, nil
}

func (r reader) Usage(passID string) (engine.Usage, error) {
	return r.s.usage[passID].Clone(), nil
}

// txn buffers writes; reads see them first, then the committed state.
type txn struct {
	s        *Store
	taps     map[engine.TapID]engine.TapRecord
	journal  []engine.TapID
	passes   map[string]engine.Pass
	cards    map[string]engine.Card
	usage    map[string]engine.Usage
	postings map[string]engine.Posting
	order    []string
}

func (t *txn) Tap(id engine.TapID) (engine.TapRecord, bool, error) {
	if r, ok := t.taps[id]; ok {
		return r, true, nil
	}
	return reader{t.s}.Tap(id)
}

func (t *txn) Pass(id string) (engine.Pass, bool, error) {
	if p, ok := t.passes[id]; ok {
		return p.Clone(), true, nil
	}
	return reader{t.s}.Pass(id)
}

func (t *txn) Card(uid string) (engine.Card, bool, error) {
	if c, ok := t.cards[uid]; ok {
		return c.Clone(), true, nil
	}
	return reader{t.s}.Card(uid)
}

func (t *txn) Usage(passID string) (engine.Usage, error) {
	if u, ok := t.usage[passID]; ok {
		return u.Clone(), nil
	}
	return reader{t.s}.Usage(passID)
}

func (t *txn) DeviceHighWater(device string) (uint64, error) {
	var hw uint64
	for id := range t.s.taps {
		if id.Device == device {
			hw = max(hw, id.Seq)
		}
	}
	for _, id := range t.journal {
		if id.Device == device {
			hw = max(hw, id.Seq)
		}
	}
	return hw, nil
}

func (t *txn) PutTap(rec *engine.TapRecord) error {
	if rec.ID.Seq == 0 {
		return fmt.Errorf("memstore: tap %s: seq 0", rec.ID)
	}
	if _, dup, _ := t.Tap(rec.ID); dup {
		return fmt.Errorf("memstore: tap %s already journaled", rec.ID)
	}
	rec.JournalSeq = uint64(len(t.s.journal)+len(t.journal)) + 1
	rec.RecordedAt = t.s.now()
	t.taps[rec.ID] = *rec
	t.journal = append(t.journal, rec.ID)
	return nil
}

func (t *txn) PutPass(p engine.Pass) error {
	if p.ID == "" {
		return errors.New("memstore: pass without id")
	}
	t.passes[p.ID] = p.Clone()
	return nil
}

func (t *txn) PutCard(c engine.Card) error {
	if c.UID == "" {
		return errors.New("memstore: card without uid")
	}
	t.cards[c.UID] = c.Clone()
	return nil
}

func (t *txn) PutUsage(passID string, u engine.Usage) error {
	t.usage[passID] = u.Clone()
	return nil
}

func (t *txn) PutPosting(p engine.Posting) error {
	if !p.Balanced() {
		return fmt.Errorf("memstore: posting %s is not balanced", p.ID)
	}
	_, inTx := t.postings[p.ID]
	_, stored := t.s.postings[p.ID]
	if inTx || stored {
		return fmt.Errorf("memstore: posting id %s reused", p.ID)
	}
	t.postings[p.ID] = clonePosting(p)
	t.order = append(t.order, p.ID)
	return nil
}

func clonePosting(p engine.Posting) engine.Posting {
	p.Lines = append([]engine.PostingLine(nil), p.Lines...)
	return p
}
