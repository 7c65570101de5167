package datadir

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// InitOptions configure Init. The zero value (or nil) is safe.
type InitOptions struct {
	Options
	// Rand is the randomness of the card master keys. Default crypto/rand.
	// (The signing key always comes from crypto/rand.)
	Rand io.Reader
}

// Init creates the data dir dir: the card master keys and the statement
// signing key (each kept if already present), then the ledger, storing t as
// its first tariff version. It refuses a dir that already holds a ledger
// (ErrInitialized) and returns the data dir open, as Open would.
//
// The keys are written before the ledger: a ledger without keys would be
// half initialized, while keys without a ledger are harmless and kept by the
// next Init.
func Init(ctx context.Context, dir string, t *tariff.Tariff, opts *InitOptions) (*DataDir, error) {
	var o InitOptions
	if opts != nil {
		o = *opts
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if t == nil {
		return nil, errors.New("datadir: Init needs a tariff")
	}
	if len(t.Source()) == 0 {
		return nil, fmt.Errorf("datadir: tariff %s has no source text to store: load it with tariff.Load or tariff.LoadFile", t.ID)
	}
	lo := o.Options.ledgerOptions(false)
	fsys := lo.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	if _, err := fsys.Stat(LedgerDir(dir)); err == nil {
		return nil, fmt.Errorf("%w: %s already has a ledger", ErrInitialized, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	if err := initKeys(dir, o.Rand); err != nil {
		return nil, err
	}
	l, err := ledger.Open(LedgerDir(dir), lo)
	if err != nil {
		return nil, fmt.Errorf("creating ledger: %w", err)
	}
	cat, err := AddTariff(ctx, l, t)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return newDataDir(dir, l, cat, o.Engine)
}

// initKeys writes the card master keys and the statement signing key unless
// they are already there.
func initKeys(dir string, random io.Reader) error {
	if err := os.MkdirAll(KeysDir(dir), 0o700); err != nil {
		return fmt.Errorf("creating data dir %s: %w", dir, err)
	}
	if _, err := os.Stat(CardKeysPath(dir)); errors.Is(err, fs.ErrNotExist) {
		keys, err := cardio.GenerateKeys(random)
		if err != nil {
			return err
		}
		if err := cardio.SaveKeys(CardKeysPath(dir), keys); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if _, err := reconcile.LoadSigner(KeysDir(dir)); err != nil {
		// No usable key: create one (refused, with the reason, when an
		// unreadable key file is in the way).
		if _, err := reconcile.GenerateSigningKey(KeysDir(dir)); err != nil {
			return err
		}
	}
	return nil
}
