package cardio

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const vec1E, vec1C = "EF963FF7828658A599F3041510671E88", "94EED9EE65337086"

func TestParseSUN(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"URL e/c", "https://sdm.nfcdeveloper.com/tag?e=" + vec1E + "&c=" + vec1C},
		{"URL picc_data/cmac", "https://x.example/t?picc_data=" + vec1E + "&cmac=" + vec1C},
		{"query", "?picc_data=" + vec1E + "&cmac=" + vec1C},
		{"bare query, lower case, fragment", "e=" + strings.ToLower(vec1E) + "&c=" + vec1C + "#x"},
		{"surrounding space", "  e=" + vec1E + "&c=" + vec1C + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := ParseSUN(tc.in)
			require.NoError(t, err)
			assert.Equal(t, vec1E, hexs(msg.PICCData))
			assert.Equal(t, vec1C, hexs(msg.MAC))
		})
	}
	custom := SUNParams{PICC: []string{"p"}, MAC: []string{"m"}}
	msg, err := custom.Parse("https://x/?p=" + vec1E + "&m=" + vec1C)
	require.NoError(t, err)
	assert.Equal(t, vec1C, hexs(msg.MAC))
	_, err = custom.Parse("https://x/?e=" + vec1E + "&c=" + vec1C)
	assert.ErrorIs(t, err, ErrMalformed, "custom names replace the defaults")

	for _, bad := range []string{
		"", "https://x/", "e=" + vec1E, "c=" + vec1C, "e=zz&c=" + vec1C, "e=" + vec1E[:30] + "&c=" + vec1C,
		"e=" + vec1E + "&c=" + vec1C[:14], "e=%zz&c=1", strings.Repeat("a", MaxSUNLength+1),
	} {
		_, err := ParseSUN(bad)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
	_, err = ParseSUN("e=" + vec1E + "0000000000000000&c=" + vec1C)
	assert.ErrorIs(t, err, ErrLRP)
}

func TestVerifySUNWrongKeys(t *testing.T) {
	msg, err := ParseSUN("e=" + vec1E + "&c=" + vec1C)
	require.NoError(t, err)
	_, _, err = VerifySUN(msg, SingleKey(key(t, "00000000000000000000000000000001")))
	var pe *ProofError
	require.ErrorAs(t, err, &pe)
	assert.Empty(t, pe.UID, "PICCData did not decrypt, so no UID")
	_, _, err = VerifySUN(SUNMessage{}, SingleKey{})
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestBuildAndParseNDEF(t *testing.T) {
	l, err := BuildSUNNDEF("https://gate.example/t?picc_data={picc}&cmac={mac}")
	require.NoError(t, err)
	u, err := ParseNDEFURI(l.File)
	require.NoError(t, err)
	assert.Equal(t, "https://gate.example/t?picc_data="+strings.Repeat("0", 32)+"&cmac="+strings.Repeat("0", 16), u)
	assert.Equal(t, strings.Repeat("0", 32), string(l.File[l.PICCOffset:l.PICCOffset+32]))
	assert.Equal(t, "&cmac=", string(l.File[l.PICCOffset+32:l.MACOffset]))
	assert.Equal(t, strings.Repeat("0", 16), string(l.File[l.MACOffset:l.MACOffset+16]))
	assert.Equal(t, byte(0x04), l.File[6], "https:// abbreviated")

	l, err = BuildSUNNDEF("https://www.example.org/{picc}/{mac}")
	require.NoError(t, err)
	assert.Equal(t, byte(0x02), l.File[6], "the longest abbreviation wins")
	u, err = ParseNDEFURI(l.File)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u, "https://www.example.org/0000"))

	l, err = BuildSUNNDEF("myapp:{picc}{mac}")
	require.NoError(t, err)
	assert.Equal(t, byte(0x00), l.File[6])
	assert.Equal(t, 7, l.PICCOffset-len("myapp:"))

	for _, bad := range []string{"https://x/{mac}{picc}", "https://x/{picc}", "https://x/{picc}{picc}{mac}", "https://x/" + strings.Repeat("a", 300) + "{picc}{mac}"} {
		_, err := BuildSUNNDEF(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseNDEFURI(t *testing.T) {
	// A text record, then a URI record with an ID and the long-payload form.
	text := []byte{0x91, 0x01, 0x03, 'T', 0x02, 'e', 'n'} // MB, SR, TNF 1
	uri := []byte{0x49, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 'U', 'i', 0x03, 'a', '.', 'b', 'c'}
	msg := append(text, uri...)
	file := append([]byte{0x00, byte(len(msg))}, msg...)
	u, err := ParseNDEFURI(file)
	require.NoError(t, err)
	assert.Equal(t, "http://a.bc", u)

	for _, bad := range [][]byte{
		nil, {0x00}, {0x00, 0x00}, {0x00, 0x05, 0xD1}, {0x00, 0x04, 0xD1, 0x01, 0x09, 'U'},
		{0x00, 0x05, 0xD1, 0x01, 0x01, 'U', 0x99}, {0x00, 0x04, 0xD1, 0x01, 0x00, 'U'},
		{0x00, 0x06, 0xD1, 0x01, 0x02, 'T', 0x02, 'e'}, {0x00, 0x05, 0xB1, 0x01, 0x01, 'U', 0x01},
	} {
		_, err := ParseNDEFURI(bad)
		assert.ErrorIs(t, err, ErrMalformed, "% X", bad)
	}
}

func TestCredentialFromSUN(t *testing.T) {
	c, err := CredentialFromSUN("e="+vec1E+"&c="+vec1C, SUNParams{}, SingleKey{})
	require.NoError(t, err)
	assert.Equal(t, Credential{UID: "04DE5F1EACC040", Medium: MediumNTAG424DNA, Counter: 61, HasCounter: true, Authenticated: true}, c)
	_, err = CredentialFromSUN("e="+vec1E+"&c="+vec1C, SUNParams{}, SingleKey{1})
	uid, failed := ProofFailure(err)
	assert.True(t, failed)
	assert.Empty(t, uid)
	_, err = CredentialFromSUN("nope", SUNParams{}, SingleKey{})
	assert.ErrorIs(t, err, ErrMalformed)
	_, failed = ProofFailure(err)
	assert.False(t, failed)
}
