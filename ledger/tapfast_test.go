package ledger

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// TestDecodeTapFastAgrees: on taps of every shape, and on every truncation
// and every single-byte change of them (re-framed, so that the checksum
// passes and the payload decoder is what is tested), the fast tap decoder
// either declines or gives exactly what the general decoder gives, and it
// never accepts what the general decoder rejects.
func TestDecodeTapFastAgrees(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 59, 59, 999999999, time.FixedZone("", 3600))
	base := engine.TapRecord{
		Tap: engine.Tap{ID: engine.TapID{Device: "rtm-metro-g07", Seq: 123456}, Card: "04A1B2C3D4E5F6", Gate: "rtm-metro-g07",
			Direction: engine.Entry, At: at, Counter: 42, HasCounter: true},
		JournalSeq: 987654, RecordedAt: at.Add(time.Millisecond).UTC(), Venue: "rtm-metro", Pass: "P-7Q2M4X9K3T5W8ZJ1",
		Product: "cp72-adult", TariffVersion: "marseille-2026", Category: "adult",
		Decision: engine.Decision{Accept: true, Pass: "P-7Q2M4X9K3T5W8ZJ1", Product: "cp72-adult", ValidUntil: at.Add(72 * time.Hour)},
	}
	// fast: the fast decoder takes the shape (not a string of 128 bytes or
	// more, a 10-byte varint, nor a byte-sized field of 128 or more).
	shapes := []struct {
		fast bool
		f    func(r *engine.TapRecord)
	}{
		{true, func(*engine.TapRecord) {}},
		{true, func(r *engine.TapRecord) {
			r.At, r.RecordedAt, r.Decision.ValidUntil = time.Time{}, time.Time{}, time.Time{}
		}},
		{true, func(r *engine.TapRecord) { r.Card, r.Pass, r.Decision.Pass, r.Decision.Product = "", "", "", "" }},
		{true, func(r *engine.TapRecord) { r.Decision.Pass = "P-OTHER" }},
		{true, func(r *engine.TapRecord) { r.Counter, r.ID.Seq, r.JournalSeq = math.MaxUint32, math.MaxInt64, 1<<63-1 }},
		{false, func(r *engine.TapRecord) { r.ID.Seq, r.JournalSeq = math.MaxUint64, 1<<63 }},
		{false, func(r *engine.TapRecord) { r.Gate = strings.Repeat("g", 200) }},
		{true, func(r *engine.TapRecord) { r.Gate = strings.Repeat("g", 127) }},
		{true, func(r *engine.TapRecord) { r.At = time.Unix(-1e9, 5).In(time.FixedZone("", -18*3600)) }},
		{true, func(r *engine.TapRecord) { r.Decision.Reason, r.Decision.Flags, r.ProofFailed = 127, 127, true }},
		{false, func(r *engine.TapRecord) { r.Decision.Reason, r.Decision.Flags = 255, 255 }}, // two-byte varints
	}
	in := newInterner()
	key := journalKey(1)
	check := func(v []byte) {
		t.Helper()
		payload, err := openFrame(key, v, kindTap)
		if err != nil {
			return
		}
		var want engine.TapRecord
		wantErr := decodeTapInto(key, v, &want, nil)
		var got engine.TapRecord
		if decodeTapFast(payload, &got, in) {
			require.NoError(t, wantErr, "the fast decoder accepted what the general one rejects: %x", v)
			require.Equal(t, want, got, "%x", v)
		}
	}
	for _, shape := range shapes {
		r := base
		shape.f(&r)
		v := encodeTap(&r)
		payload, err := openFrame(key, v, kindTap)
		require.NoError(t, err)
		var got engine.TapRecord
		require.Equal(t, shape.fast, decodeTapFast(payload, &got, in), "%+v", r)
		want, err := decodeTap(key, v)
		require.NoError(t, err)
		if shape.fast {
			require.Equal(t, *want, got)
		}
		body := v[:len(v)-4]
		for n := 2; n < len(body); n++ {
			check(reframe(body[:n]))
		}
		for i := 2; i < len(body); i++ {
			for _, b := range []byte{0, 1, 2, 0x7f, 0x80, 0x81, 0xff, body[i] ^ 0x80, body[i] + 1, body[i] - 1} {
				m := append([]byte(nil), body...)
				m[i] = b
				check(reframe(m))
			}
		}
		check(reframe(append(append([]byte(nil), body...), 0))) // a trailing byte
	}
}

// reframe appends the checksum of body, a kind, version and payload.
func reframe(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, crcTable))
}
