package cardio

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AN12196 Table 23, then Tables 25 and 26: AuthenticateEV2NonFirst with key
// 0 inside the session of Table 19 (TI 7614281A, two commands done) keeps
// the TI and the command counter and takes fresh session keys; the two
// ChangeKey commands that follow run at counters 2 and 3 under those keys.
func TestAuthenticateEV2NonFirstAN12196(t *testing.T) {
	ctx := context.Background()
	s := session(t, "7A93D6571E4B180FCA6AC90C9A7488D4", "FC4AF159B62E549B5812394CAB1918CC", [4]byte{0x76, 0x14, 0x28, 0x1A}, 2)
	s.keyNo = 3
	sc := newScript(t,
		step{cmd: "90770000010000", resp: "A6A2B3C572D06C097BB8DB70463E22DC91AF"},
		step{cmd: "90AF000020BE7D45753F2CAB85F34BC60CE58B940763FE969658A532DF6D95EA2773F6E99100",
			resp: "B888349C24B315EAB5B589E279C8263E9100"},
		// Table 25: key 2 (not the authentication key), old key zero.
		step{cmd: "90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600",
			resp: "203BB55D1089D5879100"},
		// Table 26: key 0, the authentication key; no MAC in the answer.
		step{cmd: "90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200",
			resp: "9100"},
	)
	require.NoError(t, s.AuthenticateEV2NonFirst(ctx, sc, 0, Key{}, bytes.NewReader(unhex(t, "60BE759EDA560250AC57CDDC11743CF6"))))
	assert.Equal(t, [4]byte{0x76, 0x14, 0x28, 0x1A}, s.TI(), "the TI carries over")
	assert.Equal(t, uint16(2), s.CmdCtr(), "the command counter carries over")
	assert.Equal(t, byte(0), s.KeyNo())
	assert.Equal(t, "4CF3CB41A22583A61E89B158D252FC53", hexs(s.enc[:]))
	assert.Equal(t, "5529860B2FC5FB6154B7F28361D30BF9", hexs(s.mac[:]))

	require.NoError(t, s.ChangeKey(ctx, sc, 2, key(t, "F3847D627727ED3BC9C4CC050489B966"), Key{}, 1))
	assert.Equal(t, uint16(3), s.CmdCtr())
	require.NoError(t, s.ChangeKey(ctx, sc, 0, key(t, "5004BF991F408672B1EF00F08F9E8647"), Key{}, 1))
	sc.done()
	assert.False(t, s.Valid(), "changing the session's own key ends the session")
}

func TestAuthenticateEV2NonFirstFailures(t *testing.T) {
	ctx := context.Background()
	fresh := func() *Session {
		s := session(t, "7A93D6571E4B180FCA6AC90C9A7488D4", "FC4AF159B62E549B5812394CAB1918CC", [4]byte{0x76, 0x14, 0x28, 0x1A}, 2)
		return s
	}
	t.Run("card refuses the key", func(t *testing.T) {
		s := fresh()
		sc := newScript(t,
			step{cmd: "90770000010000", resp: "A6A2B3C572D06C097BB8DB70463E22DC91AF"},
			step{cmd: "90AF000020BE7D45753F2CAB85F34BC60CE58B940763FE969658A532DF6D95EA2773F6E99100", resp: "91AE"},
		)
		err := s.AuthenticateEV2NonFirst(ctx, sc, 0, Key{}, bytes.NewReader(unhex(t, "60BE759EDA560250AC57CDDC11743CF6")))
		require.ErrorIs(t, err, ErrAuthentication)
		assert.False(t, s.Valid())
	})
	t.Run("card does not prove the key", func(t *testing.T) {
		s := fresh()
		sc := newScript(t,
			step{cmd: "90770000010000", resp: "A6A2B3C572D06C097BB8DB70463E22DC91AF"},
			step{cmd: "90AF000020BE7D45753F2CAB85F34BC60CE58B940763FE969658A532DF6D95EA2773F6E99100",
				resp: "B888349C24B315EAB5B589E279C8263F9100"},
		)
		err := s.AuthenticateEV2NonFirst(ctx, sc, 0, Key{}, bytes.NewReader(unhex(t, "60BE759EDA560250AC57CDDC11743CF6")))
		require.ErrorIs(t, err, ErrAuthentication)
		assert.False(t, s.Valid())
	})
	t.Run("ended session", func(t *testing.T) {
		s := fresh()
		s.valid = false
		require.ErrorIs(t, s.AuthenticateEV2NonFirst(ctx, newScript(t), 0, Key{}, nil), ErrAuthentication)
	})
}

// The session forms of the data commands reproduce AN12196's exchanges.
func TestSessionDataCommandsAN12196(t *testing.T) {
	ctx := context.Background()
	// Table 21: WriteData of 10 bytes to the proprietary file, CommMode.Full.
	s := session(t, "7A93D6571E4B180FCA6AC90C9A7488D4", "FC4AF159B62E549B5812394CAB1918CC", [4]byte{0x76, 0x14, 0x28, 0x1A}, 0)
	sc := newScript(t, step{cmd: "908D00001F030000000A00006B5E6804909962FC4E3FF5522CF0F8436C0C53315B9C73AA00", resp: "C26D236E4A7C046D9100"})
	require.NoError(t, s.WriteData(ctx, sc, NTAGProprietaryFileNo, 0, unhex(t, "0102030405060708090A"), CommFull))
	sc.done()
	assert.Equal(t, uint16(1), s.CmdCtr())

	// Table 7: GetFileSettings under MAC, decoded.
	s = session(t, "00000000000000000000000000000000", "8248134A386E86EB7FAF54A52E536CB6", [4]byte{0x7A, 0x21, 0x08, 0x5E}, 0)
	sc = newScript(t, step{cmd: "90F5000009026597A457C8CD442C00",
		resp: "0040EEEE000100D1FE001F00004400004400002000006A00002A474282E7A479869100"})
	fs, size, err := s.GetFileSettings(ctx, sc, NTAGNDEFFileNo)
	require.NoError(t, err)
	sc.done()
	assert.Equal(t, 256, size)
	require.NotNil(t, fs.SDM)
	assert.Equal(t, 0x6A, fs.SDM.MACOffset)
}

// The plain forms frame as the datasheet and AN12196 show.
func TestPlainDataCommands(t *testing.T) {
	ctx := context.Background()
	// AN12196 Table 24: WriteData to the CC file at 0E, plain.
	sc := newScript(t, step{cmd: "908D000019010E0000120000FF0506E1050080828300000000000000000000", resp: "9100"})
	require.NoError(t, WriteData(ctx, sc, NTAGCCFileNo, 0x0E, unhex(t, "FF0506E10500808283000000000000000000")))
	sc.done()

	sc = newScript(t,
		step{cmd: "90AD0000070200000047000000", resp: "0045D1014155" + "9100"},
		step{cmd: "90640000010300", resp: "019100"},
		step{cmd: "90F60000010200", resp: "2A000000009100"},
		step{cmd: "90F50000010200", resp: "0000E0EE0001009100"},
		step{cmd: "90640000010500", resp: "9140"},
	)
	b, err := ReadData(ctx, sc, NTAGNDEFFileNo, 0, 0x47)
	require.NoError(t, err)
	assert.Equal(t, "0045D1014155", hexs(b))
	v, err := GetKeyVersion(ctx, sc, 3)
	require.NoError(t, err)
	assert.Equal(t, byte(1), v)
	c, err := GetFileCounters(ctx, sc, NTAGNDEFFileNo)
	require.NoError(t, err)
	assert.Equal(t, uint32(42), c.SDMReadCtr)
	fs, size, err := GetFileSettings(ctx, sc, NTAGNDEFFileNo)
	require.NoError(t, err)
	assert.Equal(t, 256, size)
	assert.Equal(t, FileSettings{Read: AccessFree, Write: AccessFree, ReadWrite: AccessFree, Change: 0}, fs, "factory NDEF file")
	_, err = GetKeyVersion(ctx, sc, 5)
	require.ErrorIs(t, err, ErrNotFound, "91 40: no such key")
	sc.done()
}

// Writes longer than MaxWriteChunk go in several commands at rising offsets.
func TestWriteDataChunks(t *testing.T) {
	data := bytes.Repeat([]byte{0xAB}, MaxWriteChunk+3)
	first := "908D000087" + "02" + "000000" + "800000" + hexs(data[:MaxWriteChunk]) + "00"
	second := "908D00000A" + "02" + "800000" + "030000" + "ABABAB" + "00"
	sc := newScript(t, step{cmd: first, resp: "9100"}, step{cmd: second, resp: "9100"})
	require.NoError(t, WriteData(context.Background(), sc, NTAGNDEFFileNo, 0, data))
	sc.done()
}
