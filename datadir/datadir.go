package datadir

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// Names inside a data dir (see the package doc for the layout).
const (
	LedgerDirName = "ledger"
	KeysDirName   = "keys"
	CardKeysFile  = "cards.key"
	// OriginalityKeysFile lists public keys trusted for the NXP originality
	// check besides NXP's own (cardio.LoadOriginalityKeys); optional.
	OriginalityKeysFile = "originality.keys"
)

// LedgerDir returns where the ledger of data dir dir lives.
func LedgerDir(dir string) string { return filepath.Join(dir, LedgerDirName) }

// KeysDir returns the directory of dir's key files (mode 0700).
func KeysDir(dir string) string { return filepath.Join(dir, KeysDirName) }

// CardKeysPath returns the card master key file of dir.
func CardKeysPath(dir string) string { return filepath.Join(KeysDir(dir), CardKeysFile) }

// OriginalityKeysPath returns dir's file of extra trusted originality keys.
func OriginalityKeysPath(dir string) string { return filepath.Join(KeysDir(dir), OriginalityKeysFile) }

// OriginalityKeys returns the public keys dir trusts for the originality
// check of NTAG 424 DNA cards: NXP's, and those of OriginalityKeysPath.
func OriginalityKeys(dir string) ([]*ecdsa.PublicKey, error) {
	return cardio.LoadOriginalityKeys(OriginalityKeysPath(dir))
}

// SigningKeyPath returns the statement signing key file of dir.
func SigningKeyPath(dir string) string { return filepath.Join(KeysDir(dir), reconcile.SigningKeyFile) }

// Errors. Match with errors.Is.
var (
	// ErrNotInitialized: the dir holds no ledger (Init was never run on it).
	ErrNotInitialized = errors.New("datadir: not initialized")
	// ErrInitialized: Init on a dir that already holds a ledger.
	ErrInitialized = errors.New("datadir: already initialized")
	// ErrNoTariff: the ledger stores no tariff version.
	ErrNoTariff = errors.New("datadir: the ledger holds no tariff")
	// ErrTariffExists: AddTariff with the id of a stored version.
	ErrTariffExists = errors.New("datadir: tariff version already loaded")
)

// DefaultLockWait is Options.LockWait's default.
const DefaultLockWait = 3 * time.Second

// lockPoll is how often OpenLedger retries a ledger held by another process.
const lockPoll = 100 * time.Millisecond

// Options configure Open, OpenLedger and Init. The zero value (or nil) is
// safe: every field documents its default. The functions copy it.
type Options struct {
	// LockWait is how long OpenLedger waits for another process to release
	// the ledger before it returns the ledger's *LockedError (which names
	// the holder). Default DefaultLockWait; negative: do not wait.
	LockWait time.Duration
	// Ledger configures the ledger; default nil (ledger defaults). Open and
	// OpenLedger set MustExist on their copy; Init clears it.
	Ledger *ledger.Options
	// Engine configures the Validator Open builds; default nil.
	Engine *engine.Options
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.LockWait == 0 {
		c.LockWait = DefaultLockWait
	}
	return c
}

// ledgerOptions returns a copy of the ledger options with MustExist set.
func (o *Options) ledgerOptions(mustExist bool) *ledger.Options {
	var lo ledger.Options
	if o.Ledger != nil {
		lo = *o.Ledger
	}
	lo.MustExist = mustExist
	return &lo
}

// DataDir is an open data directory: its ledger and a Validator on the
// catalog of the tariff versions stored in it. Safe for concurrent use.
type DataDir struct {
	// Dir is the data dir's path.
	Dir string
	// Ledger is the open ledger; Close closes it.
	Ledger *ledger.Ledger
	// Validator decides taps and runs the pass lifecycle on Ledger.
	Validator *engine.Validator

	borrowed bool // Close leaves the ledger open (Borrow)
}

// Borrow returns a handle on d whose Close does nothing: for code that
// closes what it is given while d stays open (the running hub serving a
// command).
func (d *DataDir) Borrow() *DataDir {
	b := *d
	b.borrowed = true
	return &b
}

// Open opens the initialized data dir dir (ErrNotInitialized if it holds no
// ledger), builds the catalog of the stored tariff versions and a Validator.
func Open(ctx context.Context, dir string, opts *Options) (*DataDir, error) {
	o := opts.withDefaults()
	l, err := OpenLedger(ctx, dir, &o)
	if err != nil {
		return nil, err
	}
	cat, err := LoadCatalog(l)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return newDataDir(dir, l, cat, o.Engine)
}

// newDataDir builds the Validator on an open ledger, closing the ledger if
// that fails.
func newDataDir(dir string, l *ledger.Ledger, cat *tariff.Catalog, eo *engine.Options) (*DataDir, error) {
	id, err := ReadIdentity(l)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	if id.Role == fleet.Node {
		// A node numbers its taps above its ledger's floor, so a wiped node
		// never reuses an earlier ledger's tap ids (docs/fleet.md), and
		// decides with the age of its copy of the hub's state
		// (docs/semantics.md, "Offline policy").
		var o engine.Options
		if eo != nil {
			o = *eo
		}
		o.SeqFloor = max(o.SeqFloor, fleet.SeqFloor(l.Created()))
		if o.StateAsOf == nil {
			o.StateAsOf = StateAsOf(l)
		}
		eo = &o
	}
	v, err := engine.New(l, cat, eo)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return &DataDir{Dir: dir, Ledger: l, Validator: v}, nil
}

// Close closes the ledger (nothing for a borrowed handle).
func (d *DataDir) Close() error {
	if d.borrowed {
		return nil
	}
	return d.Ledger.Close()
}

// Catalog returns the catalog the Validator decides with.
func (d *DataDir) Catalog() *tariff.Catalog { return d.Validator.Catalog() }

// Location returns the time zone of the tariff in force at at (UTC when
// none is): the zone in which an operator's local times are read.
func (d *DataDir) Location(at time.Time) *time.Location { return Location(d.Catalog(), at) }

// Location returns the time zone of the tariff of cat in force at at (UTC
// when none is).
func Location(cat *tariff.Catalog, at time.Time) *time.Location {
	if t, ok := cat.At(at); ok {
		return t.Location
	}
	return time.UTC
}

// CardKeys loads the card master keys.
func (d *DataDir) CardKeys() (*cardio.Keys, error) { return cardio.LoadKeys(CardKeysPath(d.Dir)) }

// Signer loads the statement signing key.
func (d *DataDir) Signer() (*reconcile.Signer, error) { return reconcile.LoadSigner(KeysDir(d.Dir)) }

// AddTariff stores t as a new tariff version and hands the new catalog to
// the Validator: passes sold from t's effective date use it.
func (d *DataDir) AddTariff(ctx context.Context, t *tariff.Tariff) error {
	cat, err := AddTariff(ctx, d.Ledger, t)
	if err != nil {
		return err
	}
	d.Validator.SetCatalog(cat)
	return nil
}

// ReloadTariffs rebuilds the catalog from the tariff versions stored in
// the ledger and hands it to the Validator: for a fleet node whose sync
// stored versions from its hub while the data dir is open (a gate syncing
// in-process). Taps decided meanwhile keep using the previous catalog.
func (d *DataDir) ReloadTariffs() error {
	cat, err := LoadCatalog(d.Ledger)
	if err != nil {
		return err
	}
	d.Validator.SetCatalog(cat)
	return nil
}

// OpenLedger opens the ledger of the initialized data dir dir alone (for
// commands that need no Validator, or a ledger that holds no tariff yet).
// While another process holds it, OpenLedger retries for opts.LockWait, then
// returns the ledger's error, which names the holder.
func OpenLedger(ctx context.Context, dir string, opts *Options) (*ledger.Ledger, error) {
	o := opts.withDefaults()
	lo := o.ledgerOptions(true)
	deadline := time.Now().Add(o.LockWait)
	for {
		l, err := ledger.Open(LedgerDir(dir), lo)
		if err == nil {
			return l, nil
		}
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s has no ledger", ErrNotInitialized, dir)
		}
		if !errors.Is(err, ledger.ErrLocked) || !time.Now().Before(deadline) {
			return nil, fmt.Errorf("opening ledger: %w", err)
		}
		t := time.NewTimer(min(lockPoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("opening ledger: %w (%w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// LoadCatalog builds the catalog of every tariff version stored in l
// (ErrNoTariff if there is none).
func LoadCatalog(l *ledger.Ledger) (*tariff.Catalog, error) {
	versions, err := storedTariffs(l)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, ErrNoTariff
	}
	return tariff.NewCatalog(versions...)
}

func storedTariffs(l *ledger.Ledger) ([]*tariff.Tariff, error) {
	stored, err := l.Tariffs()
	if err != nil {
		return nil, fmt.Errorf("reading tariffs: %w", err)
	}
	versions := make([]*tariff.Tariff, 0, len(stored))
	for _, s := range stored {
		t, err := tariff.Load("tariff "+s.ID, s.TOML)
		if err != nil {
			return nil, fmt.Errorf("stored tariff %s no longer loads: %w", s.ID, err)
		}
		versions = append(versions, t)
	}
	return versions, nil
}

// AddTariff stores t in l as a new version once it forms a valid catalog
// with the stored ones (ErrTariffExists when its id is taken), and returns
// that catalog. l may hold no tariff yet.
func AddTariff(ctx context.Context, l *ledger.Ledger, t *tariff.Tariff) (*tariff.Catalog, error) {
	if t == nil {
		return nil, errors.New("datadir: nil tariff")
	}
	if len(t.Source()) == 0 {
		return nil, fmt.Errorf("datadir: tariff %s has no source text to store: load it with tariff.Load or tariff.LoadFile", t.ID)
	}
	versions, err := storedTariffs(l)
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		if v.ID == t.ID {
			return nil, fmt.Errorf("%w: %q", ErrTariffExists, t.ID)
		}
	}
	cat, err := tariff.NewCatalog(append(versions, t)...)
	if err != nil {
		return nil, err
	}
	if err := l.PutTariff(ctx, t.ID, t.Source()); err != nil {
		if errors.Is(err, ledger.ErrExists) {
			return nil, fmt.Errorf("%w: %q", ErrTariffExists, t.ID)
		}
		return nil, fmt.Errorf("storing tariff %s: %w", t.ID, err)
	}
	return cat, nil
}
