package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/spf13/cobra"
)

func init() { registerCommand("reconcile", newReconcileCmd) }

func newReconcileCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "reconcile", Short: "Close signed partner statements, verify them, match partner exports, pay out"}
	c.AddCommand(newReconcileCloseCmd(a), newReconcileVerifyCmd(a), newReconcileMatchCmd(a),
		newReconcilePayoutCmd(a), newReconcilePubkeyCmd(a))
	return c
}

// render prints a result as a table, or as JSON with --json.
func (a *app) render(t reconcile.Tabler) error {
	f := reconcile.FormatTable
	if a.json {
		f = reconcile.FormatJSON
	}
	return reconcile.Render(a.stdout, t, f)
}

func newReconcileCloseCmd(a *app) *cobra.Command {
	var period, through, partner, at, out string
	var catchUp, allowLagging bool
	c := &cobra.Command{
		Use:   "close (--through YYYY-MM-DD | --period PERIOD [--catch-up]) [--partner ID] [--at TIME] [--allow-lagging] --out DIR",
		Short: "Month end: close every partner period ended by DATE (or period P) into DIR, then recognise the revenue due",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if (period == "") == (through == "") {
				return usageErr("give --through DATE or --period P (exactly one)")
			}
			if catchUp && period == "" {
				return usageErr("--catch-up goes with --period")
			}
			opts := reconcile.CloseOptions{Period: period, CatchUp: catchUp, Partner: partner, OutDir: out}
			if through != "" {
				d, err := tariff.ParseDate(through)
				if err != nil {
					return usageErr("--through: %v", err)
				}
				opts.Through = d
			}
			return a.withSession(func(s *session) error {
				var err error
				if opts.At, err = a.timeFlag(s, "at", at); err != nil {
					return err
				}
				signer, err := reconcile.LoadSigner(datadir.KeysDir(a.dataDir))
				if err != nil {
					return err
				}
				id, err := datadir.ReadIdentity(s.Ledger)
				if err != nil {
					return err
				}
				if id.Role == fleet.Hub && !allowLagging {
					opts.Ready = hub.CloseReady(a.ctx(), s.Ledger)
				}
				if err := os.MkdirAll(out, 0o755); err != nil {
					return fmt.Errorf("creating --out %s: %w", out, err)
				}
				label := period
				if label == "" {
					label = "through " + through
				}
				bar := a.newProgress("closing " + label)
				defer bar.done()
				opts.Progress = bar.update
				res, err := reconcile.MonthEnd(a.ctx(), s.Ledger, s.Catalog(), signer, reconcile.MonthEndOptions{
					CloseOptions: opts, AfterClose: func(*reconcile.CloseResult) { bar.done() }})
				if err != nil {
					return err
				}
				return a.render(res)
			})
		},
	}
	c.Flags().StringVar(&through, "through", "", "close every period ended by the end of this service day, `YYYY-MM-DD`, oldest first")
	c.Flags().StringVar(&period, "period", "", "close this `PERIOD`: 2026-11 (month), 2026-W48 (ISO week) or 2026-11-27 (day)")
	c.Flags().BoolVar(&catchUp, "catch-up", false, "with --period: close the earlier open periods that have visits first instead of refusing")
	c.Flags().StringVar(&partner, "partner", "", "close only the statements of this partner `ID`")
	c.Flags().StringVar(&at, "at", "", "closing `TIME`; periods must have ended by then; default now")
	c.Flags().StringVar(&out, "out", "", "`DIR` for the statement files (required)")
	c.Flags().BoolVar(&allowLagging, "allow-lagging", false, "at a hub: close even while nodes that uploaded taps of the periods have not been in contact since they ended (their late taps become adjustments)")
	_ = c.MarkFlagRequired("out")
	return c
}

func newReconcileVerifyCmd(a *app) *cobra.Command {
	var pubFile string
	c := &cobra.Command{
		Use:   "verify DIR [--pubkey FILE]",
		Short: "Check every statement's hashes, chain and signature, and that the ledger's visits all belong to a statement",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			pub, err := a.verifyKey(pubFile)
			if err != nil {
				return err
			}
			rep, err := reconcile.Verify(args[0], pub)
			if err != nil {
				return err
			}
			// With the data dir at hand (the operator's case, not a
			// partner's), the ledger's visits are checked too.
			if s, err := a.openSession(); err == nil {
				defer s.Close()
				if rep.Coverage, err = reconcile.Coverage(a.ctx(), s.Ledger, s.Catalog(), a.now()); err != nil {
					return err
				}
			}
			if err := a.render(rep); err != nil {
				return err
			}
			if rep.Coverage != nil && !rep.Coverage.OK() {
				return withCode(exitError, fmt.Errorf("%d period(s) have visits that belong to no statement", len(rep.Coverage.Unstated)))
			}
			return nil
		},
	}
	c.Flags().StringVar(&pubFile, "pubkey", "", "operator public key `FILE` (PEM, from citypass reconcile pubkey); default: the data dir's signing key")
	return c
}

// verifyKey is the public key statements are checked against: a PEM file
// (what a partner has) or the data dir's own signing key.
func (a *app) verifyKey(pubFile string) (ed25519.PublicKey, error) {
	if pubFile != "" {
		b, err := os.ReadFile(pubFile)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: %w", err)
		}
		pub, err := reconcile.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("--pubkey %s: %w", pubFile, err)
		}
		return pub, nil
	}
	signer, err := reconcile.LoadSigner(datadir.KeysDir(a.dataDir))
	if err != nil {
		return nil, fmt.Errorf("no --pubkey given and the data dir's key is unreadable: %w", err)
	}
	return signer.PublicKey(), nil
}

func newReconcileMatchCmd(a *app) *cobra.Command {
	var statement, partnerFile string
	var tolerance time.Duration
	c := &cobra.Command{
		Use:   "match --statement FILE --partner-file FILE [--tolerance 2m]",
		Short: "Compare a statement with a partner's scan export (scanned_at,card,gate); exit 4 on discrepancies",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			loc := time.UTC
			// Partner exports usually carry local times: read them in the
			// tariff's zone when a data dir is at hand.
			if s, err := a.openReadSession(); err == nil {
				loc = s.Location(a.now())
				s.Close()
			}
			res, err := reconcile.Match(reconcile.MatchOptions{Statement: statement, PartnerFile: partnerFile,
				Tolerance: tolerance, Location: loc})
			if err != nil {
				return err
			}
			if err := a.render(res); err != nil {
				return err
			}
			if res.Discrepancies() {
				return withCode(exitDiscrepancy, nil)
			}
			return nil
		},
	}
	c.Flags().StringVar(&statement, "statement", "", "the statement's .csv or .json `FILE` (required)")
	c.Flags().StringVar(&partnerFile, "partner-file", "", "the partner's export `FILE`, CSV scanned_at,card,gate (required)")
	c.Flags().DurationVar(&tolerance, "tolerance", 2*time.Minute, "largest clock difference for a match (a `DURATION`)")
	_ = c.MarkFlagRequired("statement")
	_ = c.MarkFlagRequired("partner-file")
	return c
}

func newReconcilePayoutCmd(a *app) *cobra.Command {
	var out, date string
	var d reconcile.Debtor
	c := &cobra.Command{
		Use:   "payout --out FILE.xml [--date YYYY-MM-DD] | config | list | reissue ID | cancel ID | settle ID | import-status FILE",
		Short: "Issue one SEPA pain.001.001.03 file paying every closed, unpaid statement (one transfer per partner); manage payouts",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if out == "" {
				return usageErr("--out FILE.xml is required to issue a payout")
			}
			opts := reconcile.PayoutOptions{Out: out, At: a.now()}
			if date != "" {
				dd, err := tariff.ParseDate(date)
				if err != nil {
					return usageErr("--date: %v", err)
				}
				opts.Date = dd
			}
			if d != (reconcile.Debtor{}) {
				if d.Name == "" || d.IBAN == "" || d.BIC == "" {
					return usageErr("--debtor-name, --debtor-iban and --debtor-bic go together (or store them with `reconcile payout config`)")
				}
				opts.Debtor = &d
			}
			return a.withSession(func(s *session) error {
				res, err := reconcile.Payout(a.ctx(), s.Ledger, s.Catalog(), opts)
				if errors.Is(err, reconcile.ErrNothingToPay) {
					fmt.Fprintln(a.stdout, "nothing to pay: no closed, unpaid statement with a positive net; no file written")
					return nil
				}
				if errors.Is(err, reconcile.ErrNoDebtor) {
					return fmt.Errorf("%w: run `citypass reconcile payout config --debtor-name N --debtor-iban I --debtor-bic B` once", err)
				}
				if err != nil {
					return err
				}
				return a.render(res)
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "pain.001 XML `FILE` to write")
	c.Flags().StringVar(&date, "date", "", "requested execution date, `YYYY-MM-DD`; default today")
	debtorFlags(c, &d, "for this payout only, instead of the stored debtor (citypass reconcile payout config)")
	c.AddCommand(newPayoutConfigCmd(a), newPayoutListCmd(a), newPayoutReissueCmd(a), newPayoutStepCmd(a, "cancel"),
		newPayoutStepCmd(a, "settle"), newPayoutImportCmd(a))
	return c
}

func debtorFlags(c *cobra.Command, d *reconcile.Debtor, why string) {
	c.Flags().StringVar(&d.Name, "debtor-name", "", "the operator's account holder `NAME` "+why)
	c.Flags().StringVar(&d.IBAN, "debtor-iban", "", "the operator's `IBAN` "+why)
	c.Flags().StringVar(&d.BIC, "debtor-bic", "", "the operator's `BIC` "+why)
}

func newPayoutConfigCmd(a *app) *cobra.Command {
	var d reconcile.Debtor
	c := &cobra.Command{
		Use:   "config [--debtor-name NAME --debtor-iban IBAN --debtor-bic BIC]",
		Short: "Store the operator's account that payouts debit (without flags: print it)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withSession(func(s *session) error {
				var err error
				if d == (reconcile.Debtor{}) {
					d, err = reconcile.PayoutDebtor(s.Ledger)
				} else {
					d, err = reconcile.SetPayoutDebtor(a.ctx(), s.Ledger, d)
				}
				if err != nil {
					return err
				}
				if a.json {
					return json.NewEncoder(a.stdout).Encode(d)
				}
				fmt.Fprintf(a.stdout, "debtor %s, IBAN %s, BIC %s\n", d.Name, d.IBAN, d.BIC)
				return nil
			})
		},
	}
	debtorFlags(c, &d, "(stored)")
	return c
}

func newPayoutListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the payouts and their state",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withSession(func(s *session) error {
				l, err := reconcile.Payouts(a.ctx(), s.Ledger)
				if err != nil {
					return err
				}
				return a.render(l)
			})
		},
	}
}

func newPayoutReissueCmd(a *app) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "reissue ID --out FILE.xml",
		Short: "Write a payout's file again, byte for byte (changes nothing in the ledger)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withSession(func(s *session) error {
				res, err := reconcile.ReissuePayout(s.Ledger, args[0], out, nil)
				if err != nil {
					return err
				}
				return a.render(res)
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "pain.001 XML `FILE` to write (required)")
	_ = c.MarkFlagRequired("out")
	return c
}

// newPayoutStepCmd is `payout cancel ID` or `payout settle ID`.
func newPayoutStepCmd(a *app, step string) *cobra.Command {
	var at string
	short := map[string]string{
		"cancel": "Cancel an issued payout: its statements are unpaid again (reversing postings), for the next payout",
		"settle": "Record that an issued payout left the bank account",
	}[step]
	c := &cobra.Command{
		Use:   step + " ID [--at TIME]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withSession(func(s *session) error {
				when, err := a.timeFlag(s, "at", at)
				if err != nil {
					return err
				}
				fn := reconcile.CancelPayout
				if step == "settle" {
					fn = reconcile.SettlePayout
				}
				res, err := fn(a.ctx(), s.Ledger, args[0], when)
				if err != nil {
					return err
				}
				return a.render(res)
			})
		},
	}
	c.Flags().StringVar(&at, "at", "", "`TIME` of it; default now")
	return c
}

func newPayoutImportCmd(a *app) *cobra.Command {
	var at string
	c := &cobra.Command{
		Use:   "import-status FILE.xml [--at TIME]",
		Short: "Apply the bank's pain.002 status report: rejected transfers are reversed, accepted ones marked",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("status report: %w", err)
			}
			defer f.Close()
			rep, err := reconcile.ParseStatusReport(f, args[0])
			if err != nil {
				return err
			}
			return a.withSession(func(s *session) error {
				when, err := a.timeFlag(s, "at", at)
				if err != nil {
					return err
				}
				res, err := reconcile.ImportStatusReport(a.ctx(), s.Ledger, rep, when)
				if err != nil {
					return err
				}
				return a.render(res)
			})
		},
	}
	c.Flags().StringVar(&at, "at", "", "`TIME` of it; default now")
	return c
}

func newReconcilePubkeyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "pubkey",
		Short: "Print the statement signing public key (PEM) for partners",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			signer, err := reconcile.LoadSigner(datadir.KeysDir(a.dataDir))
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, reconcile.FormatPublicKey(signer.PublicKey()))
			return nil
		},
	}
}
