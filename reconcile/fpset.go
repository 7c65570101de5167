package reconcile

import (
	"encoding/binary"
	"hash/maphash"
)

// fp is a 96-bit fingerprint: a 64-bit maphash sum and 32 bits of a second
// one, under independent random seeds. A close keys a few million pass-days
// by fingerprint: the chance that two of them collide is about n²/2^97,
// under 10^-16 for 3 million; and 96 bits and a count make a 16-byte slot,
// four to a cache line (a lookup misses the CPU caches once).
type fp struct {
	a uint64
	b uint32
}

// fpSeeds key the fingerprints of this process. Fingerprints live only in
// memory, within one close, so they need not be stable across processes; a
// random key also means no input can be crafted to collide.
var fpSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// fingerprint hashes the parts of a key (each length-prefixed, so parts
// cannot run into each other) and an integer, with maphash: a close
// fingerprints a key for nearly every tap.
func fingerprint(buf []byte, n int32, parts ...string) (fp, []byte) {
	b := buf[:0]
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return fp{maphash.Bytes(fpSeeds[0], b), uint32(maphash.Bytes(fpSeeds[1], b))}, b
}

// fpCounts is an open-addressing hash table from fingerprints to counts:
// 16 bytes a slot, at most 3/4 full, so a million keys take 21-32 MB
// instead of a Go map of strings' 130. A key and its count share a slot, so
// a lookup in a table far bigger than the CPU caches misses once, not twice
// (a close looks up a pass-day for every tap). The zero fingerprint is kept
// aside.
type fpCounts struct {
	slots []fpSlot
	n     int
	zero  int32
	hasZ  bool
}

// fpSlot is a fingerprint and its count, flat: a struct fp inside would be
// padded to 16 bytes and the slot to 24.
type fpSlot struct {
	a uint64
	b uint32
	n int32
}

func (s *fpSlot) key() fp { return fp{s.a, s.b} }

// slot returns the index of k, or of the empty slot where it goes.
func (t *fpCounts) slot(k fp) int {
	mask := len(t.slots) - 1
	i := int(k.a) & mask
	for {
		s := &t.slots[i]
		if s.a == k.a && s.b == k.b || s.a == 0 && s.b == 0 {
			return i
		}
		i = (i + 1) & mask
	}
}

// get returns the count of k (0 when absent).
func (t *fpCounts) get(k fp) int32 {
	if k == (fp{}) {
		return t.zero
	}
	if len(t.slots) == 0 {
		return 0
	}
	return t.slots[t.slot(k)].n
}

// add adds d to the count of k and returns the new count.
func (t *fpCounts) add(k fp, d int32) int32 {
	if k == (fp{}) {
		t.hasZ = true
		t.zero += d
		return t.zero
	}
	s := t.place(k)
	s.n += d
	return s.n
}

// addBelow adds 1 to the count of k if it is below limit, and reports
// whether it did: one lookup where get then add take two.
func (t *fpCounts) addBelow(k fp, limit int32) bool {
	if k == (fp{}) {
		if t.zero >= limit {
			return false
		}
		t.hasZ = true
		t.zero++
		return true
	}
	s := t.place(k)
	if s.n >= limit {
		return false
	}
	s.n++
	return true
}

// place returns k's slot, taking an empty one (count 0) when k is absent.
func (t *fpCounts) place(k fp) *fpSlot {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	s := &t.slots[t.slot(k)]
	if s.key() == (fp{}) {
		s.a, s.b = k.a, k.b
		t.n++
	}
	return s
}

func (t *fpCounts) grow() {
	old := t.slots
	t.slots = make([]fpSlot, max(2*len(old), 1024))
	for _, s := range old {
		if s.key() != (fp{}) {
			t.slots[t.slot(s.key())] = s
		}
	}
}

// len is the number of keys.
func (t *fpCounts) len() int {
	if t.hasZ {
		return t.n + 1
	}
	return t.n
}
