package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/citypass/citypass/datadir"
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

// monthEnd is what `reconcile close` did: the statements closed and the
// revenue recognition postings stored.
type monthEnd struct {
	close      *reconcile.CloseResult
	recognized int
}

// Table is the close result's, with a note on recognition.
func (m monthEnd) Table() reconcile.Table {
	t := m.close.Table()
	t.Notes = append(t.Notes, fmt.Sprintf("%d revenue recognition posting(s) stored (due by %s)",
		m.recognized, m.close.PeriodEnd.Format(time.RFC3339)))
	return t
}

// renderMonthEnd prints a month end like render, with "recognized" (the
// number of recognition postings) added to the JSON object after the keys
// Render gives every result.
func (a *app) renderMonthEnd(m monthEnd) error {
	if !a.json {
		return a.render(m)
	}
	var buf bytes.Buffer
	if err := reconcile.Render(&buf, m, reconcile.FormatJSON); err != nil {
		return err
	}
	var obj bytes.Buffer
	if err := json.Compact(&obj, buf.Bytes()); err != nil {
		return err
	}
	b, ok := bytes.CutSuffix(obj.Bytes(), []byte("}"))
	if !ok {
		return fmt.Errorf("rendering the close result: not a JSON object")
	}
	b = fmt.Appendf(b, `,"recognized":%d}`, m.recognized)
	buf.Reset()
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := a.stdout.Write(buf.Bytes())
	return err
}

func newReconcileCloseCmd(a *app) *cobra.Command {
	var period, partner, at, out string
	c := &cobra.Command{
		Use:   "close --period P [--partner ID] [--at T] --out DIR",
		Short: "Close the statements of a period (2026-11 | 2026-W48 | 2026-11-27) into DIR and recognise the revenue due by its end",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withSession(func(s *session) error {
				when, err := a.timeFlag(s, "at", at)
				if err != nil {
					return err
				}
				signer, err := reconcile.LoadSigner(datadir.KeysDir(a.dataDir))
				if err != nil {
					return err
				}
				if err := os.MkdirAll(out, 0o755); err != nil {
					return fmt.Errorf("creating --out %s: %w", out, err)
				}
				bar := a.newProgress("closing " + period)
				defer bar.done()
				res, err := reconcile.Close(a.ctx(), s.Ledger, s.Catalog(), signer, reconcile.CloseOptions{
					Period: period, Partner: partner, At: when, OutDir: out, Progress: bar.update})
				if err != nil {
					return err
				}
				bar.done()
				// The month end recognises revenue through the period's
				// end too, after a successful Close (which checked that the
				// period has ended at --at), so a refused close posts
				// nothing. Recognize is idempotent: a re-close posts only
				// what became due since (a late tap's reclassification).
				n, err := reconcile.Recognize(a.ctx(), s.Ledger, res.PeriodEnd)
				if err != nil {
					return fmt.Errorf("statements of %s closed, revenue recognition failed (run the close again to complete it): %w", period, err)
				}
				return a.renderMonthEnd(monthEnd{close: res, recognized: n})
			})
		},
	}
	c.Flags().StringVar(&period, "period", "", "period: 2026-11 (month), 2026-W48 (ISO week) or 2026-11-27 (day) (required)")
	c.Flags().StringVar(&partner, "partner", "", "close only this partner's statement")
	c.Flags().StringVar(&at, "at", "", "closing time; the period must have ended by then; default now")
	c.Flags().StringVar(&out, "out", "", "directory for the statement files (required)")
	_ = c.MarkFlagRequired("period")
	_ = c.MarkFlagRequired("out")
	return c
}

func newReconcileVerifyCmd(a *app) *cobra.Command {
	var pubFile string
	c := &cobra.Command{
		Use:   "verify DIR [--pubkey FILE]",
		Short: "Check every statement's hashes, chain and signature; name the file and field at fault",
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
			return a.render(rep)
		},
	}
	c.Flags().StringVar(&pubFile, "pubkey", "", "operator public key (PEM, from `reconcile pubkey`); default: the data dir's signing key")
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
			if s, err := a.openSession(); err == nil {
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
	c.Flags().StringVar(&statement, "statement", "", "the statement's .csv or .json (required)")
	c.Flags().StringVar(&partnerFile, "partner-file", "", "the partner's export, CSV scanned_at,card,gate (required)")
	c.Flags().DurationVar(&tolerance, "tolerance", 2*time.Minute, "largest clock difference for a match")
	_ = c.MarkFlagRequired("statement")
	_ = c.MarkFlagRequired("partner-file")
	return c
}

func newReconcilePayoutCmd(a *app) *cobra.Command {
	var out, name, iban, bic, date string
	c := &cobra.Command{
		Use:   "payout --out FILE.xml --debtor-name N --debtor-iban I --debtor-bic B [--date D]",
		Short: "Write one SEPA pain.001.001.03 file paying every closed, unpaid statement with a positive net",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			opts := reconcile.PayoutOptions{DebtorName: name, DebtorIBAN: iban, DebtorBIC: bic, Out: out, At: a.now()}
			if date != "" {
				d, err := tariff.ParseDate(date)
				if err != nil {
					return usageErr("--date: %v", err)
				}
				opts.Date = d
			}
			return a.withSession(func(s *session) error {
				res, err := reconcile.Payout(a.ctx(), s.Ledger, s.Catalog(), opts)
				if errors.Is(err, reconcile.ErrNothingToPay) {
					fmt.Fprintln(a.stdout, "nothing to pay: no closed, unpaid statement with a positive net; no file written")
					return nil
				}
				if err != nil {
					return err
				}
				return a.render(res)
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "pain.001 XML file to write (required)")
	c.Flags().StringVar(&name, "debtor-name", "", "the operator's account holder name (required)")
	c.Flags().StringVar(&iban, "debtor-iban", "", "the operator's IBAN (required)")
	c.Flags().StringVar(&bic, "debtor-bic", "", "the operator's BIC (required)")
	c.Flags().StringVar(&date, "date", "", "requested execution date YYYY-MM-DD; default today")
	for _, f := range []string{"out", "debtor-name", "debtor-iban", "debtor-bic"} {
		_ = c.MarkFlagRequired(f)
	}
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
