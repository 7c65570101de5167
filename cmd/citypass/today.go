package main

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/citypass/citypass/web"
)

func init() { registerCommand("today", newTodayCmd) }

func newTodayCmd(a *app) *cobra.Command {
	var day string
	c := &cobra.Command{
		Use:   "today [--day YYYY-MM-DD]",
		Short: "One service day at a glance: sales, refunds, taps accepted and denied by reason, visits per venue",
		Long: `Summarizes one service day from the ledger, as the demo prints its day: the passes sold
(by product) and refunded, the taps accepted (with their flags) and denied (by reason), and
the visits per venue. A service day runs from the tariff's service_day_starts to the same
time the next day. Without --day it is today's.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var d tariff.Date
			if day != "" {
				var err error
				if d, err = tariff.ParseDate(day); err != nil {
					return usageErr("--day: %v", err)
				}
			}
			return a.withReadSession(func(s *session) error {
				if day == "" {
					d = web.ServiceDay(s.Catalog(), a.now())
				}
				sum, err := reconcile.Today(a.ctx(), s.Ledger, s.Catalog(), d)
				if err != nil {
					return err
				}
				if a.json {
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(todayJSONOf(sum))
				}
				return sum.WriteText(a.stdout)
			})
		},
	}
	c.Flags().StringVar(&day, "day", "", "the service day `YYYY-MM-DD`; default: today")
	return c
}

// todayJSON is what `today --json` prints: amounts as strings with 2 places
// beside the currency.
type todayJSON struct {
	Day           string         `json:"day"`
	Start         string         `json:"start"` // RFC 3339 in the tariff's zone
	End           string         `json:"end"`   // exclusive
	Currency      string         `json:"currency"`
	Sales         int            `json:"sales"`
	SalesGross    string         `json:"sales_gross"`
	SalesVAT      string         `json:"sales_vat"`
	SalesByProd   map[string]int `json:"sales_by_product"`
	Refunds       int            `json:"refunds"`
	RefundedGross string         `json:"refunded_gross"`
	Taps          int            `json:"taps"`
	Accepted      int            `json:"accepted"`
	Denied        int            `json:"denied"`
	Exits         int            `json:"exits"`
	DeniedBy      map[string]int `json:"denied_by"`
	Flags         map[string]int `json:"accepted_by_flag"`
	Visits        int            `json:"visits"`
	VisitsByVenue map[string]int `json:"visits_by_venue"`
}

func todayJSONOf(s *reconcile.DaySummary) todayJSON {
	a := s.Activity
	return todayJSON{Day: s.Day.String(), Start: s.Start.Format(time.RFC3339), End: s.End.Format(time.RFC3339),
		Currency: s.Currency, Sales: s.Sales, SalesGross: s.SalesGross.StringFixed(2), SalesVAT: s.SalesVAT.StringFixed(2),
		SalesByProd: s.SalesByProd, Refunds: s.Refunds, RefundedGross: s.RefundedGross.StringFixed(2),
		Taps: a.Taps, Accepted: a.Accepted, Denied: a.Denied, Exits: a.Exits, DeniedBy: a.DeniedBy, Flags: a.Flags,
		Visits: a.Visits, VisitsByVenue: a.VisitsByVenue}
}
