package main

import (
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/spf13/cobra"
)

func init() { registerCommand("report", newReportCmd) }

// reportKinds maps each report name to the function that builds it.
var reportKinds = map[string]func(a *app, s *session, o reconcile.ReportOptions) (reconcile.Tabler, error){
	"sales": func(a *app, s *session, o reconcile.ReportOptions) (reconcile.Tabler, error) {
		return reconcile.Sales(a.ctx(), s.Ledger, s.Catalog(), o)
	},
	"revenue": func(a *app, s *session, o reconcile.ReportOptions) (reconcile.Tabler, error) {
		return reconcile.Revenue(a.ctx(), s.Ledger, s.Catalog(), o)
	},
	"payables": func(a *app, s *session, o reconcile.ReportOptions) (reconcile.Tabler, error) {
		return reconcile.Payables(a.ctx(), s.Ledger, s.Catalog(), o)
	},
	"visits": func(a *app, s *session, o reconcile.ReportOptions) (reconcile.Tabler, error) {
		return reconcile.Visits(a.ctx(), s.Ledger, s.Catalog(), o)
	},
	"trial-balance": func(a *app, s *session, o reconcile.ReportOptions) (reconcile.Tabler, error) {
		return reconcile.TrialBalanceReport(a.ctx(), s.Ledger, s.Catalog(), o)
	},
}

func newReportCmd(a *app) *cobra.Command {
	var from, to, format string
	c := &cobra.Command{
		Use:       "report sales|revenue|payables|visits|trial-balance --from D --to D [--format table|csv|json]",
		Short:     "Finance reports over service days [from, to] (trial-balance exits 1 when it does not balance)",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"sales", "revenue", "payables", "visits", "trial-balance"},
		RunE: func(_ *cobra.Command, args []string) error {
			build, ok := reportKinds[args[0]]
			if !ok {
				return usageErr("report %q: want sales, revenue, payables, visits or trial-balance", args[0])
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
			return a.withSession(func(s *session) error {
				rep, err := build(a, s, o)
				if err != nil {
					return err
				}
				if err := reconcile.Render(a.stdout, rep, f); err != nil {
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
	c.Flags().StringVar(&format, "format", "", "table (default), csv or json")
	return c
}

var errTrialBalance = errorString("the trial balance does not balance: debits differ from credits")

type errorString string

func (e errorString) Error() string { return string(e) }
