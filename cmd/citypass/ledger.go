package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
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
	unstated, note := []string{}, ""
	if cat, err := datadir.LoadCatalog(l); err == nil {
		cov, err := reconcile.Coverage(context.Background(), l, cat, a.now())
		if err != nil {
			return fmt.Errorf("checking ledger %s: statements: %w", datadir.LedgerDir(a.dataDir), err)
		}
		unstated = cov.Problems()
	} else {
		note = fmt.Sprintf("visits not checked against statements: %v", err)
	}
	ok := rep.OK() && len(unstated) == 0
	if a.json {
		out := struct {
			OK bool `json:"ok"`
			*ledger.CheckReport
			Unstated []string `json:"unstated_visits"`
			Note     string   `json:"note,omitempty"`
		}{ok, rep, unstated, note}
		if err := json.NewEncoder(a.stdout).Encode(out); err != nil {
			return err
		}
	} else {
		status := "OK"
		if !ok {
			status = fmt.Sprintf("%d PROBLEMS", rep.ProblemsTotal+len(unstated))
		}
		fmt.Fprintf(a.stdout, "ledger %s: %s\n%s\n", datadir.LedgerDir(a.dataDir), status, rep.Summary())
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
