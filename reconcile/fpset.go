package reconcile

import (
	"encoding/binary"
	"hash/maphash"
)

// fp is a 128-bit fingerprint: two 64-bit maphash sums under independent
// random seeds.
type fp [2]uint64

// fpSeeds key the fingerprints of this process. Fingerprints live only in
// memory, within one close, so they need not be stable across processes; a
// random key also means no input can be crafted to collide.
var fpSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// fingerprint hashes the parts of a key (each length-prefixed, so parts
// cannot run into each other) and an integer. It used to be a truncated
// SHA-256, which cost a tenth of a close.
func fingerprint(buf []byte, n int32, parts ...string) (fp, []byte) {
	b := buf[:0]
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return fp{maphash.Bytes(fpSeeds[0], b), maphash.Bytes(fpSeeds[1], b)}, b
}

// fpCounts is an open-addressing hash table from fingerprints to counts:
// 20 bytes a slot, at most 3/4 full, so a million keys take 32-40 MB
// instead of a Go map of strings' 130. The zero fingerprint is kept aside.
type fpCounts struct {
	keys   []fp
	counts []int32
	n      int
	zero   int32
	hasZ   bool
}

// slot returns the index of k, or of the empty slot where it goes.
func (t *fpCounts) slot(k fp) int {
	mask := len(t.keys) - 1
	i := int(k[0]) & mask
	for t.keys[i] != (fp{}) && t.keys[i] != k {
		i = (i + 1) & mask
	}
	return i
}

// get returns the count of k (0 when absent).
func (t *fpCounts) get(k fp) int32 {
	if k == (fp{}) {
		return t.zero
	}
	if len(t.keys) == 0 {
		return 0
	}
	return t.counts[t.slot(k)]
}

// add adds d to the count of k and returns the new count.
func (t *fpCounts) add(k fp, d int32) int32 {
	if k == (fp{}) {
		t.hasZ = true
		t.zero += d
		return t.zero
	}
	if (t.n+1)*4 > len(t.keys)*3 {
		t.grow()
	}
	i := t.slot(k)
	if t.keys[i] == (fp{}) {
		t.keys[i] = k
		t.n++
	}
	t.counts[i] += d
	return t.counts[i]
}

func (t *fpCounts) grow() {
	keys, counts := t.keys, t.counts
	size := max(2*len(keys), 1024)
	t.keys, t.counts = make([]fp, size), make([]int32, size)
	for i, k := range keys {
		if k != (fp{}) {
			j := t.slot(k)
			t.keys[j], t.counts[j] = k, counts[i]
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
