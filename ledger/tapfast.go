package ledger

import (
	"encoding/binary"
	"math"
	"math/bits"
	"time"

	"github.com/citypass/citypass/engine"
)

// decodeTapFast decodes the payload of a journal value (the frame already
// checked) into *r when it is in the shape nearly every tap has: strings
// shorter than 128 bytes, varints of at most 9 bytes, values in range, no
// trailing bytes. It reports false, with *r partly written, for anything
// else, and the caller decodes the value again with dec, which is the
// authority on what is valid and says what is wrong. It exists because a
// month's close decodes every tap of the journal: it has none of dec's error
// plumbing, and its readers are inlined where dec's are calls.
// TestTapCodecsAgree, TestDecodeTapFastAgrees and FuzzDecode hold the two to
// the same results (and to encodeTap's field order).
func decodeTapFast(p []byte, r *engine.TapRecord, in *interner) bool {
	d := tapFast{b: p}
	var t tapText
	t.device = d.str()
	r.ID.Seq = d.uv()
	t.card = d.str()
	t.gate = d.str()
	dir := d.byte1()
	r.At = d.tm(in)
	counter, ok := d.one()
	if !ok {
		counter = d.uv()
	}
	r.HasCounter = d.boolean()
	r.ProofFailed = d.boolean()
	r.JournalSeq = d.uv()
	r.RecordedAt = d.tm(in)
	t.venue = d.str()
	t.pass = d.str()
	t.product = d.str()
	t.version = d.str()
	t.category = d.str()
	r.Decision.Accept = d.boolean()
	reason := d.byte1()
	flags := d.byte1()
	t.decPass = d.str()
	t.decProduct = d.str()
	r.Decision.ValidUntil = d.tm(in)
	if d.bad || d.i != len(d.b) || dir > math.MaxUint8 || counter > math.MaxUint32 || reason > math.MaxUint8 || flags > math.MaxUint8 {
		return false
	}
	r.Direction = engine.Direction(dir)
	r.Counter = uint32(counter)
	r.Decision.Reason = engine.Reason(reason)
	r.Decision.Flags = engine.Flags(flags)
	in.setTapText(r, &t)
	return true
}

// tapFast reads a payload by index; the first read that does not fit the
// fast shape sets bad, and later reads return zero values.
type tapFast struct {
	b   []byte
	i   int
	bad bool
}

// str reads a string of fewer than 128 bytes.
func (d *tapFast) str() []byte {
	i := d.i
	if i < len(d.b) {
		if n := int(d.b[i]); n < 0x80 && n < len(d.b)-i {
			d.i = i + 1 + n
			return d.b[i+1 : i+1+n : i+1+n]
		}
	}
	d.bad = true
	return nil
}

// one reads a one-byte uvarint; false (and nothing read) when the next one
// is longer. Inlined, unlike uv: most small fields take one byte.
func (d *tapFast) one() (uint64, bool) {
	if i := d.i; i < len(d.b) && d.b[i] < 0x80 {
		d.i = i + 1
		return uint64(d.b[i]), true
	}
	return 0, false
}

// byte1 reads a one-byte uvarint, for the byte-sized fields (direction,
// reason, flags); a longer one (a flag set at 0x80 or above) is left to the
// general decoder.
func (d *tapFast) byte1() uint64 {
	v, ok := d.one()
	if !ok {
		d.bad = true
	}
	return v
}

// uv reads a uvarint of at most 9 bytes.
func (d *tapFast) uv() uint64 {
	i := d.i
	if i < len(d.b) && d.b[i] < 0x80 {
		d.i = i + 1
		return uint64(d.b[i])
	}
	if len(d.b)-i >= 9 {
		x := binary.LittleEndian.Uint64(d.b[i:])
		if stops := ^x & 0x8080808080808080; stops != 0 {
			n := bits.TrailingZeros64(stops)/8 + 1
			d.i = i + n
			return compact7(x & (1<<(8*n) - 1))
		}
		if d.b[i+8] < 0x80 {
			d.i = i + 9
			return compact7(x) | uint64(d.b[i+8])<<56
		}
		d.bad = true
		return 0
	}
	return d.uvTail()
}

// uvTail reads a uvarint from the last 8 bytes of the payload, a byte at a
// time (the zone offset of the last time ends the payload).
func (d *tapFast) uvTail() uint64 {
	var v uint64
	for k, i := uint(0), d.i; i < len(d.b); k, i = k+7, i+1 {
		c := d.b[i]
		v |= uint64(c&0x7f) << k
		if c < 0x80 {
			d.i = i + 1
			return v
		}
	}
	d.bad = true
	return 0
}

func (d *tapFast) boolean() bool {
	i := d.i
	if i < len(d.b) && d.b[i] <= 1 {
		d.i = i + 1
		return d.b[i] == 1
	}
	d.bad = true
	return false
}

// tm reads a time as enc.tm wrote it.
func (d *tapFast) tm(in *interner) time.Time {
	i := d.i
	if i >= len(d.b) || d.b[i] > 1 {
		d.bad = true
		return time.Time{}
	}
	d.i = i + 1
	if d.b[i] == 0 {
		return time.Time{}
	}
	t, ok := storedTime(unzigzag(d.uv()), unzigzag(d.uv()), in)
	if !ok {
		d.bad = true
	}
	return t
}
