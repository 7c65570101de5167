package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/datadir"
	"github.com/spf13/cobra"
)

func init() { registerCommand("card", newCardCmd) }

func newCardCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "card", Short: "Card keys, personalization and SUN verification"}
	keys := &cobra.Command{Use: "keys", Short: "The operator's card master keys"}
	keys.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Write fresh card master keys into the data dir (mode 0600); refuses to replace existing keys",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.runCardKeysInit() },
	})
	c.AddCommand(keys, newCardPersonalizeCmd(a), newCardSUNVerifyCmd(a))
	return c
}

func (a *app) runCardKeysInit() error {
	path := datadir.CardKeysPath(a.dataDir)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("card keys already exist at %s; replacing them would orphan every personalized card, so remove the file yourself if you really mean it", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(datadir.KeysDir(a.dataDir), 0o700); err != nil {
		return err
	}
	keys, err := cardio.GenerateKeys(rand.Reader)
	if err != nil {
		return err
	}
	if err := cardio.SaveKeys(path, keys); err != nil {
		return err
	}
	// Never the keys themselves: only where they are and a fingerprint.
	fmt.Fprintf(a.stdout, "card keys written to %s (fingerprint %s)\n", path, keys.Fingerprint())
	return nil
}

func newCardPersonalizeCmd(a *app) *cobra.Command {
	var reader, url string
	var wait time.Duration
	c := &cobra.Command{
		Use:   "personalize --reader NAME [--url TEMPLATE] [--wait 30s]",
		Short: "Write diversified keys and SUN mirroring to the blank NTAG 424 DNA on a reader",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			keys, trust, err := a.cardTrust()
			if err != nil {
				return err
			}
			card, name, err := waitCard(a.ctx(), reader, wait)
			if err != nil {
				return err
			}
			defer card.Close()
			cred, err := cardio.Personalize(a.ctx(), card, keys, url, &cardio.PersonalizeOptions{OriginalityKeys: trust})
			if err != nil {
				return fmt.Errorf("personalizing the card on %q: %w", name, err)
			}
			if a.json {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"card": cred.UID, "reader": name, "counter": cred.Counter,
					"genuine": true, "verified": true})
			}
			fmt.Fprintf(a.stdout, "card %s (genuine NXP NTAG 424 DNA) personalized on %s; read back: file settings, CC file, keys 0-4, SUN counter %d\n",
				cred.UID, name, cred.Counter)
			fmt.Fprintf(a.stdout, "sell a pass onto it with `citypass pass sell --reader %s` or `--card %s`\n", name, cred.UID)
			return nil
		},
	}
	c.Flags().StringVar(&reader, "reader", "", "PC/SC reader `NAME` (or its prefix), or auto for the only reader (required)")
	c.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for a card on the reader (a `DURATION`: 30s, 2m)")
	c.Flags().StringVar(&url, "url", cardio.DefaultURLTemplate, "NDEF URL `TEMPLATE` with {picc} and {mac} placeholders")
	_ = c.MarkFlagRequired("reader")
	return c
}

// cardTrust loads the card master keys and the originality keys the data
// dir trusts.
func (a *app) cardTrust() (*cardio.Keys, []*ecdsa.PublicKey, error) {
	keys, err := cardio.LoadKeys(datadir.CardKeysPath(a.dataDir))
	if err != nil {
		return nil, nil, fmt.Errorf("card keys: %w (run `citypass init` or `citypass card keys init`)", err)
	}
	trust, err := datadir.OriginalityKeys(a.dataDir)
	if err != nil {
		return nil, nil, err
	}
	return keys, trust, nil
}

// checkCardOnReader waits for the card on reader and checks it as a sales
// desk must (cardio.CheckCard): it returns the card's UID.
func (a *app) checkCardOnReader(reader string, wait time.Duration) (string, error) {
	keys, trust, err := a.cardTrust()
	if err != nil {
		return "", err
	}
	card, name, err := waitCard(a.ctx(), reader, wait)
	if err != nil {
		return "", err
	}
	defer card.Close()
	cred, err := cardio.CheckCard(a.ctx(), card, keys, &cardio.CheckOptions{OriginalityKeys: trust})
	switch {
	case errors.Is(err, cardio.ErrNotGenuine):
		return "", fmt.Errorf("refusing the card on %q: %w", name, err)
	case errors.Is(err, cardio.ErrProofFailed):
		return "", fmt.Errorf("refusing the card on %q: it does not prove it is a citypass card (personalize it first with `citypass card personalize`): %w", name, err)
	case err != nil:
		return "", fmt.Errorf("reading the card on %q: %w", name, err)
	}
	return cred.UID, nil
}

// waitCard resolves reader (pickReader) and waits up to wait for a card on
// it: the operator may put the card down after starting the command.
func waitCard(ctx context.Context, reader string, wait time.Duration) (*pcsc.Card, string, error) {
	name, err := pickReader(reader)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	card, err := pcsc.WaitCard(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("no card on reader %q within %s: %w", name, wait, err)
	}
	return card, name, nil
}

// pickReader resolves a reader name: "auto" means the only reader there is;
// otherwise the first reader whose name starts with name.
func pickReader(name string) (string, error) {
	readers, err := pcsc.ListReaders()
	if err != nil {
		return "", fmt.Errorf("listing PC/SC readers: %w", err)
	}
	if name == pcsc.AutoReaders {
		if len(readers) != 1 {
			return "", fmt.Errorf("--reader auto needs exactly one reader; found %d: %s", len(readers), strings.Join(readers, ", "))
		}
		return readers[0], nil
	}
	for _, r := range readers {
		if strings.HasPrefix(r, name) {
			return r, nil
		}
	}
	return "", fmt.Errorf("no reader named %q; readers: %s", name, strings.Join(readers, ", "))
}

func newCardSUNVerifyCmd(a *app) *cobra.Command {
	var keyHex, masterHex, sun string
	c := &cobra.Command{
		Use:   "sun-verify (--key KEY | --master KEY) --sun URL",
		Short: "Decrypt and check an NTAG 424 DNA SUN message; print the card UID and counter",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if keyHex != "" && masterHex != "" {
				return usageErr("give --key or --master, not both")
			}
			var keys cardio.KeySource
			switch {
			case keyHex != "":
				k, err := cardio.ParseKey(keyHex)
				if err != nil {
					return usageErr("--key: %v", err)
				}
				keys = cardio.SingleKey(k)
			case masterHex != "":
				m, err := cardio.ParseKey(masterHex)
				if err != nil {
					return usageErr("--master: %v", err)
				}
				keys = &cardio.Keys{NTAGApp: m, SUNMeta: m, SUNFileRead: m, DESFireApp: m}
			default:
				k, err := cardio.LoadKeys(datadir.CardKeysPath(a.dataDir))
				if err != nil {
					return usageErr("give --key HEX or --master HEX (no data dir keys: %v)", err)
				}
				keys = k
			}
			cred, err := cardio.CredentialFromSUN(sun, cardio.SUNParams{}, keys)
			if _, failed := cardio.ProofFailure(err); !failed && errors.Is(err, cardio.ErrMalformed) {
				return usageErr("--sun: %v", err)
			}
			if err != nil {
				return err
			}
			if a.json {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"card": cred.UID, "counter": cred.Counter, "valid": true})
			}
			fmt.Fprintf(a.stdout, "valid SUN: card %s, counter %d\n", cred.UID, cred.Counter)
			return nil
		},
	}
	c.Flags().StringVar(&keyHex, "key", "", "the card's `KEY` (hex, 16 bytes) for every SUN role")
	c.Flags().StringVar(&masterHex, "master", "", "one master `KEY` (hex) diversified per card for every role")
	c.Flags().StringVar(&sun, "sun", "", "the SUN `URL` or its query (required)")
	_ = c.MarkFlagRequired("sun")
	return c
}
