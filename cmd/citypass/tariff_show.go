package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// `tariff show` describes the data dir's tariff versions and one of them in
// full; `tariff export` prints the built-in sample, commented, as a start
// for an operator's own file.

func newTariffShowCmd(a *app) *cobra.Command {
	var version string
	c := &cobra.Command{
		Use:   "show [--version ID]",
		Short: "List the loaded tariff versions and show one: products, venues, partners, contracts",
		Long: `Lists the tariff versions loaded in the data dir (the one in force now is marked) and
shows one of them in full: its products with what each opens, its venues, partners and
contracts. Without --version it shows the version in force now. With --json it prints
{"versions": […], "tariff": …}, the tariff in the normalized form of tariff.NormalizedJSON.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withReadSession(func(s *session) error { return a.runTariffShow(s.Catalog(), version) })
		},
	}
	c.Flags().StringVar(&version, "version", "", "the tariff version `ID` to show; default: the one in force now")
	return c
}

func newTariffExportCmd(a *app) *cobra.Command {
	return localCmd(&cobra.Command{
		Use:   "export",
		Short: "Print the built-in sample tariff (Marseille), every key explained, to start your own",
		Long: `Prints the built-in sample tariff, the one ` + "`citypass init`" + ` loads when given no file, with a
comment on every key: save it, edit it, check it with ` + "`citypass tariff check FILE`" + ` and load
it with ` + "`citypass init --tariff FILE`" + ` or ` + "`citypass tariff load FILE`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := a.stdout.Write(tariff.Sample())
			return err
		},
	})
}

// tariffVersionJSON is one loaded version in `tariff show --json`.
type tariffVersionJSON struct {
	ID            string `json:"id"`
	EffectiveFrom string `json:"effective_from"`
	InForce       bool   `json:"in_force"`
	Products      int    `json:"products"`
	Venues        int    `json:"venues"`
	Partners      int    `json:"partners"`
	Contracts     int    `json:"contracts"`
}

// tariffShowJSON is what `tariff show --json` prints.
type tariffShowJSON struct {
	Versions []tariffVersionJSON `json:"versions"`
	Tariff   json.RawMessage     `json:"tariff"`
}

func (a *app) runTariffShow(cat *tariff.Catalog, version string) error {
	now := a.now()
	current, inForce := cat.At(now)
	t := current
	if version != "" {
		var ok bool
		if t, ok = cat.Version(version); !ok {
			ids := make([]string, 0, len(cat.Versions()))
			for _, v := range cat.Versions() {
				ids = append(ids, v.ID)
			}
			return usageErr("--version %q: no such tariff version; loaded: %s", version, strings.Join(ids, ", "))
		}
	} else if !inForce {
		// Every version takes effect later: show the first.
		t = cat.Versions()[0]
	}
	if a.json {
		out := tariffShowJSON{Versions: []tariffVersionJSON{}}
		for _, v := range cat.Versions() {
			out.Versions = append(out.Versions, tariffVersionJSON{ID: v.ID, EffectiveFrom: v.EffectiveFrom.Format("2006-01-02"),
				InForce: inForce && v == current, Products: len(v.Products), Venues: len(v.Venues),
				Partners: len(v.Partners), Contracts: len(v.Contracts)})
		}
		norm, err := t.NormalizedJSON()
		if err != nil {
			return err
		}
		out.Tariff = norm
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return writeTariffText(a.stdout, cat, t, current, inForce)
}

// writeTariffText prints the versions and tariff t as tables.
func writeTariffText(w io.Writer, cat *tariff.Catalog, t, current *tariff.Tariff, inForce bool) error {
	state := "not in force now"
	if inForce && t == current {
		state = "in force now"
	}
	lang := map[string]string{"en": "English", "fr": "French"}[t.GateLanguage]
	fmt.Fprintf(w, "tariff %s (%s): effective from %s, amounts in %s, times in %s, service days from %s, gate messages in %s\n\n",
		t.ID, state, t.EffectiveFrom.Format("2006-01-02"), t.Currency, t.Location, clockTime(t.ServiceDayStart), lang)

	versions := reconcile.Table{Title: "Versions", Columns: columns("", "version", "effective from", "#products", "#venues", "#partners", "#contracts")}
	for _, v := range cat.Versions() {
		mark := ""
		if inForce && v == current {
			mark = "*"
		}
		versions.Rows = append(versions.Rows, []string{mark, v.ID, v.EffectiveFrom.Format("2006-01-02"),
			fmt.Sprint(len(v.Products)), fmt.Sprint(len(v.Venues)), fmt.Sprint(len(v.Partners)), fmt.Sprint(len(v.Contracts))})
	}
	versions.Notes = []string{"* in force now"}

	products := reconcile.Table{Title: "Products", Columns: columns("product", "name", "category", "$price", "VAT %", "validity", "activation", "refund", "node offline")}
	for _, p := range t.Products {
		products.Rows = append(products.Rows, []string{p.ID, p.Name, p.Category, p.Price.StringFixed(2), p.VATRate.String(),
			validity(&p), activation(&p), string(p.Refund), offlineText(&p.Offline)})
	}
	opens := reconcile.Table{Title: "What each product opens", Columns: columns("product", "venues", "limit", "anti-passback")}
	for _, p := range t.Products {
		for _, in := range p.Includes {
			opens.Rows = append(opens.Rows, []string{p.ID, includeVenues(&in), limitText(in.Limit), passbackText(&in)})
		}
	}
	venues := reconcile.Table{Title: "Venues", Columns: columns("venue", "name", "kind", "zone", "partner", "$gate price")}
	for _, v := range t.Venues {
		price := ""
		if !v.GatePrice.IsZero() {
			price = v.GatePrice.StringFixed(2)
		}
		venues.Rows = append(venues.Rows, []string{v.ID, v.Name, string(v.Kind), v.Zone, v.Partner, price})
	}
	partners := reconcile.Table{Title: "Partners", Columns: columns("partner", "name", "IBAN", "BIC")}
	for _, p := range t.Partners {
		partners.Rows = append(partners.Rows, []string{p.ID, p.Name, p.IBAN, p.BIC})
	}
	contracts := reconcile.Table{Title: "Contracts", Columns: columns("partner", "model", "terms", "period", "$cap per period")}
	for _, c := range t.Contracts {
		capText := ""
		if c.HasCap {
			capText = c.Cap.StringFixed(2)
		}
		contracts.Rows = append(contracts.Rows, []string{c.Partner, string(c.Model), contractTerms(&c), string(c.Period), capText})
	}
	for i, tb := range []reconcile.Table{versions, products, opens, venues, partners, contracts} {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := reconcile.Render(w, tableOf(tb), reconcile.FormatTable); err != nil {
			return err
		}
	}
	return nil
}

// clockTime writes an offset from midnight as "04:30".
func clockTime(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func validity(p *tariff.Product) string {
	switch p.Clock {
	case tariff.ClockCalendarDays:
		return fmt.Sprintf("%d service days", p.Days)
	case tariff.ClockFixed:
		return spoken(p.Duration) + " from the start date"
	}
	return spoken(p.Duration) + " from activation"
}

// spoken writes a duration as people say it: "24 h", "18 min", "365 days".
func spoken(d time.Duration) string {
	switch {
	case d >= 7*24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return tariff.FormatDuration(d)
}

func activation(p *tariff.Product) string {
	s := map[tariff.Activation]string{
		tariff.ActivationFirstUse:   "first entry",
		tariff.ActivationFirstVenue: "first entry at a venue not transit",
		tariff.ActivationAtSale:     "at sale",
		tariff.ActivationFixedStart: "start date given at sale",
	}[p.Activation]
	if s == "" {
		s = string(p.Activation)
	}
	if p.ActivateWithin > 0 {
		s += ", within " + spoken(p.ActivateWithin) + " of sale"
	}
	return s
}

func includeVenues(in *tariff.Include) string {
	var parts []string
	if len(in.Venues) > 0 {
		parts = append(parts, strings.Join(in.Venues, ", "))
	}
	if len(in.Kinds) > 0 {
		kinds := make([]string, len(in.Kinds))
		for i, k := range in.Kinds {
			kinds[i] = string(k)
		}
		parts = append(parts, "every "+strings.Join(kinds, ", "))
	}
	s := strings.Join(parts, "; ")
	if len(in.Zones) > 0 {
		s += " in zone " + strings.Join(in.Zones, ", ")
	}
	return s
}

func limitText(l tariff.Limit) string {
	switch l.Kind {
	case tariff.LimitOnce:
		return "once"
	case tariff.LimitOncePerDay:
		return "once a service day"
	case tariff.LimitN:
		return fmt.Sprintf("%d times", l.N)
	}
	return "unlimited"
}

func passbackText(in *tariff.Include) string {
	if in.Passback == 0 {
		return ""
	}
	where := map[tariff.PassbackScope]string{tariff.ScopeGate: "at the same gate", tariff.ScopeVenue: "at the same venue",
		tariff.ScopeSystem: "anywhere"}[in.PassbackScope]
	s := fmt.Sprintf("no re-entry %s within %s", where, spoken(in.Passback))
	if in.PassbackMode == tariff.ModeSoft {
		s += " (soft: accepted, flagged)"
	}
	return s
}

func contractTerms(c *tariff.Contract) string {
	switch c.Model {
	case tariff.ModelPercentOfGate:
		return c.Percent.String() + "% of the gate price per visit"
	case tariff.ModelFlat:
		return c.Amount.StringFixed(2) + " per period"
	}
	cats := make([]string, 0, len(c.Rates))
	for k := range c.Rates {
		cats = append(cats, k)
	}
	sort.Strings(cats)
	rates := make([]string, len(cats))
	for i, k := range cats {
		rates[i] = k + " " + c.Rates[k].StringFixed(2)
	}
	per := "per visit"
	if c.Model == tariff.ModelPerPassDay {
		per = "per pass and day"
	}
	return strings.Join(rates, ", ") + " " + per
}

// tableOf makes a built table a reconcile.Tabler for Render.
type tableOf reconcile.Table

func (t tableOf) Table() reconcile.Table { return reconcile.Table(t) }

// columns names a table's columns: "#name" counts, "$name" amounts, the rest
// text.
func columns(names ...string) []reconcile.Column {
	out := make([]reconcile.Column, len(names))
	for i, n := range names {
		switch {
		case strings.HasPrefix(n, "#"):
			out[i] = reconcile.Column{Name: n[1:], Kind: reconcile.Count}
		case strings.HasPrefix(n, "$"):
			out[i] = reconcile.Column{Name: n[1:], Kind: reconcile.Money}
		default:
			out[i] = reconcile.Column{Name: n, Kind: reconcile.Text}
		}
	}
	return out
}

// offlineText says a product's offline policy: what a fleet node does with
// its passes once its state is older than max_staleness.
func offlineText(o *tariff.Offline) string {
	what := "accept"
	if o.Deny() {
		what = "deny"
	}
	return fmt.Sprintf("%s when state is over %s old", what, spoken(o.Max()))
}
