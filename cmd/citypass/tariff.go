package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/citypass/citypass/tariff"
	"github.com/spf13/cobra"
)

// The tariff command group: `tariff check FILE` validates a tariff file
// (docs/semantics.md, "Loading") without touching the data dir. `tariff load`
// (tariff_load.go) adds a version to the ledger.

func init() { registerCommand("tariff", newTariffCmd) }

func newTariffCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "tariff",
		Short: "Check, load, show and export tariffs (TOML files, schema 1)",
	}
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a tariff file; print every problem as FILE:LINE: message",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return a.runTariffCheck(args[0]) },
	})
	c.AddCommand(newTariffLoadCmd(a), newTariffShowCmd(a), newTariffExportCmd(a))
	return c
}

// tariffCheckResult is what `tariff check --json` prints.
type tariffCheckResult struct {
	File      string             `json:"file"`
	OK        bool               `json:"ok"`
	Tariff    string             `json:"tariff,omitempty"`
	Partners  int                `json:"partners"`
	Venues    int                `json:"venues"`
	Products  int                `json:"products"`
	Contracts int                `json:"contracts"`
	Errors    []tariffCheckError `json:"errors,omitempty"`
}

type tariffCheckError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// runTariffCheck loads path. A valid file prints one summary line and exits
// 0; an invalid one prints every problem to stderr, one "FILE:LINE: message"
// per line, and exits 1. A file that cannot be read is an ordinary error.
func (a *app) runTariffCheck(path string) error {
	t, err := tariff.LoadFile(path)
	var list tariff.ErrorList
	if err != nil && !errors.As(err, &list) {
		return err
	}
	if a.json {
		res := tariffCheckResult{File: path, OK: err == nil}
		if t != nil {
			res.Tariff = t.ID
			res.Partners, res.Venues, res.Products, res.Contracts = len(t.Partners), len(t.Venues), len(t.Products), len(t.Contracts)
		}
		for _, e := range list {
			res.Errors = append(res.Errors, tariffCheckError{Line: e.Line, Message: e.Msg})
		}
		if jerr := json.NewEncoder(a.stdout).Encode(res); jerr != nil {
			return jerr
		}
		if err != nil {
			return withCode(exitError, nil)
		}
		return nil
	}
	if err != nil {
		for _, e := range list {
			fmt.Fprintln(a.stderr, e.Error())
		}
		return withCode(exitError, nil)
	}
	fmt.Fprintf(a.stdout, "%s: ok — tariff %s, %d partners, %d venues, %d products, %d contracts\n",
		path, t.ID, len(t.Partners), len(t.Venues), len(t.Products), len(t.Contracts))
	return nil
}
