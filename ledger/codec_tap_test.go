package ledger

// The field order of a journal value is written out three times, for
// speed: encodeTap, the general decoder (decodeTapInto) and the fast one
// (decodeTapFast). These tests hold the three together on random records
// that set every field of engine.TapRecord, found by reflection: a field
// added to the record and not to all three codecs fails here.
// TestDecodeTapFastAgrees adds every truncation and single-byte change of
// taps of every shape.

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// randomFill sets every field reachable from v (a pointer to a struct) to a
// random value: strings of 0 to 300 bytes (mostly short), integers across
// their whole range (mostly small), times at any instant in a zone of any
// whole-minute offset within ±18 h, or zero.
func randomFill(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		randomFill(rng, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(randomTime(rng)))
			return
		}
		for i := range v.NumField() {
			randomFill(rng, v.Field(i))
		}
	case reflect.String:
		n := rng.IntN(20)
		if rng.IntN(8) == 0 {
			n = rng.IntN(300)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		v.SetString(string(b))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x := rng.Uint64()
		if rng.IntN(2) == 0 {
			x %= 128
		}
		if bits := 8 * v.Type().Size(); bits < 64 {
			x &= 1<<bits - 1
		}
		v.SetUint(x)
	default:
		panic("randomFill: a TapRecord field of kind " + v.Kind().String() + " needs a case here and in the codec")
	}
}

func randomTime(rng *rand.Rand) time.Time {
	if rng.IntN(6) == 0 {
		return time.Time{}
	}
	t := time.Unix(0, rng.Int64()-math.MaxInt64/2)
	off := (rng.IntN(2*18*60+1) - 18*60) * 60
	if rng.IntN(3) == 0 || off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", off))
}

// decodeAll decodes v in the three string modes: own copies, interned with
// a record reused across values, and views (JournalBatches).
func decodeAll(t *testing.T, key, v []byte, in, views *interner, reused *engine.TapRecord) (*engine.TapRecord, error) {
	t.Helper()
	want, err := decodeTap(key, v)
	errIn := decodeTapInto(key, v, reused, in)
	var viewed engine.TapRecord
	errViews := decodeTapInto(key, v, &viewed, views)
	require.Equal(t, err == nil, errIn == nil, "copies: %v, interned: %v (%x)", err, errIn, v)
	require.Equal(t, err == nil, errViews == nil, "copies: %v, views: %v (%x)", err, errViews, v)
	if err != nil {
		require.ErrorIs(t, err, ErrCorrupt)
		return nil, err
	}
	require.Equal(t, *want, *reused, "%x", v)
	require.Equal(t, *want, viewed, "%x", v)
	return want, nil
}

func newViews() *interner {
	in := newInterner()
	in.views = true
	return in
}

// TestTapCodecsAgree: every random record decodes to itself with the
// general decoder and, when its shape fits, with the fast one; in all three
// string modes; and it re-encodes to the same bytes.
func TestTapCodecsAgree(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 21))
	in, views := newInterner(), newViews()
	var reused engine.TapRecord
	key := journalKey(1)
	fastN := 0
	for range 20000 {
		var r engine.TapRecord
		randomFill(rng, reflect.ValueOf(&r))
		if rng.IntN(2) == 0 {
			r.Decision.Pass = r.Pass // as nearly every tap has it
		}
		v := encodeTap(&r)
		got, err := decodeAll(t, key, v, in, views, &reused)
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, r, *got, "seed %d", seed)
		require.Equal(t, v, encodeTap(got), "seed %d: decoding then encoding gives the same bytes", seed)

		payload, err := openFrame(key, v, kindTap)
		require.NoError(t, err)
		var fast engine.TapRecord
		if decodeTapFast(payload, &fast, in) {
			fastN++
			require.Equal(t, r, fast, "seed %d", seed)
		} else {
			require.True(t, outsideFastShape(&r), "seed %d: the fast decoder declined %+v", seed, r)
		}
	}
	require.Greater(t, fastN, 1000, "the fast decoder took too few records to prove anything")
}

// outsideFastShape reports whether r has a field the fast decoder leaves to
// the general one: a string of 128 bytes or more, a 10-byte varint, a
// byte-sized field of 128 or more.
func outsideFastShape(r *engine.TapRecord) bool {
	for _, s := range []string{r.ID.Device, r.Card, r.Gate, r.Venue, r.Pass, r.Product, r.TariffVersion, r.Category, r.Decision.Pass, r.Decision.Product} {
		if len(s) >= 128 {
			return true
		}
	}
	for _, u := range []uint64{r.ID.Seq, r.JournalSeq} {
		if u >= 1<<63 {
			return true
		}
	}
	for _, tm := range []time.Time{r.At, r.RecordedAt, r.Decision.ValidUntil} {
		if !tm.IsZero() && (tm.UnixNano() >= 1<<62 || tm.UnixNano() < -(1<<62)) { // zig-zag needs 10 bytes
			return true
		}
	}
	return r.Direction >= 128 || r.Decision.Reason >= 128 || r.Decision.Flags >= 128
}

func TestTapCodecRandomFillSetsEveryField(t *testing.T) {
	// A guard on the guard: every leaf of a filled record can be non-zero.
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for range 200 {
		var r engine.TapRecord
		randomFill(rng, reflect.ValueOf(&r))
		markSet(reflect.ValueOf(r), "", seen)
	}
	var all []string
	leaves(reflect.TypeFor[engine.TapRecord](), "", &all)
	for _, f := range all {
		require.True(t, seen[f], "randomFill never set %s", f)
	}
}

func leaves(ty reflect.Type, path string, out *[]string) {
	if ty.Kind() != reflect.Struct || ty == reflect.TypeFor[time.Time]() {
		*out = append(*out, path)
		return
	}
	for i := range ty.NumField() {
		leaves(ty.Field(i).Type, path+"."+ty.Field(i).Name, out)
	}
}

func markSet(v reflect.Value, path string, seen map[string]bool) {
	if v.Kind() != reflect.Struct || v.Type() == reflect.TypeFor[time.Time]() {
		if !v.IsZero() {
			seen[path] = true
		}
		return
	}
	for i := range v.NumField() {
		markSet(v.Field(i), path+"."+v.Type().Field(i).Name, seen)
	}
}
