package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citypass/citypass/tariff"
)

// Options configure a Validator. The zero value is usable.
type Options struct {
	// Rand is the source of pass ids. Default crypto/rand. Ids carry 80 random
	// bits so that ledgers of a fleet merge without collisions.
	Rand io.Reader
	// Now is the clock used only to describe passes (ShowPass: live, expired).
	// Decisions never read it: every rule is evaluated at the tap's time.
	// Default time.Now.
	Now func() time.Time
	// SeqFloor: taps numbered by the library (Seq 0) get a seq above both
	// the device's highest and SeqFloor. A fleet node sets it from its
	// ledger's creation time, so a wiped node never reuses the tap ids of
	// its earlier ledger (docs/fleet.md, "Tap numbering"). Default 0.
	SeqFloor uint64
	// StateAsOf, on a fleet node, returns the node's state_as_of: the hub
	// time up to which its copy of the hub's state is complete. Every tap
	// is decided with it (Input.StateAsOf; docs/semantics.md, "Offline
	// policy"), read before the tap's transaction, so a tap never sees
	// state newer than the age it is judged by. Default nil: no staleness
	// (the hub, a standalone ledger); a zero time means the same. An error
	// fails the tap with ERROR: a node that cannot tell how old its state
	// is does not guess. SetStateAsOf replaces it.
	StateAsOf func() (time.Time, error)
}

// StateAsOfFunc is the type of Options.StateAsOf.
type StateAsOfFunc = func() (time.Time, error)

// Validator decides taps against a Store and runs the pass lifecycle (sell,
// refund, block, unblock, replace). It is safe for concurrent use by many
// gates: every read-decide-write runs inside one Store.Update on the store's
// single writer, so two taps of one pass never decide on the same state.
type Validator struct {
	store    Store
	catalog  atomic.Pointer[tariff.Catalog]
	now      func() time.Time
	seqFloor uint64
	asOf     atomic.Pointer[StateAsOfFunc] // nil: no staleness

	randMu sync.Mutex
	rand   io.Reader
}

// New returns a Validator on a store and a tariff catalog.
func New(store Store, catalog *tariff.Catalog, opts *Options) (*Validator, error) {
	if store == nil {
		return nil, errors.New("engine: nil store")
	}
	if catalog == nil {
		return nil, errors.New("engine: nil catalog")
	}
	v := &Validator{store: store, rand: rand.Reader, now: time.Now}
	if opts != nil {
		if opts.Rand != nil {
			v.rand = opts.Rand
		}
		if opts.Now != nil {
			v.now = opts.Now
		}
		v.seqFloor = opts.SeqFloor
		v.SetStateAsOf(opts.StateAsOf)
	}
	v.catalog.Store(catalog)
	return v, nil
}

// SetStateAsOf replaces Options.StateAsOf, e.g. by a running node's live
// cursor once its sync has started; nil means no staleness. Taps already
// being decided keep the value they read.
func (v *Validator) SetStateAsOf(f StateAsOfFunc) {
	if f == nil {
		v.asOf.Store(nil)
		return
	}
	v.asOf.Store(&f)
}

// stateAsOf reads the state_as_of source; zero when there is none.
func (v *Validator) stateAsOf() (time.Time, error) {
	f := v.asOf.Load()
	if f == nil {
		return time.Time{}, nil
	}
	t, err := (*f)()
	if err != nil {
		return time.Time{}, fmt.Errorf("engine: reading how old the hub's state is: %w", err)
	}
	return t, nil
}

// SetCatalog swaps the tariff catalog, e.g. after a new version was loaded.
// Passes keep the version they were sold under.
func (v *Validator) SetCatalog(c *tariff.Catalog) {
	if c != nil {
		v.catalog.Store(c)
	}
}

// Catalog returns the tariff catalog in use.
func (v *Validator) Catalog() *tariff.Catalog { return v.catalog.Load() }

// Result is the answer to Validate: the decision, whether it repeats an
// earlier answer to the same tap id, and a text for the gate's display.
// It marshals to the `tap --json` object (docs/semantics.md, "Command line").
type Result struct {
	Decision  Decision
	Tap       TapID
	Duplicate bool
	// JournalSeq is the tap's place in the journal.
	JournalSeq uint64
	// Message is what the gate shows, e.g. "Welcome. Valid until 28/11 10:00.".
	Message string
	// RetryAt is when a PASSBACK denial's window ends (PassbackEnd): the
	// visitor may enter from then on. It is not journaled: a duplicate
	// tap's Result has it zero.
	RetryAt time.Time
}

// Validate decides a tap and journals it durably (the tap record, and the
// pass activation, usage and card counter it implies, in one Store.Update)
// before returning. A tap id seen before returns the stored decision with
// Duplicate set, or ErrTapConflict when its content differs. A gate whose
// venue is in no tariff version is an error, not a decision. When the store
// fails, the error is returned with an ERROR decision: the gate stays shut.
func (v *Validator) Validate(ctx context.Context, tap Tap) (Result, error) {
	if err := checkTap(&tap); err != nil {
		return errorResult(&tap), err
	}
	cat := v.catalog.Load()
	asOf, err := v.stateAsOf()
	if err != nil {
		return errorResult(&tap), err
	}
	var st tapStep
	err = v.store.Update(ctx, func(tx Txn) error {
		st = tapStep{tap: tap, seqFloor: v.seqFloor, stateAsOf: asOf}
		return st.run(tx, cat)
	})
	if err != nil {
		t := tap
		if st.tap.ID.Seq != 0 {
			t.ID = st.tap.ID
		}
		return errorResult(&t), err
	}
	return st.result(), nil
}

// checkTap checks what a tap must carry before it is decided (an instant
// in range, device and gate ids within the limits on text) and brings its
// card UID to its canonical spelling.
func checkTap(tap *Tap) error {
	if err := tariff.CheckInstant(tap.At); err != nil || tap.At.IsZero() {
		what := "tap " + tap.ID.String()
		if tap.ID.Seq == 0 {
			what = "tap of device " + tap.ID.Device
		}
		return checkInstant(what, tap.At)
	}
	if err := checkTapText(tap); err != nil {
		return err
	}
	tap.Card = canonicalUID(tap.Card)
	return nil
}

// errorResult is the answer to a tap that could not be decided or journaled:
// ERROR, the gate stays shut.
func errorResult(tap *Tap) Result {
	d := Decision{Reason: ReasonError}
	return Result{Tap: tap.ID, Decision: d, Message: Message(d, tap.Direction, nil)}
}

// tapStep is one tap decided and journaled inside a store transaction: the
// tap (numbered when its Seq was 0), its result, and the zone and language
// of its message.
type tapStep struct {
	tap       Tap
	seqFloor  uint64    // Options.SeqFloor
	stateAsOf time.Time // Options.StateAsOf, read before the transaction
	res       Result
	loc       *time.Location
	lang      Language
}

// run decides st.tap against tx and journals it with its effects: a tap id
// journaled before gives the stored decision (Duplicate), or ErrTapConflict
// when its content differs.
func (st *tapStep) run(tx Txn, cat *tariff.Catalog) error {
	tap := &st.tap
	var res Result
	var loc *time.Location
	var lang Language
	defer func() { st.res, st.loc, st.lang = res, loc, lang }()
	if tap.ID.Seq == 0 {
		hw, err := tx.DeviceHighWater(tap.ID.Device)
		if err != nil {
			return fmt.Errorf("numbering a tap of device %s: %w", tap.ID.Device, err)
		}
		tap.ID.Seq = max(hw, st.seqFloor) + 1
	}
	res, loc, lang = Result{Tap: tap.ID}, nil, English
	prev, seen, err := tx.Tap(tap.ID)
	if err != nil {
		return fmt.Errorf("reading tap %s: %w", tap.ID, err)
	}
	if seen {
		if !prev.Tap.SameContent(tap) {
			return fmt.Errorf("tap %s: %w", tap.ID, ErrTapConflict)
		}
		res.Decision, res.Duplicate, res.JournalSeq = prev.Decision, true, prev.JournalSeq
		if t, ok := cat.Version(prev.TariffVersion); ok {
			loc, lang = t.Location, TariffLanguage(t)
		}
		return nil
	}
	in := Input{Tap: tap, StateAsOf: st.stateAsOf}
	card, pass, err := resolveCard(tx, tap.Card, tap.At)
	if err != nil {
		return err
	}
	in.Card, in.Pass = card, pass
	if pass != nil {
		t, ok := cat.Version(pass.TariffVersion)
		if !ok {
			return fmt.Errorf("pass %s: tariff version %q not loaded", pass.ID, pass.TariffVersion)
		}
		prod, ok := t.Product(pass.Product)
		if !ok {
			return fmt.Errorf("pass %s: product %q not in tariff version %q", pass.ID, pass.Product, t.ID)
		}
		in.Tariff, in.Product = t, prod
	}
	venue, vt, err := resolveVenue(cat, in.Tariff, tap.Gate, tap.At)
	if err != nil {
		return err
	}
	in.Venue = venue
	loc, lang = vt.Location, TariffLanguage(vt)
	var usage Usage
	if pass != nil {
		if usage, err = tx.Usage(pass.ID); err != nil {
			return fmt.Errorf("reading usage of pass %s: %w", pass.ID, err)
		}
		in.Usage = &usage
	}
	d, eff := Decide(&in)
	rec := TapRecord{Tap: *tap, Venue: venue.ID, Decision: d}
	if pass != nil {
		rec.Pass, rec.Product, rec.TariffVersion, rec.Category = pass.ID, pass.Product, pass.TariffVersion, pass.Category
	}
	if err := tx.PutTap(&rec); err != nil {
		return fmt.Errorf("journaling tap %s: %w", tap.ID, err)
	}
	res.Decision, res.JournalSeq = d, rec.JournalSeq
	if !d.Accept && d.Reason == ReasonPassback {
		res.RetryAt = PassbackEnd(&in)
	}
	if eff.SetCounter {
		c := *card
		eff.Apply(nil, &c, nil)
		if err := tx.PutCard(c); err != nil {
			return fmt.Errorf("storing card %s: %w", c.UID, err)
		}
	}
	if eff.Activate {
		p := *pass
		eff.Apply(&p, nil, nil)
		if err := tx.PutPass(p); err != nil {
			return fmt.Errorf("storing pass %s: %w", p.ID, err)
		}
	}
	if eff.CountEntry {
		// usage is this transaction's own (Reader): Decide is done with
		// it, so the entry is counted in place.
		eff.Apply(nil, nil, &usage)
		if err := tx.PutUsage(pass.ID, usage); err != nil {
			return fmt.Errorf("storing usage of pass %s: %w", pass.ID, err)
		}
	}
	return nil
}

// result is the step's answer, its times in the tariff's zone and its
// message in the tariff's language.
func (st *tapStep) result() Result {
	res := st.res
	if st.loc != nil && !res.Decision.ValidUntil.IsZero() {
		res.Decision.ValidUntil = res.Decision.ValidUntil.In(st.loc)
	}
	res.Message = MessageIn(st.lang, res.Decision, st.tap.Direction, PassbackWait(res.RetryAt, st.tap.At), st.loc)
	return res
}

// TariffLanguage is a tariff version's default gate language (English when
// it names none).
func TariffLanguage(t *tariff.Tariff) Language {
	if l, err := ParseLanguage(t.GateLanguage); err == nil {
		return l
	}
	return English
}

// SameContent reports whether two taps have the same id and content: a tap
// that arrives again with the same content is a duplicate, one with other
// content under the same id a conflict.
func (a *Tap) SameContent(b *Tap) bool {
	return a.ID == b.ID && a.Card == b.Card && a.Gate == b.Gate && a.Direction == b.Direction &&
		a.At.Equal(b.At) && a.HasCounter == b.HasCounter && (!a.HasCounter || a.Counter == b.Counter) &&
		a.ProofFailed == b.ProofFailed
}

// resolveCard reads a card and the pass it resolves to at instant at: its live
// pass, else its newest (docs/semantics.md, "Passes and cards"). Both are nil
// for an unknown card.
func resolveCard(r Reader, uid string, at time.Time) (*Card, *Pass, error) {
	c, ok, err := r.Card(uid)
	if err != nil {
		return nil, nil, fmt.Errorf("reading card %s: %w", uid, err)
	}
	if !ok {
		return nil, nil, nil
	}
	var newest *Pass
	for i := len(c.Passes) - 1; i >= 0; i-- {
		p, ok, err := r.Pass(c.Passes[i])
		if err != nil {
			return nil, nil, fmt.Errorf("reading pass %s of card %s: %w", c.Passes[i], uid, err)
		}
		if !ok {
			return nil, nil, fmt.Errorf("card %s: pass %s missing from the store", uid, c.Passes[i])
		}
		if p.Live(at) {
			return &c, &p, nil
		}
		if newest == nil {
			newest = &p
		}
	}
	return &c, newest, nil
}

// Live reports whether the pass is live at instant at: sold, not refunded, and
// neither past its validity nor past its activation deadline.
func (p *Pass) Live(at time.Time) bool {
	if p.Status == PassRefunded {
		return false
	}
	if !p.ValidUntil.IsZero() {
		return at.Before(p.ValidUntil)
	}
	return p.ActivateBy.IsZero() || at.Before(p.ActivateBy)
}

// resolveVenue finds a gate's venue: in the pass's version first, else in
// the version in force at the tap, else in any version, newest first.
func resolveVenue(cat *tariff.Catalog, passVersion *tariff.Tariff, gate string, at time.Time) (*tariff.Venue, *tariff.Tariff, error) {
	vid, _, err := tariff.SplitGate(gate)
	if err != nil {
		return nil, nil, err
	}
	if v, t, ok := cat.FindVenue(vid, at, passVersion); ok {
		return v, t, nil
	}
	return nil, nil, &tariff.ErrUnknownGate{Gate: gate}
}

// newPassID returns "P-" and 80 random bits in base32 (16 characters).
func (v *Validator) newPassID() (string, error) {
	var b [10]byte
	v.randMu.Lock()
	_, err := io.ReadFull(v.rand, b[:])
	v.randMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("engine: generating pass id: %w", err)
	}
	return "P-" + base32.StdEncoding.EncodeToString(b[:]), nil
}
