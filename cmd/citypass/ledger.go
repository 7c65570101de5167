package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/ledger"
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

// ledgerCheck runs ledger.Check and prints its report.
func (a *app) ledgerCheck() error {
	l, err := a.openLedger()
	if err != nil {
		return err
	}
	defer l.Close()
	rep, err := ledger.Check(l)
	if err != nil {
		return fmt.Errorf("checking ledger %s: %w", datadir.LedgerDir(a.dataDir), err)
	}
	if a.json {
		out := struct {
			OK bool `json:"ok"`
			*ledger.CheckReport
		}{rep.OK(), rep}
		if err := json.NewEncoder(a.stdout).Encode(out); err != nil {
			return err
		}
	} else {
		status := "OK"
		if !rep.OK() {
			status = fmt.Sprintf("%d PROBLEMS", rep.ProblemsTotal)
		}
		fmt.Fprintf(a.stdout, "ledger %s: %s\n%s\n", datadir.LedgerDir(a.dataDir), status, rep.Summary())
		for _, p := range rep.Problems {
			fmt.Fprintf(a.stdout, "  %s\n", p)
		}
		if len(rep.Problems) < rep.ProblemsTotal {
			fmt.Fprintf(a.stdout, "  … and %d more\n", rep.ProblemsTotal-len(rep.Problems))
		}
	}
	if !rep.OK() {
		return withCode(exitError, fmt.Errorf("ledger check found %d problems", rep.ProblemsTotal))
	}
	return nil
}
