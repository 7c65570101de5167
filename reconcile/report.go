package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// ReportOptions selects the service days a report covers, both inclusive,
// in the tariff's zone. A zero From starts at the beginning, a zero To runs
// to the end.
type ReportOptions struct {
	From, To tariff.Date
}

// bounds returns the instants [from, to) of the options.
func (o ReportOptions) bounds(cat *tariff.Catalog) (time.Time, time.Time, error) {
	from := time.Unix(0, 0).UTC()
	// Far bounds stay within what UnixNano (and the ledger's time index) holds.
	to := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	if o.From != (tariff.Date{}) {
		t, err := versionAt(cat, noon(o.From))
		if err != nil {
			return from, to, err
		}
		from = t.DayStart(o.From)
	}
	if o.To != (tariff.Date{}) {
		t, err := versionAt(cat, noon(o.To))
		if err != nil {
			return from, to, err
		}
		to = t.DayEnd(o.To)
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("reconcile: report: from %s is after to %s", o.From, o.To)
	}
	return from, to, nil
}

func noon(d tariff.Date) time.Time { return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC) }

func in(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// dayOf names the service day of an instant under the version in force then.
func dayOf(cat *tariff.Catalog, at time.Time) string {
	t, ok := cat.At(at)
	if !ok {
		return at.UTC().Format("2006-01-02")
	}
	return t.ServiceDay(at).String()
}

// productName is a product's name as sold, or "".
func productName(cat *tariff.Catalog, version, id string) string {
	if _, p, err := cat.ProductAsSold(version, id); err == nil {
		return p.Name
	}
	return ""
}

// venueName is a venue's name, or its id when it has none (transit).
func venueName(v *tariff.Venue) string {
	if v.Name != "" {
		return v.Name
	}
	return v.ID
}

// --- sales ---

// SalesRow is the passes sold on one service day, of one product, through
// one channel. VAT is computed per pass (gross × rate / (100 + rate), rounded
// to 2 places half away from zero) and summed. Refunded passes stay in sales;
// refunds are in the revenue report.
type SalesRow struct {
	Day, Product, ProductName, Channel string
	Count                              int
	Gross, VAT, Net                    decimal.Decimal
}

// SalesReport is sales by day, product and channel.
type SalesReport struct {
	Options ReportOptions
	Rows    []SalesRow
	Total   SalesRow
}

// Sales reports passes sold in the range, by the time they were sold.
func Sales(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (*SalesReport, error) {
	from, to, err := opts.bounds(cat)
	if err != nil {
		return nil, err
	}
	groups := map[[3]string]*SalesRow{}
	err = l.Passes(ctx, func(p *engine.Pass) error {
		if !in(p.SoldAt, from, to) {
			return nil
		}
		gross := fromMinor(p.PriceMinor)
		vat := decimal.Zero
		if _, prod, err := cat.ProductAsSold(p.TariffVersion, p.Product); err == nil && prod.VATRate.IsPositive() {
			vat = gross.Mul(prod.VATRate).Div(hundred.Add(prod.VATRate)).Round(moneyPlaces)
		}
		k := [3]string{dayOf(cat, p.SoldAt), p.Product, p.Channel}
		g := groups[k]
		if g == nil {
			g = &SalesRow{Day: k[0], Product: k[1], Channel: k[2], ProductName: productName(cat, p.TariffVersion, p.Product)}
			groups[k] = g
		}
		g.Count++
		g.Gross = g.Gross.Add(gross)
		g.VAT = g.VAT.Add(vat)
		g.Net = g.Gross.Sub(g.VAT)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: sales report: %w", err)
	}
	r := &SalesReport{Options: opts, Total: SalesRow{Day: "TOTAL"}}
	for _, g := range groups {
		r.Rows = append(r.Rows, *g)
		r.Total.Count += g.Count
		r.Total.Gross = r.Total.Gross.Add(g.Gross)
		r.Total.VAT = r.Total.VAT.Add(g.VAT)
		r.Total.Net = r.Total.Net.Add(g.Net)
	}
	sort.Slice(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		return a.Day+"\x00"+a.Product+"\x00"+a.Channel < b.Day+"\x00"+b.Product+"\x00"+b.Channel
	})
	return r, nil
}

// Table renders the sales report.
func (r *SalesReport) Table() Table {
	t := Table{Title: "Sales " + rangeLabel(r.Options), Columns: []Column{colText("day"), colText("product"), colText("product_name"),
		colText("channel"), colCount("count"), colMoney("gross"), colMoney("vat"), colMoney("net")}}
	row := func(s SalesRow) []string {
		return []string{s.Day, s.Product, s.ProductName, s.Channel, strconv.Itoa(s.Count), formatMoney(s.Gross), formatMoney(s.VAT), formatMoney(s.Net)}
	}
	for _, s := range r.Rows {
		t.Rows = append(t.Rows, row(s))
	}
	t.Totals = row(r.Total)
	return t
}

func rangeLabel(o ReportOptions) string {
	f, t := "start", "end"
	if o.From != (tariff.Date{}) {
		f = o.From.String()
	}
	if o.To != (tariff.Date{}) {
		t = o.To.String()
	}
	return f + " .. " + t
}

// --- revenue ---

// RevenueRow is one service day's recognised revenue and refunds.
type RevenueRow struct {
	Day                   string
	PassRevenue, Breakage decimal.Decimal
	Refunds               decimal.Decimal
}

// RevenueReport is revenue by day, from the ledger's postings.
type RevenueReport struct {
	Options ReportOptions
	Rows    []RevenueRow
	Total   RevenueRow
}

// Revenue reports pass revenue, breakage and refunds posted in the range
// (credits to pass_revenue, breakage_revenue and refunds_payable, by posting time).
func Revenue(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (*RevenueReport, error) {
	from, to, err := opts.bounds(cat)
	if err != nil {
		return nil, err
	}
	days := map[string]*RevenueRow{}
	err = l.Postings(ctx, func(p *engine.Posting) error {
		if !in(p.At, from, to) {
			return nil
		}
		for _, ln := range p.Lines {
			var dst func(*RevenueRow) *decimal.Decimal
			switch ln.Account {
			case engine.AccountPassRevenue:
				dst = func(r *RevenueRow) *decimal.Decimal { return &r.PassRevenue }
			case engine.AccountBreakageRevenue:
				dst = func(r *RevenueRow) *decimal.Decimal { return &r.Breakage }
			case engine.AccountRefundsPayable:
				if p.Kind != "refund" {
					continue
				}
				dst = func(r *RevenueRow) *decimal.Decimal { return &r.Refunds }
			default:
				continue
			}
			d := dayOf(cat, p.At)
			row := days[d]
			if row == nil {
				row = &RevenueRow{Day: d}
				days[d] = row
			}
			v := dst(row)
			*v = v.Add(fromMinor(ln.CreditMinor - ln.DebitMinor))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: revenue report: %w", err)
	}
	r := &RevenueReport{Options: opts, Total: RevenueRow{Day: "TOTAL"}}
	for _, row := range days {
		r.Rows = append(r.Rows, *row)
		r.Total.PassRevenue = r.Total.PassRevenue.Add(row.PassRevenue)
		r.Total.Breakage = r.Total.Breakage.Add(row.Breakage)
		r.Total.Refunds = r.Total.Refunds.Add(row.Refunds)
	}
	sort.Slice(r.Rows, func(i, j int) bool { return r.Rows[i].Day < r.Rows[j].Day })
	return r, nil
}

// Table renders the revenue report.
func (r *RevenueReport) Table() Table {
	t := Table{Title: "Revenue " + rangeLabel(r.Options), Columns: []Column{colText("day"), colMoney("pass_revenue"),
		colMoney("breakage"), colMoney("refunds")}}
	row := func(x RevenueRow) []string {
		return []string{x.Day, formatMoney(x.PassRevenue), formatMoney(x.Breakage), formatMoney(x.Refunds)}
	}
	for _, x := range r.Rows {
		t.Rows = append(t.Rows, row(x))
	}
	t.Totals = row(r.Total)
	return t
}

// --- payables ---

// PayablesRow is one partner's payable: accrued (statement closes) and paid
// (payouts) in the range, and outstanding at the range's end.
type PayablesRow struct {
	Partner, PartnerName       string
	Accrued, Paid, Outstanding decimal.Decimal
}

// PayablesReport is payables per partner.
type PayablesReport struct {
	Options ReportOptions
	Rows    []PayablesRow
	Total   PayablesRow
}

// Payables reports the partner_payable:<partner> accounts.
func Payables(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (*PayablesReport, error) {
	from, to, err := opts.bounds(cat)
	if err != nil {
		return nil, err
	}
	rows := map[string]*PayablesRow{}
	prefix := engine.AccountPartnerPayable + ":"
	err = l.Postings(ctx, func(p *engine.Posting) error {
		if !p.At.Before(to) {
			return nil
		}
		for _, ln := range p.Lines {
			partner, ok := strings.CutPrefix(ln.Account, prefix)
			if !ok {
				continue
			}
			row := rows[partner]
			if row == nil {
				row = &PayablesRow{Partner: partner, PartnerName: partnerName(cat, partner)}
				rows[partner] = row
			}
			row.Outstanding = row.Outstanding.Add(fromMinor(ln.CreditMinor - ln.DebitMinor))
			if !p.At.Before(from) {
				row.Accrued = row.Accrued.Add(fromMinor(ln.CreditMinor))
				row.Paid = row.Paid.Add(fromMinor(ln.DebitMinor))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: payables report: %w", err)
	}
	r := &PayablesReport{Options: opts, Total: PayablesRow{Partner: "TOTAL"}}
	for _, row := range rows {
		r.Rows = append(r.Rows, *row)
		r.Total.Accrued = r.Total.Accrued.Add(row.Accrued)
		r.Total.Paid = r.Total.Paid.Add(row.Paid)
		r.Total.Outstanding = r.Total.Outstanding.Add(row.Outstanding)
	}
	sort.Slice(r.Rows, func(i, j int) bool { return r.Rows[i].Partner < r.Rows[j].Partner })
	return r, nil
}

// Table renders the payables report.
func (r *PayablesReport) Table() Table {
	t := Table{Title: "Payables " + rangeLabel(r.Options), Columns: []Column{colText("partner"), colText("partner_name"),
		colMoney("accrued"), colMoney("paid"), colMoney("outstanding")}}
	row := func(x PayablesRow) []string {
		return []string{x.Partner, x.PartnerName, formatMoney(x.Accrued), formatMoney(x.Paid), formatMoney(x.Outstanding)}
	}
	for _, x := range r.Rows {
		t.Rows = append(t.Rows, row(x))
	}
	t.Totals = row(r.Total)
	return t
}

// --- visits ---

// VisitsRow counts accepted entries at a venue on a service day by category.
type VisitsRow struct {
	Venue, VenueName, Partner, Day, Category string
	Count                                    int
	// OverLimit counts the row's entries beyond their pass's entry limit
	// at the venue (over-use: two offline gates both admitted the pass),
	// which statements list at 0; they are part of Count.
	OverLimit int
}

// VisitsReport is visits by venue, day and category.
type VisitsReport struct {
	Options   ReportOptions
	Rows      []VisitsRow
	Total     int
	OverLimit int // of Total
}

// Visits reports accepted entries with tap time in the range, streaming the journal.
func Visits(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (*VisitsReport, error) {
	from, to, err := opts.bounds(cat)
	if err != nil {
		return nil, err
	}
	counts, over := map[[3]string]int{}, map[[3]string]int{}
	err = overLimitEntries(ctx, l, cat, from, to, func(r *engine.TapRecord) {
		if countsAsVisit(r) {
			counts[[3]string{r.Venue, dayOf(cat, r.At), r.Category}]++
		}
	}, func(r *engine.TapRecord) {
		over[[3]string{r.Venue, dayOf(cat, r.At), r.Category}]++
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: visits report: %w", err)
	}
	r := &VisitsReport{Options: opts}
	for k, n := range counts {
		row := VisitsRow{Venue: k[0], Day: k[1], Category: k[2], Count: n, OverLimit: over[k]}
		r.OverLimit += over[k]
		if v, _, ok := cat.FindVenue(k[0], to, nil); ok {
			row.VenueName, row.Partner = venueName(v), v.Partner
		}
		r.Rows = append(r.Rows, row)
		r.Total += n
	}
	sort.Slice(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		return a.Venue+"\x00"+a.Day+"\x00"+a.Category < b.Venue+"\x00"+b.Day+"\x00"+b.Category
	})
	return r, nil
}

// Table renders the visits report.
func (r *VisitsReport) Table() Table {
	t := Table{Title: "Visits " + rangeLabel(r.Options), Columns: []Column{colText("venue"), colText("venue_name"),
		colText("partner"), colText("day"), colText("category"), colCount("visits"), colCount("over_limit")}}
	for _, x := range r.Rows {
		t.Rows = append(t.Rows, []string{x.Venue, x.VenueName, x.Partner, x.Day, x.Category, strconv.Itoa(x.Count), strconv.Itoa(x.OverLimit)})
	}
	t.Totals = []string{"TOTAL", "", "", "", "", strconv.Itoa(r.Total), strconv.Itoa(r.OverLimit)}
	return t
}

// --- trial balance ---

// AccountBalance is one account's debits and credits; Balance = debits - credits.
type AccountBalance struct {
	Account                  string
	Debits, Credits, Balance decimal.Decimal
}

// TrialBalance lists every account's totals over the postings up to the
// range's end. It balances when total debits equal total credits and every
// posting is balanced.
type TrialBalance struct {
	Options            ReportOptions
	Accounts           []AccountBalance
	Debits, Credits    decimal.Decimal
	Balanced           bool
	UnbalancedPostings []string // ids of postings whose own lines do not balance
}

// TrialBalanceReport computes the trial balance as of the end of the range.
func TrialBalanceReport(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (*TrialBalance, error) {
	_, to, err := opts.bounds(cat)
	if err != nil {
		return nil, err
	}
	accts := map[string]*AccountBalance{}
	tb := &TrialBalance{Options: opts}
	var dMinor, cMinor int64
	err = l.Postings(ctx, func(p *engine.Posting) error {
		if !p.At.Before(to) {
			return nil
		}
		if !p.Balanced() {
			tb.UnbalancedPostings = append(tb.UnbalancedPostings, p.ID)
		}
		for _, ln := range p.Lines {
			a := accts[ln.Account]
			if a == nil {
				a = &AccountBalance{Account: ln.Account}
				accts[ln.Account] = a
			}
			a.Debits = a.Debits.Add(fromMinor(ln.DebitMinor))
			a.Credits = a.Credits.Add(fromMinor(ln.CreditMinor))
			dMinor += ln.DebitMinor
			cMinor += ln.CreditMinor
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: trial balance: %w", err)
	}
	for _, a := range accts {
		a.Balance = a.Debits.Sub(a.Credits)
		tb.Accounts = append(tb.Accounts, *a)
	}
	sort.Slice(tb.Accounts, func(i, j int) bool { return tb.Accounts[i].Account < tb.Accounts[j].Account })
	sort.Strings(tb.UnbalancedPostings)
	tb.Debits, tb.Credits = fromMinor(dMinor), fromMinor(cMinor)
	tb.Balanced = dMinor == cMinor && len(tb.UnbalancedPostings) == 0
	return tb, nil
}

// Table renders the trial balance; an unbalanced one says so in its notes.
func (tb *TrialBalance) Table() Table {
	t := Table{Title: "Trial balance as of the end of " + asOfLabel(tb.Options), Columns: []Column{colText("account"),
		colMoney("debits"), colMoney("credits"), colMoney("balance")}}
	for _, a := range tb.Accounts {
		t.Rows = append(t.Rows, []string{a.Account, formatMoney(a.Debits), formatMoney(a.Credits), formatMoney(a.Balance)})
	}
	t.Totals = []string{"TOTAL", formatMoney(tb.Debits), formatMoney(tb.Credits), formatMoney(tb.Debits.Sub(tb.Credits))}
	t.Facts = []Fact{{"balanced", Bool, strconv.FormatBool(tb.Balanced)}}
	if !tb.Balanced {
		t.Notes = []string{"UNBALANCED: debits and credits differ"}
	}
	for _, id := range tb.UnbalancedPostings {
		t.Notes = append(t.Notes, "unbalanced posting: "+id)
	}
	return t
}

func asOfLabel(o ReportOptions) string {
	if o.To == (tariff.Date{}) {
		return "the ledger"
	}
	return o.To.String()
}

// ReportNames are the reports Report knows, in the CLI's order.
var ReportNames = []string{"sales", "revenue", "payables", "visits", "visits-pivot", "trial-balance"}

// Report runs a report by name (one of ReportNames). A trial balance that
// does not balance is returned without error; check (*TrialBalance).Balanced.
func Report(ctx context.Context, l Ledger, cat *tariff.Catalog, name string, opts ReportOptions) (Tabler, error) {
	switch name {
	case "sales":
		return Sales(ctx, l, cat, opts)
	case "revenue":
		return Revenue(ctx, l, cat, opts)
	case "payables":
		return Payables(ctx, l, cat, opts)
	case "visits":
		return Visits(ctx, l, cat, opts)
	case "visits-pivot":
		return VisitsPivot(ctx, l, cat, opts)
	case "trial-balance":
		return TrialBalanceReport(ctx, l, cat, opts)
	}
	return nil, fmt.Errorf("reconcile: unknown report %q: want %s", name, strings.Join(ReportNames, ", "))
}

// --- visits pivot ---

// pivotDaysMax bounds the day columns of a pivot.
const pivotDaysMax = 366

// VisitsPivotRow is one venue's visits by day, and its total (the row's
// subtotal).
type VisitsPivotRow struct {
	Partner, Venue, VenueName string
	ByDay                     []int // one per VisitsPivot.Days
	Total                     int
}

// VisitsPivotReport is visits with venues down and service days across:
// each row's total is the venue's, the totals row holds each day's and the
// grand total.
type VisitsPivotReport struct {
	Options ReportOptions
	Days    []string
	Rows    []VisitsPivotRow
	ByDay   []int
	Total   int
}

// VisitsPivot reports accepted entries by venue and service day. Every day
// of the range is a column (days with no visit included); without From or
// To the range is the days that have visits.
func VisitsPivot(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (*VisitsPivotReport, error) {
	v, err := Visits(ctx, l, cat, opts)
	if err != nil {
		return nil, err
	}
	days := map[string]bool{}
	for _, r := range v.Rows {
		days[r.Day] = true
	}
	var cols []string
	if opts.From != (tariff.Date{}) && opts.To != (tariff.Date{}) {
		for d, n := opts.From, 0; !opts.To.Before(d); d, n = d.AddDays(1), n+1 {
			if n >= pivotDaysMax {
				return nil, fmt.Errorf("reconcile: visits pivot: %s .. %s is more than %d days", opts.From, opts.To, pivotDaysMax)
			}
			cols = append(cols, d.String())
		}
	} else {
		for d := range days {
			cols = append(cols, d)
		}
		sort.Strings(cols)
		if len(cols) > pivotDaysMax {
			return nil, fmt.Errorf("reconcile: visits pivot: visits on %d days, more than %d: give --from and --to", len(cols), pivotDaysMax)
		}
	}
	col := map[string]int{}
	for i, d := range cols {
		col[d] = i
	}
	p := &VisitsPivotReport{Options: opts, Days: cols, ByDay: make([]int, len(cols))}
	byVenue := map[string]*VisitsPivotRow{}
	for _, r := range v.Rows {
		row := byVenue[r.Venue]
		if row == nil {
			row = &VisitsPivotRow{Partner: r.Partner, Venue: r.Venue, VenueName: r.VenueName, ByDay: make([]int, len(cols))}
			byVenue[r.Venue] = row
		}
		i, ok := col[r.Day]
		if !ok {
			continue
		}
		row.ByDay[i] += r.Count
		row.Total += r.Count
		p.ByDay[i] += r.Count
		p.Total += r.Count
	}
	for _, row := range byVenue {
		p.Rows = append(p.Rows, *row)
	}
	sort.Slice(p.Rows, func(i, j int) bool {
		a, b := p.Rows[i], p.Rows[j]
		return a.Partner+"\x00"+a.Venue < b.Partner+"\x00"+b.Venue
	})
	return p, nil
}

// Table renders the pivot: partner, venue, its name, one column per day,
// the venue's total; the day totals apart.
func (p *VisitsPivotReport) Table() Table {
	t := Table{Title: "Visits by venue and day " + rangeLabel(p.Options),
		Columns: []Column{colText("partner"), colText("venue"), colText("venue_name")}}
	for _, d := range p.Days {
		t.Columns = append(t.Columns, colCount(d))
	}
	t.Columns = append(t.Columns, colCount("total"))
	for _, r := range p.Rows {
		row := []string{r.Partner, r.Venue, r.VenueName}
		for _, n := range r.ByDay {
			row = append(row, strconv.Itoa(n))
		}
		t.Rows = append(t.Rows, append(row, strconv.Itoa(r.Total)))
	}
	tot := []string{"TOTAL", "", ""}
	for _, n := range p.ByDay {
		tot = append(tot, strconv.Itoa(n))
	}
	t.Totals = append(tot, strconv.Itoa(p.Total))
	return t
}
