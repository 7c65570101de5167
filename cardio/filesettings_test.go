package cardio

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AN12196 Table 7: the GetFileSettings answer of an NDEF file with SUN and
// encrypted file data decodes as the datasheet says and re-encodes byte for
// byte.
func TestFileSettingsAN12196Answer(t *testing.T) {
	ans := unhex(t, "0040EEEE000100D1FE001F00004400004400002000006A0000")
	fs, size, err := ParseFileSettings(ans)
	require.NoError(t, err)
	assert.Equal(t, 256, size)
	assert.Equal(t, FileSettings{Comm: CommPlain, Read: AccessFree, Write: AccessFree, ReadWrite: AccessFree, Change: AccessFree,
		SDM: &SDM{UIDMirror: true, ReadCtrMirror: true, EncFileData: true, CtrRet: AccessFree, MetaRead: 0, FileRead: 0,
			PICCDataOffset: 0x1F, MACInputOffset: 0x44, ENCOffset: 0x44, ENCLength: 0x20, MACOffset: 0x6A}}, fs)
	assert.Equal(t, ans, fs.Answer(size))
}

// AN12196 Table 18: the ChangeFileSettings data that enables SUN (offsets
// 20/43/43, meta-read key 2, file-read key 1, counter key 1).
func TestFileSettingsAN12196Change(t *testing.T) {
	d := unhex(t, "4000E0C1F121200000430000430000")
	fs, err := ParseChangeFileSettings(d, 256)
	require.NoError(t, err)
	assert.Equal(t, FileSettings{Comm: CommPlain, Read: AccessFree, Write: 0, ReadWrite: 0, Change: 0,
		SDM: &SDM{UIDMirror: true, ReadCtrMirror: true, CtrRet: 1, MetaRead: 2, FileRead: 1,
			PICCDataOffset: 0x20, MACInputOffset: 0x43, MACOffset: 0x43}}, fs)
	assert.Equal(t, d, fs.ChangeData())
}

func TestParseChangeFileSettingsRefuses(t *testing.T) {
	for _, tc := range []struct{ name, hex string }{
		{"short", "40"},
		{"RFU FileOption bit", "8000E0"},
		{"access RFU nibble", "00D0E0"},
		{"data after non-SDM settings", "0000E000"},
		{"binary SDM encoding", "4000E0C0F121200000430000430000"},
		{"RFU SDMOptions bit", "4000E0C3F121200000430000430000"},
		{"PICCData past the end", "4000E0C1F121E10000430000430000"},
		{"MAC input after MAC", "4000E0C1F121200000440000430000"},
		{"truncated offsets", "4000E0C1F1212000004300"},
		{"trailing bytes", "4000E0C1F12120000043000043000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseChangeFileSettings(unhex(t, tc.hex), 256)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	_, _, err := ParseFileSettings(unhex(t, "050000E0200000"))
	require.ErrorIs(t, err, ErrMalformed, "not a standard data file")
}

func TestFileSettingsAccess(t *testing.T) {
	factoryNDEF := FileSettings{Read: AccessFree, Write: AccessFree, ReadWrite: AccessFree}
	proprietary := FileSettings{Comm: CommFull, Read: 2, Write: 3, ReadWrite: 3}
	closed := FileSettings{Comm: CommFull, Read: AccessNever, Write: AccessNever, ReadWrite: AccessNever}
	for _, tc := range []struct {
		name  string
		fs    FileSettings
		op    FileOp
		auth  bool
		keyNo byte
		mode  CommMode
		ok    bool
	}{
		{"free read without authentication", factoryNDEF, OpRead, false, 0, CommPlain, true},
		{"free write in a session stays plain", factoryNDEF, OpWrite, true, 0, CommPlain, true},
		{"read key", proprietary, OpRead, true, 2, CommFull, true},
		{"read-write key reads", proprietary, OpRead, true, 3, CommFull, true},
		{"read key does not write", proprietary, OpWrite, true, 2, CommPlain, false},
		{"other key", proprietary, OpRead, true, 0, CommPlain, false},
		{"no authentication", proprietary, OpRead, false, 2, CommPlain, false},
		{"never", closed, OpRead, true, 0, CommPlain, false},
		{"never is not key 15", closed, OpWrite, true, 0xF, CommPlain, false},
		{"10b reads as plain", FileSettings{Comm: 2, Read: 1}, OpRead, true, 1, CommPlain, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, ok := tc.fs.Access(tc.op, tc.auth, tc.keyNo)
			assert.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, tc.mode, mode)
			}
		})
	}
}

// The CC file describes the settings: the factory settings give the factory
// CC file byte for byte, and the personalized ones close writing.
func TestCCFile(t *testing.T) {
	factory := []NTAGFile{
		{No: NTAGCCFileNo, Size: 32, Settings: FileSettings{Read: AccessFree}},
		{No: NTAGNDEFFileNo, Size: 256, Settings: FileSettings{Read: AccessFree, Write: AccessFree, ReadWrite: AccessFree}},
		{No: NTAGProprietaryFileNo, Size: 128, Settings: FileSettings{Comm: CommFull, Read: 2, Write: 3, ReadWrite: 3}},
	}
	assert.Equal(t, "001720010000FF0406E104010000000506E10500808283000000000000000000", hexs(CCFile(factory)))

	l, err := BuildSUNNDEF(DefaultURLTemplate)
	require.NoError(t, err)
	cc := CCFile(PersonalizedFiles(l))
	assert.Equal(t, "001720010000FF0406E1040100"+"00FF"+"0506E1050080"+"FFFF"+"000000000000000000", hexs(cc))
	assert.Len(t, cc, NTAGCCFileSize)
}

// PersonalizedFiles closes every right citypass does not use and keeps key
// 0 able to reconfigure each file.
func TestPersonalizedFiles(t *testing.T) {
	l, err := BuildSUNNDEF(DefaultURLTemplate)
	require.NoError(t, err)
	files := PersonalizedFiles(l)
	require.Len(t, files, 3)
	for _, f := range files {
		s := f.Settings
		assert.Equal(t, Access(NTAGKeyApp), s.Change, "file %d", f.No)
		assert.Equal(t, AccessNever, s.Write, "file %d", f.No)
		assert.Equal(t, AccessNever, s.ReadWrite, "file %d", f.No)
		for _, op := range []FileOp{OpWrite} {
			for k := byte(0); k <= 4; k++ {
				_, ok := s.Access(op, true, k)
				assert.False(t, ok, "file %d writable with key %d", f.No, k)
			}
		}
		// The settings survive their own encoding.
		back, err := ParseChangeFileSettings(s.ChangeData(), f.Size)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(back.ChangeData(), s.ChangeData()))
	}
	ndef := files[1].Settings
	require.NotNil(t, ndef.SDM)
	assert.Equal(t, AccessNever, ndef.SDM.CtrRet, "GetFileCounters is closed: the counter travels in the SUN")
	assert.Equal(t, Access(NTAGKeyMetaRead), ndef.SDM.MetaRead)
	assert.Equal(t, Access(NTAGKeyFileRead), ndef.SDM.FileRead)
	_, ok := files[2].Settings.Access(OpRead, true, 2)
	assert.False(t, ok, "the proprietary file is not readable")
}

// FuzzParseChangeFileSettings: the parser never panics, and whatever it
// accepts re-encodes to the same bytes (the SDM access RFU nibble reads
// back as F).
func FuzzParseChangeFileSettings(f *testing.F) {
	f.Add(unhex(f, "4000E0C1F121200000430000430000"))
	f.Fuzz(func(t *testing.T, d []byte) {
		fs, err := ParseChangeFileSettings(d, NDEFFileSize)
		if err != nil {
			return
		}
		want := bytes.Clone(d)
		if fs.SDM != nil {
			want[4] |= 0xF0
		}
		if got := fs.ChangeData(); !bytes.Equal(got, want) {
			t.Fatalf("settings % X re-encode to % X", d, got)
		}
	})
}

// FuzzParseFileSettings does the same for GetFileSettings answers.
func FuzzParseFileSettings(f *testing.F) {
	f.Add(unhex(f, "0040EEEE000100D1FE001F00004400004400002000006A0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, size, err := ParseFileSettings(b)
		if err != nil {
			return
		}
		want := bytes.Clone(b)
		if fs.SDM != nil {
			want[8] |= 0xF0
		}
		if got := fs.Answer(size); !bytes.Equal(got, want) {
			t.Fatalf("answer % X re-encodes to % X", b, got)
		}
	})
}
