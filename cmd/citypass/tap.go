package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/spf13/cobra"
)

func init() { registerCommand("tap", newTapCmd) }

// defaultDevice is the device id of taps typed at the command line.
const defaultDevice = "cli"

type tapFlags struct {
	card, sun, gate, at, device string
	lang                        string
	exit                        bool
	seq                         uint64
	seqSet                      bool
}

func newTapCmd(a *app) *cobra.Command {
	var f tapFlags
	c := &cobra.Command{
		Use:   "tap (--card CARD | --sun URL) --gate VENUE/GATE [--exit] [--at TIME] [--device ID --seq N]",
		Short: "Present a card at a gate: decide, journal durably, print the decision (exit 3 when denied)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.seqSet = cmd.Flags().Changed("seq")
			return a.runTap(f)
		},
	}
	c.Flags().StringVar(&f.card, "card", "", "the `CARD` UID, in hex")
	c.Flags().StringVar(&f.sun, "sun", "", "NTAG 424 DNA SUN message `URL` (or its query) instead of --card")
	c.Flags().StringVar(&f.gate, "gate", "", "gate id `VENUE/GATE` (required)")
	c.Flags().BoolVar(&f.exit, "exit", false, "an exit tap (never traps anyone, counts nothing)")
	c.Flags().StringVar(&f.at, "at", "", "tap `TIME` from the gate's clock; default now")
	c.Flags().StringVar(&f.device, "device", defaultDevice, "device `ID` of the tap")
	c.Flags().StringVar(&f.lang, "lang", "", "language of the message, `LANG` en or fr (default: the tariff's)")
	c.Flags().Uint64Var(&f.seq, "seq", 0, "the device's sequence number `N` of the tap, from 1; default: the next after the device's highest")
	_ = c.MarkFlagRequired("gate")
	return c
}

func (a *app) runTap(f tapFlags) error {
	if (f.card == "") == (f.sun == "") {
		return usageErr("tap needs exactly one of --card CARD or --sun URL")
	}
	if f.device == "" {
		return usageErr("--device must not be empty")
	}
	if f.seqSet && f.seq == 0 {
		return usageErr("--seq 0: a device's seqs start at 1 (leave --seq out to take the next one)")
	}
	lang, err := engine.ParseLanguage(f.lang)
	if err != nil {
		return usageErr("--lang %q: want en or fr", f.lang)
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.Close()
	at, err := a.timeFlag(s, "at", f.at)
	if err != nil {
		return err
	}
	tap := engine.Tap{Gate: f.gate, At: at, ID: engine.TapID{Device: f.device, Seq: f.seq}}
	if f.exit {
		tap.Direction = engine.Exit
	}
	if f.card != "" {
		if tap.Card, err = engine.NormalizeUID(f.card); err != nil {
			return usageErr("--card %q: %v", f.card, err)
		}
	} else if err := a.credentialFromSUN(f.sun, &tap); err != nil {
		return err
	}
	// Without --seq, Seq stays 0: the engine numbers the tap after the
	// device's highest seq, in the transaction that journals it.
	if f.seqSet && f.at == "" {
		// A tap re-sent by id without --at repeats the original tap time:
		// otherwise "now" would differ and the retry would be refused as a
		// different tap under a used id.
		if prev, ok, err := journaledTap(s, tap.ID); err != nil {
			return err
		} else if ok {
			tap.At = prev.At
		}
	}
	res, err := s.Validator.Validate(a.ctx(), tap)
	if err != nil {
		return err
	}
	if f.lang != "" {
		// The decision's times are in the tariff's zone already.
		res.Message = engine.MessageIn(lang, res.Decision, tap.Direction, engine.PassbackWait(res.RetryAt, tap.At), nil)
	}
	return a.printTapResult(res)
}

// journaledTap returns the journaled tap with id, if any.
func journaledTap(s *session, id engine.TapID) (rec engine.TapRecord, ok bool, err error) {
	err = s.Ledger.View(context.Background(), func(r engine.Reader) error {
		rec, ok, err = r.Tap(id)
		return err
	})
	return rec, ok, err
}

// credentialFromSUN verifies a SUN message with the data dir's card keys and
// fills the tap's card and counter. A message that fails verification is still
// a tap: it is journaled as INVALID, with the UID when it decrypted.
func (a *app) credentialFromSUN(sun string, tap *engine.Tap) error {
	keys, err := cardio.LoadKeys(datadir.CardKeysPath(a.dataDir))
	if err != nil {
		return fmt.Errorf("card keys: %w", err)
	}
	cred, err := cardio.CredentialFromSUN(sun, cardio.SUNParams{}, keys)
	if uid, failed := cardio.ProofFailure(err); failed {
		tap.Card, tap.ProofFailed = uid, true
		return nil
	}
	if errors.Is(err, cardio.ErrMalformed) {
		return usageErr("--sun: %v", err)
	}
	if err != nil {
		return err
	}
	tap.Card, tap.Counter, tap.HasCounter = cred.UID, cred.Counter, cred.HasCounter
	return nil
}

// printTapResult prints the `tap --json` object (or a human line) and turns a
// deny into exit code 3.
func (a *app) printTapResult(res engine.Result) error {
	if a.json {
		if err := json.NewEncoder(a.stdout).Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.stdout, tapLine(res))
	}
	if !res.Decision.Accept {
		return withCode(exitDenied, nil)
	}
	return nil
}

// tapLine is the human form of a decision: "ACCEPT OK [ACTIVATED] pass … — message".
func tapLine(res engine.Result) string {
	var b strings.Builder
	if res.Decision.Accept {
		b.WriteString("ACCEPT")
	} else {
		b.WriteString("DENY")
	}
	fmt.Fprintf(&b, " %s", res.Decision.Reason)
	if names := res.Decision.Flags.Names(); len(names) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(names, ","))
	}
	if res.Decision.Pass != "" {
		fmt.Fprintf(&b, " pass %s", res.Decision.Pass)
	}
	fmt.Fprintf(&b, " tap %s", res.Tap)
	if res.Duplicate {
		b.WriteString(" (duplicate)")
	}
	if res.Message != "" {
		fmt.Fprintf(&b, " — %s", res.Message)
	}
	return b.String()
}
