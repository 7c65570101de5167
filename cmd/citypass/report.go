package main

import (
	"slices"
	"strings"

	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/spf13/cobra"
)

func init() { registerCommand("report", newReportCmd) }

func newReportCmd(a *app) *cobra.Command {
	var from, to, format string
	var totals bool
	c := &cobra.Command{
		Use:       "report sales|revenue|payables|visits|visits-pivot|trial-balance --from D --to D [--format table|csv|csv-fr|json] [--totals]",
		Short:     "Finance reports over service days [from, to] (trial-balance exits 1 when it does not balance)",
		Args:      cobra.ExactArgs(1),
		ValidArgs: reconcile.ReportNames,
		RunE: func(_ *cobra.Command, args []string) error {
			if !slices.Contains(reconcile.ReportNames, args[0]) {
				return usageErr("report %q: want one of %s", args[0], strings.Join(reconcile.ReportNames, ", "))
			}
			f, err := reconcile.ParseFormat(format)
			if err != nil {
				return usageErr("--format: %v", err)
			}
			if a.json && format == "" {
				f = reconcile.FormatJSON
			}
			var o reconcile.ReportOptions
			if from != "" {
				if o.From, err = tariff.ParseDate(from); err != nil {
					return usageErr("--from: %v", err)
				}
			}
			if to != "" {
				if o.To, err = tariff.ParseDate(to); err != nil {
					return usageErr("--to: %v", err)
				}
			}
			if from != "" && to != "" && o.To.Before(o.From) {
				return usageErr("--from %s is after --to %s", o.From, o.To)
			}
			return a.withReadSession(func(s *session) error {
				rep, err := reconcile.Report(a.ctx(), s.Ledger, s.Catalog(), args[0], o)
				if err != nil {
					return err
				}
				render := reconcile.Render
				if totals {
					render = reconcile.RenderTotals
				}
				if err := render(a.stdout, rep, f); err != nil {
					return err
				}
				if tb, ok := rep.(*reconcile.TrialBalance); ok && !tb.Balanced {
					return withCode(exitError, errTrialBalance)
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "first service day (YYYY-MM-DD); default: the beginning")
	c.Flags().StringVar(&to, "to", "", "last service day, inclusive (YYYY-MM-DD); default: the end")
	c.Flags().StringVar(&format, "format", "", "table (default), csv, csv-fr (French spreadsheets: ';', decimal comma, UTF-8 with BOM) or json")
	c.Flags().BoolVar(&totals, "totals", false, "print the totals only (the CSV formats hold the data rows only)")
	return c
}

var errTrialBalance = errorString("the trial balance does not balance: debits differ from credits")

type errorString string

func (e errorString) Error() string { return string(e) }
