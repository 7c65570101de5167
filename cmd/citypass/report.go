package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/internal/atomicfile"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/citypass/citypass/web"
)

func init() { registerCommand("report", newReportCmd) }

func newReportCmd(a *app) *cobra.Command {
	var from, to, format string
	var totals bool
	c := &cobra.Command{
		Use:       "report sales|revenue|payables|visits|visits-pivot|trial-balance --from YYYY-MM-DD --to YYYY-MM-DD [--format table|csv|csv-fr|json] [--totals]",
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
	c.Flags().StringVar(&from, "from", "", "first service day, `YYYY-MM-DD`; default: the beginning")
	c.Flags().StringVar(&to, "to", "", "last service day, inclusive, `YYYY-MM-DD`; default: the end")
	c.Flags().StringVar(&format, "format", "", "output `FORMAT`: table (default), csv, csv-fr (French spreadsheets: ';', decimal comma, UTF-8 with BOM) or json")
	c.Flags().BoolVar(&totals, "totals", false, "print the totals only (the CSV formats hold the data rows only)")
	c.AddCommand(newReportDashboardCmd(a))
	return c
}

func newReportDashboardCmd(a *app) *cobra.Command {
	var from, to, out string
	c := &cobra.Command{
		Use:   "dashboard [--from YYYY-MM-DD] [--to YYYY-MM-DD] --out FILE.html",
		Short: "Write the dashboard's charts and tables over service days [from, to] as one self-contained HTML file",
		Long: `Writes the dashboard's charts (visits per venue per hour, sales and revenue per day,
payables per partner per period, denials per day by reason) and its tables (sales, revenue,
payables, visits) over service days [--from, --to] as one HTML file that needs nothing else:
no network, no script; the charts are SVG inside it. Send it to finance as it is.
--to defaults to today, --from to six days before --to; at most 366 days.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var fromDay, toDay tariff.Date
			var err error
			if from != "" {
				if fromDay, err = tariff.ParseDate(from); err != nil {
					return usageErr("--from: %v", err)
				}
			}
			if to != "" {
				if toDay, err = tariff.ParseDate(to); err != nil {
					return usageErr("--to: %v", err)
				}
			}
			return a.withReadSession(func(s *session) error {
				if to == "" {
					toDay = web.ServiceDay(s.Catalog(), a.now())
				}
				if from == "" {
					fromDay = toDay.AddDays(1 - web.DefaultChartDays)
				}
				if err := web.CheckRange(fromDay, toDay); err != nil {
					return usageErr("--from/--to: %v", err)
				}
				var buf bytes.Buffer
				if err := web.WriteDashboard(a.ctx(), &buf, s.Ledger, s.Catalog(), fromDay, toDay, a.now()); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(out, buf.Bytes(), 0o644); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				if a.json {
					return json.NewEncoder(a.stdout).Encode(map[string]any{"file": out, "from": fromDay.String(), "to": toDay.String(), "bytes": buf.Len()})
				}
				fmt.Fprintf(a.stdout, "dashboard of %s to %s written to %s (%d KiB)\n", fromDay, toDay, out, (buf.Len()+1023)/1024)
				return nil
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "first service day `YYYY-MM-DD`; default: six days before --to")
	c.Flags().StringVar(&to, "to", "", "last service day, inclusive, `YYYY-MM-DD`; default: today")
	c.Flags().StringVar(&out, "out", "", "the HTML `FILE` to write (replaced if it exists) (required)")
	_ = c.MarkFlagRequired("out")
	_ = c.MarkFlagFilename("out", "html")
	return c
}

var errTrialBalance = errorString("the trial balance does not balance: debits differ from credits")

type errorString string

func (e errorString) Error() string { return string(e) }
