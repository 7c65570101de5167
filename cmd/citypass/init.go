package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/spf13/cobra"
)

func init() { registerCommand("init", newInitCmd) }

func newInitCmd(a *app) *cobra.Command {
	var tariffFile string
	c := &cobra.Command{
		Use:   "init [--tariff FILE]",
		Short: "Create the data dir: ledger, tariff (default: built-in Marseille sample), card and signing keys",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.runInit(tariffFile) },
	}
	c.Flags().StringVar(&tariffFile, "tariff", "", "tariff file (TOML, schema 1); default: the built-in sample")
	return c
}

// initResult is what init prints.
type initResult struct {
	Data      string `json:"data"`
	Tariff    string `json:"tariff"`
	CardKeys  string `json:"card_keys"`
	PublicKey string `json:"signing_public_key"` // PEM
	KeyPrint  string `json:"signing_key_fingerprint"`
}

func (a *app) runInit(tariffFile string) error {
	// Validate everything before writing anything.
	var t *tariff.Tariff
	var err error
	if tariffFile == "" {
		t = tariff.SampleTariff()
	} else if t, err = tariff.LoadFile(tariffFile); err != nil {
		return err
	}
	ldir := ledger.DirIn(a.dataDir)
	if _, err := os.Stat(ldir); err == nil {
		return fmt.Errorf("data dir %s is already initialized; use `citypass tariff load FILE` to add a tariff version", a.dataDir)
	}
	if err := os.MkdirAll(a.keysDir(), 0o700); err != nil {
		return fmt.Errorf("creating data dir %s: %w", a.dataDir, err)
	}
	// Keys first: a ledger without keys would be half initialized, keys
	// without a ledger are harmless and refused on a second try only when
	// present (then the operator deletes or keeps them knowingly).
	if _, err := os.Stat(a.cardKeysPath()); err != nil {
		keys, err := cardio.GenerateKeys(rand.Reader)
		if err != nil {
			return err
		}
		if err := cardio.SaveKeys(a.cardKeysPath(), keys); err != nil {
			return err
		}
	}
	signer, err := reconcile.LoadSigner(a.keysDir())
	if err != nil {
		// No usable key: create one (refused, with the reason, when an
		// unreadable key file is in the way).
		if signer, err = reconcile.GenerateSigningKey(a.keysDir()); err != nil {
			return err
		}
	}
	l, err := ledger.Open(ldir, nil)
	if err != nil {
		return fmt.Errorf("creating ledger: %w", err)
	}
	defer l.Close()
	if err := l.PutTariff(a.ctx(), t.ID, t.Source()); err != nil {
		return fmt.Errorf("storing tariff %s: %w", t.ID, err)
	}
	res := initResult{Data: a.dataDir, Tariff: t.ID, CardKeys: a.cardKeysPath(),
		PublicKey: reconcile.FormatPublicKey(signer.PublicKey()),
		KeyPrint:  reconcile.Fingerprint(signer.PublicKey())}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(res)
	}
	fmt.Fprintf(a.stdout, "initialized %s: tariff %s, card keys %s\n", res.Data, res.Tariff, res.CardKeys)
	fmt.Fprintf(a.stdout, "statement signing key %s (`citypass reconcile pubkey` prints it for partners)\n", res.KeyPrint)
	return nil
}
