package ledger

import (
	"encoding/binary"
	"math/bits"
)

// uvarint decodes like binary.Uvarint, the same values, lengths and errors
// for every input, but a varint of up to 9 bytes that has 8 bytes to read
// is decoded from one 8-byte load without a loop: journal values hold three
// 9-byte nanosecond times each, and a journal scan decodes them all.
func uvarint(b []byte) (uint64, int) {
	if len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if stops := ^x & 0x8080808080808080; stops != 0 {
			n := bits.TrailingZeros64(stops)/8 + 1 // bytes used, 1 to 8
			return compact7(x & (1<<(8*n) - 1)), n // n == 8: 1<<64 is 0, the mask all ones
		}
		if len(b) >= 9 && b[8] < 0x80 {
			return compact7(x) | uint64(b[8])<<56, 9
		}
	}
	return binary.Uvarint(b)
}

// compact7 packs the low 7 bits of each of x's 8 bytes (little endian) into
// 56 bits.
func compact7(x uint64) uint64 {
	x &= 0x7f7f7f7f7f7f7f7f
	x = x&0x007f007f007f007f | (x&0x7f007f007f007f00)>>1
	x = x&0x00003fff00003fff | (x&0x3fff00003fff0000)>>2
	return x&0x000000000fffffff | (x&0x0fffffff00000000)>>4
}

// varint decodes like binary.Varint (zig-zag over uvarint).
func varint(b []byte) (int64, int) {
	ux, n := uvarint(b)
	return unzigzag(ux), n
}

// unzigzag undoes the zig-zag encoding of binary.AppendVarint.
func unzigzag(ux uint64) int64 {
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}
