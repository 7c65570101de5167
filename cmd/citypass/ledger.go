package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/explain"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

func init() { registerCommand("ledger", newLedgerCmd) }

func newLedgerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect the ledger",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Verify checksums, the journal, usage recounts, postings and balances",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.ledgerCheck() },
	})
	return cmd
}

// ledgerCheckJSON is what `ledger check --json` prints: the check report's
// counts and problems, the postings' sums as amounts ("1234.50") in the
// tariff's currency beside their minor units, and the visits no statement
// covers.
type ledgerCheckJSON struct {
	OK     bool   `json:"ok"`
	Ledger string `json:"ledger"`
	*ledger.CheckReport
	Currency string   `json:"currency"`
	Debits   string   `json:"debits"`
	Credits  string   `json:"credits"`
	Unstated []string `json:"unstated_visits"`
	Note     string   `json:"note,omitempty"`
}

// catalogCurrency is the currency of the tariff in force at now, else of
// the first version.
func catalogCurrency(cat *tariff.Catalog, now time.Time) string {
	if t, ok := cat.At(now); ok {
		return t.Currency
	}
	if vs := cat.Versions(); len(vs) > 0 {
		return vs[0].Currency
	}
	return ""
}

// ledgerCheck runs ledger.Check and reconcile.Coverage (every accepted
// visit belongs to a statement, or will) and prints their reports.
func (a *app) ledgerCheck() error {
	l, release, err := a.openReadLedger()
	if err != nil {
		return err
	}
	defer release()
	rep, err := ledger.Check(l)
	if err != nil {
		return fmt.Errorf("checking ledger %s: %w", datadir.LedgerDir(a.dataDir), err)
	}
	// Every accepted visit belongs to a statement, or will: checked
	// against the stored tariffs (a ledger without any has no partner to
	// state visits for).
	unstated, note, currency := []string{}, "", ""
	if cat, err := datadir.LoadCatalog(l); err == nil {
		cov, err := reconcile.Coverage(context.Background(), l, cat, a.now())
		if err != nil {
			return fmt.Errorf("checking ledger %s: statements: %w", datadir.LedgerDir(a.dataDir), err)
		}
		unstated = cov.Problems()
		currency = catalogCurrency(cat, a.now())
	} else {
		note = fmt.Sprintf("visits not checked against statements: %v", explain.Sentence(err))
	}
	ok := rep.OK() && len(unstated) == 0
	if a.json {
		out := ledgerCheckJSON{OK: ok, Ledger: datadir.LedgerDir(a.dataDir), CheckReport: rep, Currency: currency,
			Debits: tariff.FromMinor(rep.DebitMinor).StringFixed(2), Credits: tariff.FromMinor(rep.CreditMinor).StringFixed(2),
			Unstated: unstated, Note: note}
		if out.Unstated == nil {
			out.Unstated = []string{}
		}
		if out.Problems == nil {
			out.Problems = []ledger.Problem{}
		}
		if out.Fleet.Quarantine == nil {
			out.Fleet.Quarantine = []string{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		status := "OK"
		if !ok {
			status = fmt.Sprintf("%d PROBLEMS", rep.ProblemsTotal+len(unstated))
		}
		fmt.Fprintf(a.stdout, "ledger %s: %s\n%s\n", datadir.LedgerDir(a.dataDir), status, rep.SummaryIn(currency))
		if note != "" {
			fmt.Fprintln(a.stdout, note)
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(a.stdout, "  %s\n", p)
		}
		if len(rep.Problems) < rep.ProblemsTotal {
			fmt.Fprintf(a.stdout, "  … and %d more\n", rep.ProblemsTotal-len(rep.Problems))
		}
		for _, p := range unstated {
			fmt.Fprintf(a.stdout, "  statements: %s\n", p)
		}
	}
	if !ok {
		return withCode(exitError, fmt.Errorf("ledger check found %d problems", rep.ProblemsTotal+len(unstated)))
	}
	return nil
}
