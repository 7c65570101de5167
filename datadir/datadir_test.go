// These tests prove that Init leaves a data dir that Open opens with the
// stored tariff, that neither replaces what is already there, and that
// OpenLedger waits for, and then names, another holder of the ledger.
package datadir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

func newDir(t *testing.T) string { return filepath.Join(t.TempDir(), "data") }

// nextTariff is the sample tariff under another id, effective a year later.
func nextTariff(t *testing.T) *tariff.Tariff {
	t.Helper()
	src := strings.Replace(string(tariff.Sample()), `id = "marseille-2026"`, `id = "marseille-2027"`, 1)
	src = strings.Replace(src, `effective_from = "2026-01-01"`, `effective_from = "2027-01-01"`, 1)
	tv, err := tariff.Load("next.toml", []byte(src))
	require.NoError(t, err)
	return tv
}

func TestInitThenOpen(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	d, err := Init(ctx, dir, tariff.SampleTariff(), nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())

	for _, p := range []string{CardKeysPath(dir), SigningKeyPath(dir)} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}
	fi, err := os.Stat(KeysDir(dir))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	d, err = Open(ctx, dir, nil)
	require.NoError(t, err)
	defer d.Close()
	_, ok := d.Catalog().Version("marseille-2026")
	assert.True(t, ok, "the catalog comes from the tariff stored by Init")
	_, err = d.CardKeys()
	require.NoError(t, err)
	_, err = d.Signer()
	require.NoError(t, err)

	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, paris)
	assert.Equal(t, paris.String(), d.Location(at).String())
	_, err = d.Validator.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A1B2C3D4E5F6", At: at})
	require.NoError(t, err)
	res, err := d.Validator.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "g1", Seq: 1}, Card: "04A1B2C3D4E5F6", Gate: "mucem/g1", At: at.Add(time.Hour)})
	require.NoError(t, err)
	assert.True(t, res.Decision.Accept)
}

func TestInitRefusesAnInitializedDirAndKeepsItsKeys(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	d, err := Init(ctx, dir, tariff.SampleTariff(), nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	cardKeys, err := os.ReadFile(CardKeysPath(dir))
	require.NoError(t, err)
	signing, err := os.ReadFile(SigningKeyPath(dir))
	require.NoError(t, err)

	_, err = Init(ctx, dir, nextTariff(t), nil)
	require.ErrorIs(t, err, ErrInitialized)
	after, err := os.ReadFile(CardKeysPath(dir))
	require.NoError(t, err)
	assert.Equal(t, cardKeys, after)
	after, err = os.ReadFile(SigningKeyPath(dir))
	require.NoError(t, err)
	assert.Equal(t, signing, after)
}

func TestInitKeepsKeysAlreadyThere(t *testing.T) {
	dir := newDir(t)
	require.NoError(t, os.MkdirAll(KeysDir(dir), 0o700))
	keys, err := cardio.GenerateKeys(strings.NewReader(strings.Repeat("k", 64)))
	require.NoError(t, err)
	require.NoError(t, cardio.SaveKeys(CardKeysPath(dir), keys))

	d, err := Init(context.Background(), dir, tariff.SampleTariff(), nil)
	require.NoError(t, err)
	defer d.Close()
	got, err := d.CardKeys()
	require.NoError(t, err)
	assert.Equal(t, keys.Fingerprint(), got.Fingerprint())
}

func TestInitNeedsAStorableTariff(t *testing.T) {
	dir := newDir(t)
	_, err := Init(context.Background(), dir, nil, nil)
	require.Error(t, err)
	_, err = Init(context.Background(), dir, &tariff.Tariff{ID: "literal"}, nil)
	require.ErrorContains(t, err, "no source text")
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing is written for a tariff that cannot be stored")
}

func TestOpenUninitialized(t *testing.T) {
	_, err := Open(context.Background(), newDir(t), nil)
	require.ErrorIs(t, err, ErrNotInitialized)
	_, err = OpenLedger(context.Background(), newDir(t), nil)
	require.ErrorIs(t, err, ErrNotInitialized)
}

func TestOpenWithoutTariff(t *testing.T) {
	dir := newDir(t)
	l, err := ledger.Open(LedgerDir(dir), nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_, err = Open(context.Background(), dir, nil)
	require.ErrorIs(t, err, ErrNoTariff)
}

func TestAddTariff(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	l, err := ledger.Open(LedgerDir(dir), nil)
	require.NoError(t, err)
	// A ledger without a tariff takes a first version.
	cat, err := AddTariff(ctx, l, tariff.SampleTariff())
	require.NoError(t, err)
	assert.Len(t, cat.Versions(), 1)
	_, err = AddTariff(ctx, l, tariff.SampleTariff())
	require.ErrorIs(t, err, ErrTariffExists)
	require.NoError(t, l.Close())

	d, err := Open(ctx, dir, nil)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.AddTariff(ctx, nextTariff(t)))
	assert.Len(t, d.Catalog().Versions(), 2, "the Validator decides with the new version at once")
	stored, err := LoadCatalog(d.Ledger)
	require.NoError(t, err)
	assert.Len(t, stored.Versions(), 2)
}

// TestReloadTariffs: a version stored in the ledger behind the Validator's
// back (a node's sync) is decided with only after ReloadTariffs.
func TestReloadTariffs(t *testing.T) {
	ctx := context.Background()
	d, err := Init(ctx, newDir(t), tariff.SampleTariff(), nil)
	require.NoError(t, err)
	defer d.Close()
	_, err = AddTariff(ctx, d.Ledger, nextTariff(t))
	require.NoError(t, err)
	assert.Len(t, d.Catalog().Versions(), 1, "stored, not yet in the Validator's catalog")
	require.NoError(t, d.ReloadTariffs())
	assert.Len(t, d.Catalog().Versions(), 2)
	_, ok := d.Catalog().Version("marseille-2027")
	assert.True(t, ok)
}

func TestOpenLedgerNamesTheHolderAfterLockWait(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	d, err := Init(ctx, dir, tariff.SampleTariff(), nil)
	require.NoError(t, err)
	defer d.Close()

	start := time.Now()
	_, err = OpenLedger(ctx, dir, &Options{LockWait: -1})
	require.ErrorIs(t, err, ledger.ErrLocked)
	_, err = OpenLedger(ctx, dir, &Options{LockWait: 300 * time.Millisecond})
	require.ErrorIs(t, err, ledger.ErrLocked)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "it waited")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = OpenLedger(cctx, dir, &Options{LockWait: time.Hour})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, ledger.ErrLocked)
}

func TestOpenLedgerGetsTheLedgerOnceReleased(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	d, err := Init(ctx, dir, tariff.SampleTariff(), nil)
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		l, err := OpenLedger(ctx, dir, &Options{LockWait: time.Minute})
		if err == nil {
			err = l.Close()
		}
		got <- err
	}()
	require.NoError(t, d.Close())
	require.NoError(t, <-got)
}
