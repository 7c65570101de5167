package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio/pcsc/pcscd"
	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/reconcile"
)

func runSmall(t *testing.T, seed int64) (*Summary, string) {
	t.Helper()
	var out, progress bytes.Buffer
	s, err := Run(context.Background(), Config{Seed: seed, Passes: 100, Out: &out, Progress: &progress, DataDir: filepath.Join(t.TempDir(), "data")})
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "day done: sold 100 ")
	return s, out.String()
}

func TestRunIsConsistent(t *testing.T) {
	s, out := runSmall(t, 7)

	assert.Equal(t, 100, s.Sales)
	sold := 0
	for _, n := range s.SalesByProd {
		sold += n
	}
	assert.Equal(t, 100, sold)
	assert.True(t, s.SalesGross.IsPositive())

	// Every presentation was decided, and the journal holds exactly those.
	assert.Zero(t, s.Undecided)
	assert.Positive(t, s.Taps)
	assert.Equal(t, s.Taps, s.Accepted+s.Denied)
	assert.Equal(t, uint64(s.Taps), s.JournalTaps)
	denied := 0
	for reason, n := range s.DeniedBy {
		_, err := engine.ParseReason(reason)
		assert.NoError(t, err, reason)
		denied += n
	}
	assert.Equal(t, s.Denied, denied)
	assert.Positive(t, s.Flags["ACTIVATED"])
	assert.GreaterOrEqual(t, s.Transactions, s.Taps+s.Sales, "every tap and sale is a durable transaction")
	assert.Positive(t, s.WALSyncs)
	assert.LessOrEqual(t, s.WALSyncs, s.Transactions+5, "at most one fsync per commit (a few more if the WAL rotates)")

	// Statements: the day's, week's and month's of every partner of the
	// sample, and the flat-fee partner's months since January (the month
	// end closes every period ended by the demo day), verified, paid in full.
	require.Len(t, s.Statements, 11)
	assert.Equal(t, len(s.Statements), s.StatementsVerified)
	net := decimal.Zero
	for _, st := range s.Statements {
		net = net.Add(st.Net)
		assert.FileExists(t, st.CSVPath)
		assert.FileExists(t, st.ManifestPath)
	}
	signer, err := reconcile.LoadSigner(filepath.Join(s.DataDir, "keys"))
	require.NoError(t, err)
	rep, err := reconcile.Verify(filepath.Join(s.DataDir, "statements"), signer.PublicKey())
	require.NoError(t, err)
	assert.Equal(t, 11, rep.Statements)
	require.NotNil(t, s.Payout)
	assert.True(t, net.Equal(s.Payout.Total), "payout %s, statements %s", s.Payout.Total, net)
	assert.FileExists(t, s.Payout.File)

	require.NotNil(t, s.TrialBalance)
	assert.True(t, s.TrialBalance.Balanced)
	assert.True(t, s.TrialBalance.Debits.Equal(s.TrialBalance.Credits))
	assert.NotEmpty(t, s.LedgerCheck)

	for _, f := range s.Files {
		_, err := os.Stat(f)
		assert.NoError(t, err, f)
	}
	assert.Contains(t, out, "balanced")
	assert.Contains(t, out, s.Payout.File)

	// The ledger's account of the day (`citypass today`) agrees with what
	// the gates and the desk saw, and the demo prints it through its
	// WriteText.
	require.NotNil(t, s.Today)
	a := s.Today.Activity
	assert.Equal(t, s.Taps, a.Taps)
	assert.Equal(t, s.Accepted, a.Accepted)
	assert.Equal(t, s.Denied, a.Denied)
	assert.Equal(t, s.DeniedBy, a.DeniedBy)
	assert.Equal(t, s.Sales, s.Today.Sales)
	assert.Equal(t, s.Refunds, s.Today.Refunds)
	assert.Equal(t, s.SalesByProd, s.Today.SalesByProd)
	assert.Equal(t, s.VisitsByVenue, a.VisitsByVenue)
	var today bytes.Buffer
	require.NoError(t, s.Today.WriteText(&today))
	assert.Contains(t, out, today.String())
}

// statementBytes reads every file a run wrote for partners and the bank.
func statementBytes(t *testing.T, s *Summary) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, dir := range []string{"statements", "payouts"} {
		entries, err := os.ReadDir(filepath.Join(s.DataDir, dir))
		require.NoError(t, err)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(s.DataDir, dir, e.Name()))
			require.NoError(t, err)
			files[dir+"/"+e.Name()] = b
		}
	}
	require.NotEmpty(t, files)
	return files
}

func TestSameSeedSameBytes(t *testing.T) {
	a, _ := runSmall(t, 42)
	b, _ := runSmall(t, 42)
	assert.Equal(t, a.DeniedBy, b.DeniedBy)
	assert.Equal(t, a.Flags, b.Flags)
	assert.Equal(t, a.Taps, b.Taps)
	fa, fb := statementBytes(t, a), statementBytes(t, b)
	require.Equal(t, len(fa), len(fb))
	for name, body := range fa {
		assert.True(t, bytes.Equal(body, fb[name]), "%s differs between two runs with the same seed", name)
	}

	c, _ := runSmall(t, 43)
	fc := statementBytes(t, c)
	assert.NotEqual(t, fa["statements/rtm-2026-05.csv"], fc["statements/rtm-2026-05.csv"], "another seed, another day")
}

// TestPCSC plays the small day with two gates reading through a private
// pcscd and vpcd: every decision, the journal and the statement bytes are
// those of the in-process run with the same seed. It needs pcscd, the vpcd
// driver and root; without them it is skipped, or fails when CI=true.
func TestPCSC(t *testing.T) {
	pcsctest.Require(t)
	var out, progress bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	p, err := Run(ctx, Config{Seed: 42, Passes: 100, PCSC: true, Out: &out, Progress: &progress, DataDir: filepath.Join(t.TempDir(), "data")})
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "day done: sold 100 ")

	require.Len(t, p.PCSCReaders, 2)
	assert.Contains(t, p.PCSCReaders[0], pcscName+" 00 00 at mucem/j4")
	assert.Contains(t, p.PCSCReaders[1], pcscName+" 00 01 at rtm-bus/83-vieux-port")
	assert.Contains(t, p.PCSCD, "pcscd pid ")
	// With 100 passes each PC/SC gate has fewer than PCSCTapsPerReader
	// taps: all of them are read over PC/SC.
	assert.Greater(t, p.PCSCTaps, 20)
	assert.LessOrEqual(t, p.PCSCTaps, 2*PCSCTapsPerReader)
	assert.Contains(t, out.String(), "taps read over PC/SC through a private pcscd")
	assert.Zero(t, p.Undecided)
	assert.Equal(t, uint64(p.Taps), p.JournalTaps)

	signer, err := reconcile.LoadSigner(filepath.Join(p.DataDir, "keys"))
	require.NoError(t, err)
	rep, err := reconcile.Verify(filepath.Join(p.DataDir, "statements"), signer.PublicKey())
	require.NoError(t, err)
	assert.Equal(t, 11, rep.Statements)

	a, _ := runSmall(t, 42)
	assert.Zero(t, a.PCSCTaps)
	assert.Equal(t, a.DeniedBy, p.DeniedBy)
	assert.Equal(t, a.Flags, p.Flags)
	assert.Equal(t, a.Taps, p.Taps)
	fa, fp := statementBytes(t, a), statementBytes(t, p)
	require.Equal(t, len(fa), len(fp))
	for name, body := range fa {
		assert.True(t, bytes.Equal(body, fp[name]), "%s differs between the in-process and the PC/SC run", name)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	old := pcscd.PcscdPath
	pcscd.PcscdPath = filepath.Join(t.TempDir(), "no-pcscd")
	_, err := Run(ctx, Config{PCSC: true, DataDir: t.TempDir()})
	pcscd.PcscdPath = old
	assert.ErrorIs(t, err, ErrPCSCUnavailable)
	assert.ErrorIs(t, err, pcscd.ErrUnavailable)
	assert.ErrorContains(t, err, "no-pcscd not found")

	_, err = Run(ctx, Config{Passes: -1, DataDir: t.TempDir()})
	assert.ErrorContains(t, err, "passes -1")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"), nil, 0o600))
	_, err = Run(ctx, Config{Passes: 10, DataDir: dir})
	assert.ErrorContains(t, err, "not empty")
}
