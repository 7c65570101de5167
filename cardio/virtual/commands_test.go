package virtual

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// exchange is one command and the answer a card gave.
type exchange struct{ cmd, resp string }

// recorder is a Transmitter that keeps every exchange in upper hex.
type recorder struct {
	t   cardio.Transmitter
	log []exchange
}

func (r *recorder) Transmit(cmd []byte) ([]byte, error) {
	resp, err := r.t.Transmit(cmd)
	if err == nil {
		r.log = append(r.log, exchange{strings.ToUpper(hex.EncodeToString(cmd)), strings.ToUpper(hex.EncodeToString(resp))})
	}
	return resp, err
}

// The virtual card answers AN12196's example exchanges byte for byte when it
// draws the note's random numbers: AuthenticateEV2First with key 3 (Table
// 19), WriteData of the proprietary file in CommMode.Full (Table 21),
// AuthenticateEV2NonFirst with key 0 (Table 23) and the two ChangeKey
// commands (Tables 25, 26). A ReadData of the written bytes stands in for
// the one command between Tables 21 and 23, so the counters line up.
func TestNTAGAnswersAN12196(t *testing.T) {
	ctx := context.Background()
	card := NewNTAG424([7]byte{0x04, 0x95, 0x8C, 0xAA, 0x5C, 0x5E, 0x80})
	card.SetRand(bytes.NewReader(unhex(t, "91517975190DCEA6104948EFA3085C1B"+"7614281A"+"6924E8D09722659A2E7DEC68E66312B8")))
	rec := &recorder{t: card}
	require.NoError(t, selectFile(card, 0xE105))

	s, err := cardio.AuthenticateEV2First(ctx, rec, 3, cardio.Key{}, bytes.NewReader(unhex(t, "B98F4C50CF1C2E084FD150E33992B048")))
	require.NoError(t, err)
	require.NoError(t, s.WriteData(ctx, rec, cardio.NTAGProprietaryFileNo, 0, unhex(t, "0102030405060708090A"), cardio.CommFull))
	got, err := s.ReadData(ctx, rec, cardio.NTAGProprietaryFileNo, 0, 10, cardio.CommFull)
	require.NoError(t, err)
	assert.Equal(t, unhex(t, "0102030405060708090A"), got)
	n := len(rec.log)
	require.NoError(t, s.AuthenticateEV2NonFirst(ctx, rec, 0, cardio.Key{}, bytes.NewReader(unhex(t, "60BE759EDA560250AC57CDDC11743CF6"))))
	require.NoError(t, s.ChangeKey(ctx, rec, 2, key(t, "F3847D627727ED3BC9C4CC050489B966"), cardio.Key{}, 1))
	require.NoError(t, s.ChangeKey(ctx, rec, 0, key(t, "5004BF991F408672B1EF00F08F9E8647"), cardio.Key{}, 1))

	want := []exchange{
		{"9071000002030000", "B875CEB0E66A6C5CD00898DC371F92D191AF"},
		{"90AF000020FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B100",
			"0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A9100"},
		{"908D00001F030000000A00006B5E6804909962FC4E3FF5522CF0F8436C0C53315B9C73AA00", "C26D236E4A7C046D9100"},
	}
	assert.Equal(t, want, rec.log[:3])
	want = []exchange{
		{"90770000010000", "A6A2B3C572D06C097BB8DB70463E22DC91AF"},
		{"90AF000020BE7D45753F2CAB85F34BC60CE58B940763FE969658A532DF6D95EA2773F6E99100", "B888349C24B315EAB5B589E279C8263E9100"},
		{"90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600", "203BB55D1089D5879100"},
		{"90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200", "9100"},
	}
	assert.Equal(t, want, rec.log[n:])

	// The new keys are in place with their version.
	for no, wantVer := range map[byte]byte{0: 1, 1: 0, 2: 1} {
		v, err := cardio.GetKeyVersion(ctx, card, no)
		require.NoError(t, err)
		assert.Equal(t, wantVer, v, "key %d", no)
	}
	card.SetRand(rand.Reader) // the note's random numbers are used up
	_, err = cardio.AuthenticateEV2First(ctx, card, 0, key(t, "5004BF991F408672B1EF00F08F9E8647"), rand.Reader)
	require.NoError(t, err)
}

func key(t testing.TB, s string) cardio.Key {
	var k cardio.Key
	copy(k[:], unhex(t, s))
	return k
}

// authenticated selects the NDEF application of a blank card and
// authenticates with key no (factory value).
func authenticated(t *testing.T, c *NTAG424, no byte) *cardio.Session {
	t.Helper()
	require.NoError(t, selectFile(c, 0xE104))
	s, err := cardio.AuthenticateEV2First(context.Background(), c, no, cardio.Key{}, rand.Reader)
	require.NoError(t, err)
	return s
}

func TestNTAGGetKeyVersion(t *testing.T) {
	ctx := context.Background()
	c := NewNTAG424(uidT)
	v, err := cardio.GetKeyVersion(ctx, c, 4)
	require.NoError(t, err)
	assert.Equal(t, byte(0), v, "factory keys have version 00")
	_, err = cardio.GetKeyVersion(ctx, c, 5)
	require.ErrorIs(t, err, cardio.ErrNotFound)

	s := authenticated(t, c, 0)
	require.NoError(t, s.ChangeKey(ctx, c, 4, cardio.Key{9}, cardio.Key{}, 0x42))
	v, err = s.GetKeyVersion(ctx, c, 4)
	require.NoError(t, err, "under MAC")
	assert.Equal(t, byte(0x42), v)
	assert.Equal(t, uint16(2), s.CmdCtr())
	_, err = s.GetKeyVersion(ctx, c, 7)
	require.ErrorIs(t, err, cardio.ErrNotFound)
	assert.False(t, s.Valid(), "an error ends the session")
	_, err = s.GetCardUID(ctx, c)
	require.Error(t, err)
}

func TestNTAGReadWriteDataAccess(t *testing.T) {
	ctx := context.Background()
	c := NewNTAG424(uidT)
	require.NoError(t, selectFile(c, 0xE104))

	// The factory NDEF file is free: plain WriteData and ReadData.
	require.NoError(t, cardio.WriteData(ctx, c, cardio.NTAGNDEFFileNo, 10, []byte("hello")))
	b, err := cardio.ReadData(ctx, c, cardio.NTAGNDEFFileNo, 10, 5)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	b, err = cardio.ReadData(ctx, c, cardio.NTAGNDEFFileNo, 250, 0)
	require.NoError(t, err, "length 0 reads to the end")
	assert.Len(t, b, 6)
	_, err = cardio.ReadData(ctx, c, cardio.NTAGNDEFFileNo, 250, 7)
	require.ErrorIs(t, err, cardio.ErrBoundary)
	require.ErrorIs(t, cardio.WriteData(ctx, c, cardio.NTAGNDEFFileNo, 255, []byte("xy")), cardio.ErrBoundary)

	// The proprietary file: read key 2, write key 3, CommMode.Full.
	_, err = cardio.ReadData(ctx, c, cardio.NTAGProprietaryFileNo, 0, 4)
	require.ErrorIs(t, err, cardio.ErrPermissionDenied, "no authentication")
	s := authenticated(t, c, 3)
	require.NoError(t, s.WriteData(ctx, c, cardio.NTAGProprietaryFileNo, 0, bytes.Repeat([]byte{7}, 128), cardio.CommFull))
	s = authenticated(t, c, 2)
	b, err = s.ReadData(ctx, c, cardio.NTAGProprietaryFileNo, 0, 0, cardio.CommFull)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{7}, 128), b)
	err = s.WriteData(ctx, c, cardio.NTAGProprietaryFileNo, 0, []byte{1}, cardio.CommFull)
	require.ErrorIs(t, err, cardio.ErrPermissionDenied, "key 2 only reads")
	s = authenticated(t, c, 1)
	_, err = s.ReadData(ctx, c, cardio.NTAGProprietaryFileNo, 0, 1, cardio.CommFull)
	require.ErrorIs(t, err, cardio.ErrPermissionDenied, "key 1 has no right")

	// CommMode.MAC once the settings say so; a whole 256-byte file in
	// CommMode.Full arrives in two frames.
	s = authenticated(t, c, 0)
	require.NoError(t, s.ChangeFileSettings(ctx, c, cardio.NTAGProprietaryFileNo,
		cardio.FileSettings{Comm: cardio.CommMAC, Read: 2, Write: 3, ReadWrite: 3, Change: 0}))
	require.NoError(t, s.ChangeFileSettings(ctx, c, cardio.NTAGNDEFFileNo,
		cardio.FileSettings{Comm: cardio.CommFull, Read: 0, Write: 0, ReadWrite: cardio.AccessNever, Change: 0}))
	full := bytes.Repeat([]byte{0x5A}, 256)
	require.NoError(t, s.WriteData(ctx, c, cardio.NTAGNDEFFileNo, 0, full, cardio.CommFull))
	b, err = s.ReadData(ctx, c, cardio.NTAGNDEFFileNo, 0, 0, cardio.CommFull)
	require.NoError(t, err)
	assert.Equal(t, full, b)
	s = authenticated(t, c, 2)
	b, err = s.ReadData(ctx, c, cardio.NTAGProprietaryFileNo, 0, 3, cardio.CommMAC)
	require.NoError(t, err)
	assert.Equal(t, []byte{7, 7, 7}, b)

	// A session whose commands the card did not MAC is refused.
	_, err = s.ReadData(ctx, c, cardio.NTAGProprietaryFileNo, 0, 3, cardio.CommPlain)
	require.ErrorIs(t, err, cardio.ErrIntegrity)
}

func TestNTAGGetFileCounters(t *testing.T) {
	ctx := context.Background()
	c := NewNTAG424(uidT)
	require.NoError(t, selectFile(c, 0xE104))
	_, err := cardio.GetFileCounters(ctx, c, cardio.NTAGNDEFFileNo)
	require.ErrorIs(t, err, cardio.ErrPermissionDenied, "no SDM on the file")

	l, err := cardio.BuildSUNNDEF(cardio.DefaultURLTemplate)
	require.NoError(t, err)
	require.NoError(t, cardio.WriteData(ctx, c, cardio.NTAGNDEFFileNo, 0, l.File))
	set := func(ctrRet cardio.Access) {
		s := authenticated(t, c, 0)
		require.NoError(t, s.ChangeFileSettings(ctx, c, cardio.NTAGNDEFFileNo, cardio.FileSettings{
			Read: cardio.AccessFree, Write: 0, ReadWrite: 0, Change: 0,
			SDM: &cardio.SDM{UIDMirror: true, ReadCtrMirror: true, CtrRet: ctrRet, MetaRead: 2, FileRead: 1,
				PICCDataOffset: l.PICCOffset, MACInputOffset: l.MACOffset, MACOffset: l.MACOffset}}))
	}
	set(cardio.AccessFree)
	for range 3 { // three SUN reads through ReadData
		require.NoError(t, selectFile(c, 0xE104))
		file, err := cardio.ReadData(ctx, c, cardio.NTAGNDEFFileNo, 0, 0)
		require.NoError(t, err)
		u, err := cardio.ParseNDEFURI(file)
		require.NoError(t, err)
		msg, err := cardio.ParseSUN(u)
		require.NoError(t, err)
		_, _, err = cardio.VerifySUN(msg, cardio.SingleKey{})
		require.NoError(t, err, "factory keys are zero")
	}
	fc, err := cardio.GetFileCounters(ctx, c, cardio.NTAGNDEFFileNo)
	require.NoError(t, err)
	assert.Equal(t, uint32(3), fc.SDMReadCtr)

	set(1)
	_, err = cardio.GetFileCounters(ctx, c, cardio.NTAGNDEFFileNo)
	require.ErrorIs(t, err, cardio.ErrPermissionDenied, "key 1 needed")
	s := authenticated(t, c, 1)
	fc, err = s.GetFileCounters(ctx, c, cardio.NTAGNDEFFileNo)
	require.NoError(t, err, "CommMode.Full with key 1")
	assert.Equal(t, uint32(3), fc.SDMReadCtr)
	s = authenticated(t, c, 2)
	_, err = s.GetFileCounters(ctx, c, cardio.NTAGNDEFFileNo)
	require.ErrorIs(t, err, cardio.ErrPermissionDenied)
}

func TestNTAGReadSig(t *testing.T) {
	ctx := context.Background()
	c := NewNTAG424(uidT)
	sig, err := cardio.ReadSig(ctx, c)
	require.NoError(t, err)
	require.NoError(t, cardio.VerifyOriginality(uidT[:], sig, TestOriginalityKeys()))
	require.ErrorIs(t, cardio.VerifyOriginality(uidT[:], sig, nil), cardio.ErrNotGenuine, "NXP's key does not vouch for a virtual card")
	again, err := cardio.ReadSig(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, sig, again, "the signature is written once")

	s := authenticated(t, c, 0)
	enc, err := s.ReadSig(ctx, c)
	require.NoError(t, err, "CommMode.Full within a session")
	assert.Equal(t, sig, enc)
	assert.Equal(t, uint16(1), s.CmdCtr())

	other, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	c.SetOriginalityKey(other)
	require.NoError(t, selectFile(c, 0xE104)) // ends the session: plain again
	sig, err = cardio.ReadSig(ctx, c)
	require.NoError(t, err)
	require.ErrorIs(t, cardio.VerifyOriginality(uidT[:], sig, TestOriginalityKeys()), cardio.ErrNotGenuine)
	c.SetOriginalityKey(nil)
	_, err = cardio.ReadSig(ctx, c)
	require.ErrorIs(t, err, cardio.ErrNotSupported)
	r, err := c.Transmit([]byte{0x90, 0x3C, 0x00, 0x00, 0x01, 0x01, 0x00})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x91, 0x1C}, r)
}

func TestNTAGAuthenticateNonFirst(t *testing.T) {
	ctx := context.Background()
	c := NewNTAG424(uidT)
	require.NoError(t, selectFile(c, 0xE104))
	r, err := c.Transmit([]byte{0x90, 0x77, 0x00, 0x00, 0x01, 0x00, 0x00})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x91, 0x9D}, r, "NonFirst needs a session")

	s := authenticated(t, c, 0)
	require.NoError(t, s.ChangeKey(ctx, c, 3, cardio.Key{3}, cardio.Key{}, 1))
	ti := s.TI()
	require.NoError(t, s.AuthenticateEV2NonFirst(ctx, c, 3, cardio.Key{3}, rand.Reader))
	assert.Equal(t, ti, s.TI())
	assert.Equal(t, uint16(1), s.CmdCtr())
	uid, err := s.GetCardUID(ctx, c)
	require.NoError(t, err, "the card and the reader agree on the new session keys")
	assert.Equal(t, uidT[:], uid)

	err = s.AuthenticateEV2NonFirst(ctx, c, 2, cardio.Key{1}, rand.Reader)
	require.ErrorIs(t, err, cardio.ErrAuthentication)
	r, err = c.Transmit([]byte{0x90, 0x77, 0x00, 0x00, 0x01, 0x00, 0x00})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x91, 0x9D}, r, "a failed NonFirst ends the session")
}

var uidT = [7]byte{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60}
