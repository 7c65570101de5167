package cardio

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

func key(t testing.TB, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	require.NoError(t, err)
	return k
}

func block(t testing.TB, s string) [16]byte {
	t.Helper()
	var b [16]byte
	require.Equal(t, 16, copy(b[:], unhex(t, s)))
	return b
}

// RFC 4493 §4, examples 1–4.
func TestCMACRFC4493(t *testing.T) {
	k := unhex(t, "2b7e151628aed2a6abf7158809cf4f3c")
	msg := unhex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"example 1 empty", 0, "bb1d6929e95937287fa37d129b756746"},
		{"example 2 16 bytes", 16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{"example 3 40 bytes", 40, "dfa66747de9ae63030ca32611497c827"},
		{"example 4 64 bytes", 64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CMAC(k, msg[:tc.n])
			require.NoError(t, err)
			assert.Equal(t, tc.want, hex.EncodeToString(got[:]))
		})
	}
}

// CMAC subkeys for key 00112233…EEFF (proxmark3 desfiretest.c TestCMACSubkeys).
func TestCMACSubkeys(t *testing.T) {
	k := key(t, "00112233445566778899AABBCCDDEEFF")
	c := mustCipher(t, k)
	k1, k2 := cmacSubkeys(c)
	assert.Equal(t, "FBC9F75C9413C041DFEE452D3F0706D1", strings.ToUpper(hex.EncodeToString(k1[:])))
	assert.Equal(t, "F793EEB928278083BFDC8A5A7E0E0D25", strings.ToUpper(hex.EncodeToString(k2[:])))
}

// AN10922 §2.2.1 (libfreefare test_mifare_key_deriver_an10922_aes128) and the
// AN10957 short-M vector that a stock CMAC gets wrong.
func TestDiversifyAN10922(t *testing.T) {
	t.Run("AN10922 2.2.1", func(t *testing.T) {
		m := append(unhex(t, "04782E21801D80"), unhex(t, "3042F5")...)
		m = append(m, "NXP Abu"...)
		got, err := DiversifyAES128(key(t, "00112233445566778899AABBCCDDEEFF"), m)
		require.NoError(t, err)
		assert.Equal(t, "A8DD63A3B89D54B37CA802473FDA9175", strings.ToUpper(hex.EncodeToString(got[:])))
	})
	t.Run("AN10957 short M", func(t *testing.T) {
		master := key(t, "F3F9377698707B688EAF84ABE39E3791")
		got, err := DiversifyAES128(master, unhex(t, "04DEADBEEFFEED"))
		require.NoError(t, err)
		assert.Equal(t, "0BB408BAFF98B6EE9F2E1585777F6A51", strings.ToUpper(hex.EncodeToString(got[:])))
		// The pitfall: a plain CMAC of 01‖M gives a different key.
		plain, err := CMAC(master[:], unhex(t, "0104DEADBEEFFEED"))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(strings.ToUpper(hex.EncodeToString(plain[:])), "721E2C01"))
	})
	t.Run("31-byte M uses K1", func(t *testing.T) {
		m := make([]byte, 31)
		got, err := DiversifyAES128(Key{}, m)
		require.NoError(t, err)
		plain, err := CMAC(make([]byte, 16), append([]byte{1}, m...))
		require.NoError(t, err)
		assert.Equal(t, plain, [16]byte(got), "a full 32-byte input is a plain CMAC")
	})
	t.Run("bounds", func(t *testing.T) {
		_, err := DiversifyAES128(Key{}, nil)
		assert.Error(t, err)
		_, err = DiversifyAES128(Key{}, make([]byte, 32))
		assert.Error(t, err)
	})
}

// AN12343 pp. 33–34 session keys, IVs and MACs (proxmark3 desfiretest.c).
func TestEV2AN12343(t *testing.T) {
	t.Run("session keys", func(t *testing.T) {
		enc, mac := EV2SessionKeys(Key{}, block(t, "B04D0787C93EE0CC8CACC8E86F16C6FE"), block(t, "FA659AD0DCA738DD65DC7DC38612AD81"))
		assert.Equal(t, "63DC07286289A7A6C0334CA31C314A04", hexU(enc[:]))
		assert.Equal(t, "774F26743ECE6AF5033B6AE8522946F6", hexU(mac[:]))
	})
	t.Run("IV ctr 0", func(t *testing.T) {
		iv := EV2IV(key(t, "66A8CB93269DC9BC2885B7A91B9C697B"), false, [4]byte{0xED, 0x56, 0xF6, 0xE6}, 0)
		assert.Equal(t, "DA0F644A498627595 7CF1EC3AF4CCE53", spaced(hexU(iv[:])))
	})
	t.Run("IV ctr 5", func(t *testing.T) {
		iv := EV2IV(key(t, "445A8626B3338459321232FADF6ADE2B"), false, [4]byte{0x11, 0x22, 0x33, 0x44}, 5)
		assert.Equal(t, "177494FCC4F1DAB2AFBE8FAE2057A9D2", hexU(iv[:]))
	})
	t.Run("MAC", func(t *testing.T) {
		k := key(t, "9366FA195EB566F5BD2BAD4020B83002")
		ti := [4]byte{0xE2, 0xD3, 0xAF, 0x69}
		wd := append(unhex(t, "00000000190000"), []byte(strings.Repeat("\x22", 25))...)
		m := EV2MAC(k, 0x8D, 0, ti, wd)
		assert.Equal(t, "68F2C28C575A1628", hexU(m[:]), "tx WriteData")
		m = EV2MAC(k, 0x00, 1, ti)
		assert.Equal(t, "0820F68898C2A7F1", hexU(m[:]), "rx WriteData")
		m = EV2MAC(k, 0xAD, 1, ti, unhex(t, "00000000300000"))
		assert.Equal(t, "0D9BE191D5960834", hexU(m[:]), "tx ReadData")
		rd := append([]byte(strings.Repeat("\x22", 25)), make([]byte, 23)...)
		m = EV2MAC(k, 0x00, 2, ti, rd)
		assert.Equal(t, "A49A44222D926666", hexU(m[:]), "rx ReadData")
	})
}

// AN12196 SUN vectors.
func TestSUNAN12196(t *testing.T) {
	t.Run("vector 1 full SUN, zero keys", func(t *testing.T) {
		msg, err := ParseSUN("https://sdm.example/?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086")
		require.NoError(t, err)
		uid, ctr, err := VerifySUN(msg, SingleKey{})
		require.NoError(t, err)
		assert.Equal(t, "04DE5F1EACC040", hexU(uid))
		assert.Equal(t, uint32(61), ctr)
		p, err := DecryptPICCData(Key{}, msg.PICCData)
		require.NoError(t, err)
		assert.True(t, p.HasCounter)
		// The tag pads PICCData with random bytes; EncryptPICCData with the
		// same padding reproduces the ciphertext.
		pt, err := CBCDecrypt(Key{}, [16]byte{}, msg.PICCData)
		require.NoError(t, err)
		enc, err := EncryptPICCData(Key{}, uid, 61, pt[11:])
		require.NoError(t, err)
		assert.Equal(t, "EF963FF7828658A599F3041510671E88", hexU(enc))
		mac := SDMMAC(Key{}, uid, 61, nil)
		assert.Equal(t, "94EED9EE65337086", hexU(mac[:]))
	})
	t.Run("vector 1 with a flipped MAC bit", func(t *testing.T) {
		msg, err := ParseSUN("e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337087")
		require.NoError(t, err)
		_, _, err = VerifySUN(msg, SingleKey{})
		require.ErrorIs(t, err, ErrProofFailed)
		var pe *ProofError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "04DE5F1EACC040", pe.UID)
	})
	t.Run("vector 2 session keys", func(t *testing.T) {
		enc, mac := SDMSessionKeys(key(t, "5ACE7E50AB65D5D51FD5BF5A16B8205B"), unhex(t, "04C767F2066180"), 1)
		assert.Equal(t, "66DA61797E23DECA5D8ECA13BBADF7A9", hexU(enc[:]))
		assert.Equal(t, "3A3E8110E05311F7A3FCF0D969BF2B48", hexU(mac[:]))
	})
}

func TestTruncateAndEqual(t *testing.T) {
	var m [16]byte
	for i := range m {
		m[i] = byte(i)
	}
	assert.Equal(t, [8]byte{1, 3, 5, 7, 9, 11, 13, 15}, Truncate(m))
	assert.True(t, Equal([]byte{1, 2}, []byte{1, 2}))
	assert.False(t, Equal([]byte{1, 2}, []byte{1, 3}))
	assert.False(t, Equal([]byte{1, 2}, []byte{1}))
}

func TestPadISO(t *testing.T) {
	assert.Len(t, PadISO(make([]byte, 16)), 32)
	assert.Len(t, PadISO(make([]byte, 7)), 16)
	p, err := UnpadISO(PadISO([]byte{1, 0, 0x80}))
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 0, 0x80}, p)
	_, err = UnpadISO(make([]byte, 16))
	assert.ErrorIs(t, err, ErrMalformed)
}

func hexU(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

func spaced(s string) string { return s[:17] + " " + s[17:] }

func mustCipher(t testing.TB, k Key) cipherBlock {
	t.Helper()
	c, err := aesNew(k[:])
	require.NoError(t, err)
	return c
}
