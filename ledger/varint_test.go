package ledger

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVarintMatchesEncodingBinary: uvarint and varint decode every encoded
// value, padded or not, exactly as encoding/binary does, and agree with it
// on malformed input (overlong, truncated, overflowing).
func TestVarintMatchesEncodingBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(b []byte) {
		wu, wn := binary.Uvarint(b)
		gu, gn := uvarint(b)
		require.Equal(t, wn, gn, "uvarint length of % x", b)
		require.Equal(t, wu, gu, "uvarint value of % x", b)
		wv, wn := binary.Varint(b)
		gv, gn := varint(b)
		require.Equal(t, wn, gn, "varint length of % x", b)
		require.Equal(t, wv, gv, "varint value of % x", b)
	}
	values := []uint64{0, 1, 127, 128, 255, 16383, 16384, math.MaxUint32, 1<<56 - 1, 1 << 56, 1<<63 - 1, 1 << 63, math.MaxUint64}
	for shift := 0; shift < 64; shift++ {
		values = append(values, 1<<shift, 1<<shift-1, 1<<shift+1)
	}
	for i := 0; i < 20000; i++ {
		values = append(values, rng.Uint64()>>rng.IntN(64))
	}
	for _, v := range values {
		enc := binary.AppendUvarint(nil, v)
		for pad := 0; pad <= 10; pad++ {
			b := append(append([]byte(nil), enc...), make([]byte, pad)...)
			for i := len(enc); i < len(b); i++ {
				b[i] = byte(rng.Uint32())
			}
			check(b)
			check(b[:len(enc)-1]) // truncated
		}
		senc := binary.AppendVarint(nil, int64(v))
		check(append(senc, 0x80, 0x80, 0x01))
	}
	for i := 0; i < 50000; i++ { // arbitrary bytes: overlong, overflowing, unterminated
		b := make([]byte, rng.IntN(14))
		for j := range b {
			b[j] = byte(rng.Uint32()) | byte(rng.IntN(2))<<7
		}
		check(b)
	}
	check([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // MaxUint64
	check([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}) // overflow
	check([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00})
}

func FuzzVarint(f *testing.F) {
	f.Add([]byte{0x80, 0x01})
	f.Add(binary.AppendVarint(nil, 1_780_000_000_000_000_000))
	f.Fuzz(func(t *testing.T, b []byte) {
		wu, wn := binary.Uvarint(b)
		gu, gn := uvarint(b)
		if wu != gu || wn != gn {
			t.Fatalf("uvarint(% x) = %d, %d; encoding/binary: %d, %d", b, gu, gn, wu, wn)
		}
	})
}

func BenchmarkUvarintTime(b *testing.B) {
	enc := binary.AppendVarint(nil, 1_780_000_000_123_456_789)
	enc = append(enc, 0, 0, 0)
	b.Run("binary", func(b *testing.B) {
		for b.Loop() {
			binary.Varint(enc)
		}
	})
	b.Run("ledger", func(b *testing.B) {
		for b.Loop() {
			varint(enc)
		}
	})
}
