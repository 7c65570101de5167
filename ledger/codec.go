package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"time"
	"unsafe"

	"github.com/citypass/citypass/engine"
)

// Every stored value is framed as
//
//	kind (1 byte) ‖ version (1 byte) ‖ payload ‖ CRC-32C (4 bytes, little endian)
//
// where the checksum covers kind, version and payload. kind names the record
// type so that a value read under the wrong key is caught; version lets a
// later release change a payload without rewriting old ones. The payload is a
// sequence of varints and length-prefixed strings in a fixed field order per
// kind and version.
//
// Every kind is at version 1 except where noted here; a decoder reads every
// version up to its kind's newest, so a ledger written by an earlier release
// is read as it is:
//   - kindCard version 2 appends the time the card was replaced
//     (engine.Card.ReplacedAt). A card never replaced is still written as
//     version 1, byte for byte as before, so a ledger stays readable by the
//     release before until its first replacement; that release reports a
//     replaced card's value as corrupt (unknown version) rather than
//     misreading it.

// Value kinds. Persisted; never renumber.
const (
	kindSchema    byte = 1
	kindTariff    byte = 2
	kindPass      byte = 3
	kindCard      byte = 4
	kindUsageV1   byte = 5 // counts-based usage of schema 1; read only by the migration (migrate.go)
	kindTapIndex  byte = 6
	kindTap       byte = 7
	kindTimeIndex byte = 8
	kindPosting   byte = 9
	kindBalance   byte = 10
	kindStatement byte = 11 // retired: statements of earlier releases (now records)
	kindMeta      byte = 12
	kindCounter   byte = 13
	kindUsage     byte = 14 // a pass's visits (schema 2)
	kindRecord    byte = 19 // a record of another package (records.go); 15-18 are the hub's (docs/fleet.md)
)

const (
	valueVersion = 1 // payload version of every kind not listed below
	// cardVersionReplaced is kindCard's version with ReplacedAt.
	cardVersionReplaced = 2
	frameLen            = 2 + 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is matched (errors.Is) by every *CorruptionError.
var ErrCorrupt = errors.New("ledger: corrupt value")

// CorruptionError reports a stored value that fails its checksum, has an
// unknown kind or version, or does not decode.
type CorruptionError struct {
	Key    []byte
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("ledger: corrupt value at key %s: %s", describeKey(e.Key), e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// enc appends a payload.
type enc struct{ b []byte }

func newEnc(kind byte, sizeHint int) *enc { return newEncVersion(kind, valueVersion, sizeHint) }

// newEncVersion starts a value of a kind's given payload version.
func newEncVersion(kind, version byte, sizeHint int) *enc {
	e := &enc{b: make([]byte, 0, sizeHint+frameLen)}
	e.b = append(e.b, kind, version)
	return e
}

func (e *enc) u64(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i64(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(v string)   { e.u64(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) bytes(v []byte) { e.u64(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) boolean(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// tm stores an instant and the zone offset it was given in; the zero time is
// kept as zero. Decoded times carry a fixed zone with the same offset (UTC
// when 0): compare instants with time.Time.Equal.
func (e *enc) tm(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	_, off := t.Zone()
	e.b = append(e.b, 1)
	e.i64(t.UnixNano())
	e.i64(int64(off))
}

// finish appends the checksum and returns the framed value.
func (e *enc) finish() []byte {
	return binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, crcTable))
}

// dec reads a payload; the first error sticks.
type dec struct {
	b   []byte
	err error
}

// openValue verifies the frame of v and returns a decoder over its payload.
func openValue(key, v []byte, kind byte) (*dec, error) {
	payload, err := openFrame(key, v, kind)
	if err != nil {
		return nil, err
	}
	return &dec{b: payload}, nil
}

// openFrame verifies the frame of v (length, checksum, kind, version 1) and
// returns its payload.
func openFrame(key, v []byte, kind byte) ([]byte, error) {
	payload, _, err := openFrameUpTo(key, v, kind, valueVersion)
	return payload, err
}

// openFrameUpTo verifies the frame of v, accepting payload versions 1 to
// newest, and returns its payload and version.
func openFrameUpTo(key, v []byte, kind, newest byte) ([]byte, byte, error) {
	if len(v) < frameLen {
		return nil, 0, &CorruptionError{Key: key, Reason: fmt.Sprintf("value of %d bytes is shorter than its frame", len(v))}
	}
	body, sum := v[:len(v)-4], binary.LittleEndian.Uint32(v[len(v)-4:])
	if got := crc32.Checksum(body, crcTable); got != sum {
		return nil, 0, &CorruptionError{Key: key, Reason: fmt.Sprintf("checksum %08x, stored %08x", got, sum)}
	}
	if body[0] != kind {
		return nil, 0, &CorruptionError{Key: key, Reason: fmt.Sprintf("value kind %d, want %d", body[0], kind)}
	}
	if body[1] < valueVersion || body[1] > newest {
		return nil, 0, &CorruptionError{Key: key, Reason: fmt.Sprintf("unknown value version %d", body[1])}
	}
	return body[2:], body[1], nil
}

// fail records the first error and empties the decoder, so that every
// later read takes its slow path and returns a zero value.
func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = errors.New(what)
	}
	d.b = nil
}

// The readers below take the common case (a one-byte varint, a string
// shorter than 128 bytes) first and call out for the rest. After a failure
// d.b is empty, so they never read past an error. The month close's hot loop
// uses decodeTapFast instead (tapfast.go).

func (d *dec) u64() uint64 {
	if b := d.b; len(b) > 0 && b[0] < 0x80 { // one byte: most lengths, flags and small counters
		d.b = b[1:]
		return uint64(b[0])
	}
	return d.u64Long()
}

func (d *dec) u64Long() uint64 {
	v, n := uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i64() int64 {
	v, n := varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks it against the bytes left (every element
// takes at least one byte), so a corrupt length cannot allocate much.
func (d *dec) count() int {
	n := d.u64()
	if n > uint64(len(d.b)) {
		d.fail("length beyond value")
		return 0
	}
	return int(n)
}

// raw returns the next length-prefixed bytes, a slice of the value (not
// nil, possibly empty; nil after a failure).
func (d *dec) raw() []byte {
	if b := d.b; len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
		n := int(b[0]) + 1
		d.b = b[n:]
		return b[1:n:n]
	}
	return d.rawLong()
}

func (d *dec) rawLong() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.raw()) }

func (d *dec) bytes() []byte {
	v := d.raw()
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *dec) boolean() bool {
	if len(d.b) == 0 {
		d.fail("truncated bool")
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.fail("bad bool")
	}
	return v == 1
}

func (d *dec) u8() uint8 {
	v := d.u64()
	if v > math.MaxUint8 {
		d.fail("byte out of range")
	}
	return uint8(v)
}

func (d *dec) tm() time.Time { return d.tmIn(nil) }

// tmIn is tm with the fixed zones of decoded times shared through in when
// it is not nil, so that a stream of times in a few zones allocates no
// *time.Location per value.
func (d *dec) tmIn(in *interner) time.Time {
	if len(d.b) == 0 {
		d.fail("truncated time")
		return time.Time{}
	}
	tag := d.b[0]
	d.b = d.b[1:]
	switch tag {
	case 0:
		return time.Time{}
	case 1:
		t, ok := storedTime(d.i64(), d.i64(), in)
		if !ok {
			d.fail("zone offset out of range")
		}
		return t
	}
	d.fail("bad time tag")
	return time.Time{}
}

// storedTime is the instant ns (Unix nanoseconds) in the fixed zone of
// offset off seconds (UTC when 0), the zone shared through in when it is not
// nil; false, and the zero time, for an offset beyond ±18 h.
func storedTime(ns, off int64, in *interner) (time.Time, bool) {
	t := time.Unix(0, ns)
	switch {
	case off == 0:
		return t.UTC(), true
	case off < -18*3600 || off > 18*3600:
		return time.Time{}, false
	case in == nil:
		return t.In(time.FixedZone("", int(off))), true
	}
	return t.In(in.zone(off)), true
}

// done reports the sticky error, or trailing bytes, as corruption at key.
// more reports whether bytes remain: a record written before a field was
// appended to its kind ends before it.
func (d *dec) more() bool { return d.err == nil && len(d.b) > 0 }

func (d *dec) done(key []byte) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return &CorruptionError{Key: key, Reason: d.err.Error()}
	}
	return nil
}

// ---- records ----

// encodeTap encodes a journal value. Its field order is written out three
// times, here, in decodeTapInto and in decodeTapFast (tapfast.go), because
// the fast decoder is the month close's hot loop: change all three together.
// TestTapCodecsAgree holds them to each other on random records that set
// every field of engine.TapRecord, so a field added to the record and
// missing from one codec fails it.
func encodeTap(r *engine.TapRecord) []byte {
	e := newEnc(kindTap, 96+len(r.ID.Device)+len(r.Card)+len(r.Gate)+len(r.Pass)+len(r.Product)+len(r.Decision.Pass)+len(r.Decision.Product))
	e.str(r.ID.Device)
	e.u64(r.ID.Seq)
	e.str(r.Card)
	e.str(r.Gate)
	e.u64(uint64(r.Direction))
	e.tm(r.At)
	e.u64(uint64(r.Counter))
	e.boolean(r.HasCounter)
	e.boolean(r.ProofFailed)
	e.u64(r.JournalSeq)
	e.tm(r.RecordedAt)
	e.str(r.Venue)
	e.str(r.Pass)
	e.str(r.Product)
	e.str(r.TariffVersion)
	e.str(r.Category)
	d := &r.Decision
	e.boolean(d.Accept)
	e.u64(uint64(d.Reason))
	e.u64(uint64(d.Flags))
	e.str(d.Pass)
	e.str(d.Product)
	e.tm(d.ValidUntil)
	return e.finish()
}

func decodeTap(key, v []byte) (*engine.TapRecord, error) {
	r := &engine.TapRecord{}
	if err := decodeTapInto(key, v, r, nil); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeTapInto decodes a journal value into *r, overwriting every field.
// With an interner, low-cardinality strings (device, gate, venue, product,
// tariff version, category) are shared between records and the card and
// pass ids are carved from shared slabs: a journal scan then allocates a
// slab per few hundred records instead of ten strings per record. With a
// views interner (JournalBatches), the strings view v's bytes. Without one
// (nil), every string is its own copy.
func decodeTapInto(key, v []byte, r *engine.TapRecord, in *interner) error {
	payload, err := openFrame(key, v, kindTap)
	if err != nil {
		return err
	}
	if in != nil && decodeTapFast(payload, r, in) {
		return nil
	}
	d := dec{b: payload}
	*r = engine.TapRecord{}
	var t tapText
	t.device = d.raw()
	r.ID.Seq = d.u64()
	t.card = d.raw()
	t.gate = d.raw()
	r.Direction = engine.Direction(d.u8())
	r.At = d.tmIn(in)
	c := d.u64()
	if c > math.MaxUint32 {
		d.fail("counter out of range")
	}
	r.Counter = uint32(c)
	r.HasCounter = d.boolean()
	r.ProofFailed = d.boolean()
	r.JournalSeq = d.u64()
	r.RecordedAt = d.tmIn(in)
	t.venue = d.raw()
	t.pass = d.raw()
	t.product = d.raw()
	t.version = d.raw()
	t.category = d.raw()
	r.Decision.Accept = d.boolean()
	r.Decision.Reason = engine.Reason(d.u8())
	r.Decision.Flags = engine.Flags(d.u8())
	t.decPass = d.raw()
	t.decProduct = d.raw()
	r.Decision.ValidUntil = d.tmIn(in)
	if err := d.done(key); err != nil {
		return err
	}
	in.setTapText(r, &t)
	return nil
}

// tapText is the string fields of a tap value as they are stored, between
// reading them and making them strings.
type tapText struct {
	device, card, gate, venue, pass, product, version, category, decPass, decProduct []byte
}

// setTapText sets r's string fields from t, through in (nil: plain copies;
// in.views: views of t's bytes). The decision's pass is nearly always the
// tap's, and shares its string.
func (in *interner) setTapText(r *engine.TapRecord, t *tapText) {
	if in != nil && in.views {
		setTapViews(r, t)
		return
	}
	r.ID.Device = in.str(fDevice, t.device)
	r.Card, r.Pass = in.pair(t.card, t.pass)
	r.Gate = in.str(fGate, t.gate)
	r.Venue = in.str(fVenue, t.venue)
	r.Product = in.str(fProduct, t.product)
	r.TariffVersion = in.str(fTariffVersion, t.version)
	r.Category = in.str(fCategory, t.category)
	r.Decision.Product = in.str(fDecisionProduct, t.decProduct)
	if string(t.decPass) == string(t.pass) {
		r.Decision.Pass = r.Pass
	} else {
		r.Decision.Pass = string(t.decPass)
	}
}

// setTapViews sets r's string fields to views of t's bytes, without
// copying: the strings are valid only while those bytes are neither
// changed nor reused (JournalBatches: until fn returns).
func setTapViews(r *engine.TapRecord, t *tapText) {
	r.ID.Device = view(t.device)
	r.Card, r.Pass = view(t.card), view(t.pass)
	r.Gate = view(t.gate)
	r.Venue = view(t.venue)
	r.Product = view(t.product)
	r.TariffVersion = view(t.version)
	r.Category = view(t.category)
	r.Decision.Product = view(t.decProduct)
	r.Decision.Pass = view(t.decPass)
}

// view is b as a string sharing b's memory.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// interner shares the strings of a stream of decoded records. It is owned by
// one scan; the strings it returns are ordinary immutable Go strings, unless
// views is set: then setTapText makes views of the stored bytes instead
// (the strings of JournalBatches), and the interner only shares zones.
type interner struct {
	views    bool
	last     [internFields]string // the previous record's value per field
	m        map[string]string
	slab     []byte // the current slab of pair
	zones    map[int64]*time.Location
	lastOff  int64 // the zone offset last asked for, and its zone
	lastZone *time.Location
}

// zone returns the shared fixed zone of offset off (seconds east of UTC).
func (in *interner) zone(off int64) *time.Location {
	if in.lastZone != nil && off == in.lastOff {
		return in.lastZone
	}
	z := in.zones[off]
	if z == nil {
		z = time.FixedZone("", int(off))
		in.zones[off] = z
	}
	in.lastOff, in.lastZone = off, z
	return z
}

// internMax bounds the interned strings: beyond it (a field with many
// distinct values) strings are copied, not kept.
const internMax = 1 << 12

func newInterner() *interner {
	return &interner{m: make(map[string]string, 64), zones: map[int64]*time.Location{}}
}

// Interned fields of a tap record: each remembers its previous value, which
// the next record's usually repeats (a comparison is cheaper than a hash).
const (
	fDevice = iota
	fGate
	fVenue
	fProduct
	fTariffVersion
	fCategory
	fDecisionProduct
	internFields
)

// str returns b, field f of a record, as a string shared with earlier equal
// ones.
func (in *interner) str(f int, b []byte) string {
	if in == nil {
		return string(b)
	}
	if string(b) == in.last[f] {
		return in.last[f]
	}
	s, ok := in.m[string(b)] // the conversion does not allocate
	if !ok {
		s = string(b)
		if len(in.m) < internMax {
			in.m[s] = s
		}
	}
	in.last[f] = s
	return s
}

// pair returns a and b as strings that share memory: they are carved from
// append-only slabs of pairSlab bytes, one allocation for hundreds of
// records instead of one each. A slab's bytes are never written again once
// carved, so the strings are immutable and may be kept; a slab is freed
// when its last string is.
func (in *interner) pair(a, b []byte) (string, string) {
	if in == nil {
		return string(a), string(b)
	}
	n := len(a) + len(b)
	if n == 0 {
		return "", ""
	}
	if n > pairSlab/8 {
		s := string(append(append(make([]byte, 0, n), a...), b...))
		return s[:len(a)], s[len(a):]
	}
	if len(in.slab)+n > cap(in.slab) {
		in.slab = make([]byte, 0, pairSlab)
	}
	off := len(in.slab)
	in.slab = append(append(in.slab, a...), b...)
	s := unsafe.String(&in.slab[off], n)
	return s[:len(a)], s[len(a):]
}

// pairSlab is the size of the slabs of interner.pair.
const pairSlab = 16 << 10

func encodeStrings(e *enc, v []string) {
	e.u64(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}

func decodeStrings(d *dec) []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

func encodePass(p *engine.Pass) []byte {
	e := newEnc(kindPass, 160)
	e.str(p.ID)
	e.str(p.TariffVersion)
	e.str(p.Product)
	e.str(p.Category)
	e.str(p.Card)
	encodeStrings(e, p.Cards)
	e.tm(p.SoldAt)
	e.i64(p.PriceMinor)
	e.str(p.Currency)
	e.str(p.Channel)
	e.u64(uint64(p.Status))
	e.tm(p.FixedStart)
	e.tm(p.ActivatedAt)
	e.tm(p.ValidUntil)
	e.tm(p.ActivateBy)
	e.tm(p.RefundedAt)
	return e.finish()
}

func decodePass(key, v []byte) (*engine.Pass, error) {
	d, err := openValue(key, v, kindPass)
	if err != nil {
		return nil, err
	}
	p := &engine.Pass{}
	p.ID = d.str()
	p.TariffVersion = d.str()
	p.Product = d.str()
	p.Category = d.str()
	p.Card = d.str()
	p.Cards = decodeStrings(d)
	p.SoldAt = d.tm()
	p.PriceMinor = d.i64()
	p.Currency = d.str()
	p.Channel = d.str()
	p.Status = engine.PassStatus(d.u8())
	p.FixedStart = d.tm()
	p.ActivatedAt = d.tm()
	p.ValidUntil = d.tm()
	p.ActivateBy = d.tm()
	p.RefundedAt = d.tm()
	return p, d.done(key)
}

// encodeCard writes version 1, or version 2 (ReplacedAt appended) when the
// card was replaced at a known time.
func encodeCard(c *engine.Card) []byte {
	version := byte(valueVersion)
	if !c.ReplacedAt.IsZero() {
		version = cardVersionReplaced
	}
	e := newEncVersion(kindCard, version, 96)
	e.str(c.UID)
	encodeStrings(e, c.Passes)
	e.boolean(c.Revoked)
	e.str(c.ReplacedBy)
	e.boolean(c.Blocked)
	e.str(c.BlockReason)
	e.tm(c.BlockedAt)
	e.u64(uint64(c.LastCounter))
	e.boolean(c.HasCounter)
	if version >= cardVersionReplaced {
		e.tm(c.ReplacedAt)
	}
	return e.finish()
}

func decodeCard(key, v []byte) (*engine.Card, error) {
	payload, version, err := openFrameUpTo(key, v, kindCard, cardVersionReplaced)
	if err != nil {
		return nil, err
	}
	d := &dec{b: payload}
	c := &engine.Card{}
	c.UID = d.str()
	c.Passes = decodeStrings(d)
	c.Revoked = d.boolean()
	c.ReplacedBy = d.str()
	c.Blocked = d.boolean()
	c.BlockReason = d.str()
	c.BlockedAt = d.tm()
	n := d.u64()
	if n > math.MaxUint32 {
		d.fail("counter out of range")
	}
	c.LastCounter = uint32(n)
	c.HasCounter = d.boolean()
	if version >= cardVersionReplaced {
		c.ReplacedAt = d.tm()
		if c.ReplacedAt.IsZero() {
			d.fail("version 2 card without its replacement time")
		}
	}
	return c, d.done(key)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// encodeUsage writes a pass's visits (canonical order, each tap id once):
// a table of the distinct venue, gate and device strings, then per visit
// its time, venue, gate and device as table indexes, and its seq.
func encodeUsage(u *engine.Usage) []byte {
	idx := make(map[string]uint64, 8)
	var table []string
	ref := func(s string) uint64 {
		i, ok := idx[s]
		if !ok {
			i = uint64(len(table))
			idx[s] = i
			table = append(table, s)
		}
		return i
	}
	refs := make([]uint64, 0, 3*len(u.Visits))
	for i := range u.Visits {
		v := &u.Visits[i]
		refs = append(refs, ref(v.Venue), ref(v.Gate), ref(v.Tap.Device))
	}
	e := newEnc(kindUsage, 16+24*len(u.Visits))
	e.u64(uint64(len(table)))
	for _, s := range table {
		e.str(s)
	}
	e.u64(uint64(len(u.Visits)))
	for i := range u.Visits {
		v := &u.Visits[i]
		e.tm(v.At)
		e.u64(refs[3*i])
		e.u64(refs[3*i+1])
		e.u64(refs[3*i+2])
		e.u64(v.Tap.Seq)
	}
	return e.finish()
}

// decodeUsage reads what encodeUsage wrote and verifies that the visits
// are in strictly rising canonical order (which also makes tap ids unique
// among visits of one time).
func decodeUsage(key, v []byte) (engine.Usage, error) {
	d, err := openValue(key, v, kindUsage)
	if err != nil {
		return engine.Usage{}, err
	}
	var u engine.Usage
	table := make([]string, d.count())
	for i := range table {
		table[i] = d.str()
	}
	str := func() string {
		i := d.u64()
		if i >= uint64(len(table)) {
			d.fail(fmt.Sprintf("string index %d outside a table of %d", i, len(table)))
			return ""
		}
		return table[i]
	}
	if n := d.count(); n > 0 {
		u.Visits = make([]engine.Visit, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			var v engine.Visit
			v.At = d.tm()
			v.Venue, v.Gate, v.Tap.Device = str(), str(), str()
			v.Tap.Seq = d.u64()
			if i > 0 && d.err == nil && engine.CompareVisits(&u.Visits[i-1], &v) >= 0 {
				d.fail(fmt.Sprintf("visit %d (%s) is not after visit %d (%s)", i, v.Tap, i-1, u.Visits[i-1].Tap))
			}
			u.Visits = append(u.Visits, v)
		}
	}
	return u, d.done(key)
}

func encodePosting(p *engine.Posting) []byte {
	e := newEnc(kindPosting, 64+32*len(p.Lines))
	e.str(p.ID)
	e.tm(p.At)
	e.str(p.Kind)
	e.str(p.Ref)
	e.u64(uint64(len(p.Lines)))
	for _, l := range p.Lines {
		e.str(l.Account)
		e.i64(l.DebitMinor)
		e.i64(l.CreditMinor)
	}
	return e.finish()
}

func decodePosting(key, v []byte) (*engine.Posting, error) {
	d, err := openValue(key, v, kindPosting)
	if err != nil {
		return nil, err
	}
	p := &engine.Posting{}
	p.ID = d.str()
	p.At = d.tm()
	p.Kind = d.str()
	p.Ref = d.str()
	n := d.count()
	if n > 0 {
		p.Lines = make([]engine.PostingLine, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		p.Lines = append(p.Lines, engine.PostingLine{Account: d.str(), DebitMinor: d.i64(), CreditMinor: d.i64()})
	}
	return p, d.done(key)
}

// Balance is an account's running totals over every posting, in minor units.
type Balance struct {
	Account     string
	DebitMinor  int64
	CreditMinor int64
	Postings    uint64 // lines posted to the account
}

func encodeBalance(b *Balance) []byte {
	e := newEnc(kindBalance, 32+len(b.Account))
	e.str(b.Account)
	e.i64(b.DebitMinor)
	e.i64(b.CreditMinor)
	e.u64(b.Postings)
	return e.finish()
}

func decodeBalance(key, v []byte) (*Balance, error) {
	d, err := openValue(key, v, kindBalance)
	if err != nil {
		return nil, err
	}
	b := &Balance{Account: d.str(), DebitMinor: d.i64(), CreditMinor: d.i64(), Postings: d.u64()}
	return b, d.done(key)
}

// StoredTariff is one tariff version as loaded: its id and the raw TOML.
type StoredTariff struct {
	ID   string
	TOML []byte
	// Ordinal is the load order, from 1.
	Ordinal uint64
}

func encodeTariff(t *StoredTariff) []byte {
	e := newEnc(kindTariff, 16+len(t.ID)+len(t.TOML))
	e.str(t.ID)
	e.u64(t.Ordinal)
	e.bytes(t.TOML)
	return e.finish()
}

func decodeTariff(key, v []byte) (*StoredTariff, error) {
	d, err := openValue(key, v, kindTariff)
	if err != nil {
		return nil, err
	}
	t := &StoredTariff{ID: d.str(), Ordinal: d.u64(), TOML: d.bytes()}
	return t, d.done(key)
}

// encodeU64 frames a single number (tap-id index → journal seq, counters).
func encodeU64(kind byte, v uint64) []byte {
	e := newEnc(kind, 10)
	e.u64(v)
	return e.finish()
}

func decodeU64(key, v []byte, kind byte) (uint64, error) {
	d, err := openValue(key, v, kind)
	if err != nil {
		return 0, err
	}
	n := d.u64()
	return n, d.done(key)
}

func encodeBytes(kind byte, v []byte) []byte {
	e := newEnc(kind, len(v)+4)
	e.bytes(v)
	return e.finish()
}

func decodeBytes(key, v []byte, kind byte) ([]byte, error) {
	d, err := openValue(key, v, kind)
	if err != nil {
		return nil, err
	}
	b := d.bytes()
	if b == nil {
		b = []byte{}
	}
	return b, d.done(key)
}

// emptyValue is the framed value of index keys that carry everything in the
// key (the time index): still framed, so every value is checksummed.
var emptyValue = newEnc(kindTimeIndex, 0).finish()

// EncodeTapRecord returns a tap record in the ledger's own framed encoding
// (kind, version, fields, CRC-32C): the one layout of a tap record, used
// also to carry records between ledgers (docs/fleet.md, "Uploads").
func EncodeTapRecord(r *engine.TapRecord) []byte { return encodeTap(r) }

// DecodeTapRecord reads what EncodeTapRecord wrote, verifying its frame.
func DecodeTapRecord(b []byte) (engine.TapRecord, error) {
	r, err := decodeTap([]byte("upload"), b)
	if err != nil {
		return engine.TapRecord{}, err
	}
	return *r, nil
}
