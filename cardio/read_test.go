package cardio

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ndefResponse is a READ BINARY answer holding url.
func ndefResponse(t testing.TB, url string) string {
	t.Helper()
	payload := append([]byte{0x04}, strings.TrimPrefix(url, "https://")...)
	msg := append([]byte{0xD1, 0x01, byte(len(payload)), 'U'}, payload...)
	file := append([]byte{0, byte(len(msg))}, msg...)
	return hex.EncodeToString(file) + "9000"
}

var ntagSUNSelect = []step{
	{cmd: "00A4040C07D2760000850101", resp: "9000"},
	{cmd: "00A4000C02E104", resp: "9000"},
}

func TestReadNTAGScripted(t *testing.T) {
	ctx := context.Background()
	url := "https://sdm.example/?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086"
	opts := &ReadOptions{Medium: MediumNTAG424DNA}

	t.Run("AN12196 vector 1 through the reader", func(t *testing.T) {
		sc := newScript(t, append(append([]step{{cmd: "FFCA000000", resp: "04DE5F1EACC040 9000"}}, ntagSUNSelect...),
			step{cmd: "00B0000000", resp: ndefResponse(t, url)})...)
		c, err := ReadCredential(ctx, sc, SingleKey{}, opts)
		require.NoError(t, err)
		sc.done()
		assert.Equal(t, Credential{UID: "04DE5F1EACC040", Medium: MediumNTAG424DNA, Counter: 61, HasCounter: true, Authenticated: true}, c)
	})
	t.Run("a SUN message copied onto another card", func(t *testing.T) {
		sc := newScript(t, append(append([]step{{cmd: "FFCA000000", resp: "04A23B5A6C1290 9000"}}, ntagSUNSelect...),
			step{cmd: "00B0000000", resp: ndefResponse(t, url)})...)
		_, err := ReadCredential(ctx, sc, SingleKey{}, opts)
		uid, failed := ProofFailure(err)
		require.True(t, failed, "%v", err)
		assert.Equal(t, "04A23B5A6C1290", uid)
	})
	t.Run("no SUN parameters in the URL", func(t *testing.T) {
		sc := newScript(t, append(append([]step{{cmd: "FFCA000000", resp: "04A23B5A6C1290 9000"}}, ntagSUNSelect...),
			step{cmd: "00B0000000", resp: ndefResponse(t, "https://example.com/")})...)
		_, err := ReadCredential(ctx, sc, SingleKey{}, opts)
		uid, failed := ProofFailure(err)
		require.True(t, failed)
		assert.Equal(t, "04A23B5A6C1290", uid)
		assert.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("NDEF application missing", func(t *testing.T) {
		sc := newScript(t, step{cmd: "FFCA000000", resp: "04A23B5A6C1290 9000"}, step{cmd: "00A4040C07D2760000850101", resp: "6A82"})
		_, err := ReadCredential(ctx, sc, SingleKey{}, opts)
		require.ErrorIs(t, err, ErrProofFailed)
		require.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("reader failure is not a proof failure", func(t *testing.T) {
		sc := newScript(t, step{cmd: "FFCA000000", resp: "04A23B5A6C1290 9000"}, step{cmd: "00A4040C07D2760000850101", err: errReader})
		_, err := ReadCredential(ctx, sc, SingleKey{}, opts)
		require.ErrorIs(t, err, errReader)
		assert.NotErrorIs(t, err, ErrProofFailed)
	})
	t.Run("removal while reading", func(t *testing.T) {
		sc := newScript(t, append(append([]step{{cmd: "FFCA000000", resp: "04A23B5A6C1290 9000"}}, ntagSUNSelect...),
			step{cmd: "00B0000000", err: ErrCardRemoved})...)
		_, err := ReadCredential(ctx, sc, SingleKey{}, opts)
		require.ErrorIs(t, err, ErrCardRemoved)
		assert.NotErrorIs(t, err, ErrProofFailed)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := ReadCredential(cctx, newScript(t), SingleKey{}, opts)
		require.ErrorIs(t, err, context.Canceled)
	})
}

var errReader = &readerErr{}

type readerErr struct{}

func (*readerErr) Error() string { return "reader on fire" }

func TestPassFile(t *testing.T) {
	uid := unhex(t, "04112233445566")
	f := PassFile(uid)
	require.Len(t, f, DESFirePassFileSize)
	require.NoError(t, checkPassFile(f, uid))
	assert.ErrorIs(t, checkPassFile(f, unhex(t, "04112233445567")), ErrMalformed)
	f[0] = 'X'
	assert.ErrorIs(t, checkPassFile(f, uid), ErrMalformed)
	assert.ErrorIs(t, checkPassFile(f[:5], uid), ErrMalformed)
}
