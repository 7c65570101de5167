package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
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
	t := tariff.SampleTariff()
	if tariffFile != "" {
		var err error
		if t, err = tariff.LoadFile(tariffFile); err != nil {
			return err
		}
	}
	d, err := datadir.Init(a.ctx(), a.dataDir, t, &datadir.InitOptions{Options: *a.dataOptions(false)})
	if errors.Is(err, datadir.ErrInitialized) {
		return fmt.Errorf("data dir %s is already initialized; use `citypass tariff load FILE` to add a tariff version", a.dataDir)
	}
	if err != nil {
		return err
	}
	defer d.Close()
	signer, err := d.Signer()
	if err != nil {
		return err
	}
	res := initResult{Data: a.dataDir, Tariff: t.ID, CardKeys: datadir.CardKeysPath(a.dataDir),
		PublicKey: reconcile.FormatPublicKey(signer.PublicKey()),
		KeyPrint:  reconcile.Fingerprint(signer.PublicKey())}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(res)
	}
	fmt.Fprintf(a.stdout, "initialized %s: tariff %s, card keys %s\n", res.Data, res.Tariff, res.CardKeys)
	fmt.Fprintf(a.stdout, "statement signing key %s (`citypass reconcile pubkey` prints it for partners)\n", res.KeyPrint)
	return nil
}
