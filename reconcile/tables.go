package reconcile

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Table renders a close result: one row per statement, the sums apart.
func (r *CloseResult) Table() Table {
	title := "Statements for " + r.Period
	if r.Period == "" {
		title = "Statements closed through " + r.Through.String()
	}
	t := Table{Title: title, Columns: []Column{colText("statement"), colText("partner"), colText("partner_name"), colText("period"),
		colCount("visits"), colCount("adjustment_lines"), colMoney("gross"), colMoney("cap_reduction"), colMoney("adjustments"),
		colMoney("net"), colText("currency"), colCount("data_as_of"), colText("status")}}
	var visits, adj int
	var gross, capRd, adjs, net decimal.Decimal
	currency := ""
	for _, s := range r.Statements {
		status := "closed"
		if s.Reclosed {
			status = "rewritten"
		}
		t.Rows = append(t.Rows, []string{s.ID, s.Partner, s.PartnerName, s.Period, strconv.Itoa(s.Visits), strconv.Itoa(s.AdjustmentLines),
			formatMoney(s.Gross), formatMoney(s.CapReduction), formatMoney(s.Adjustments), formatMoney(s.Net),
			s.Currency, strconv.FormatUint(s.AsOfSeq, 10), status})
		visits += s.Visits
		adj += s.AdjustmentLines
		gross, capRd, adjs, net = gross.Add(s.Gross), capRd.Add(s.CapReduction), adjs.Add(s.Adjustments), net.Add(s.Net)
		if currency == "" {
			currency = s.Currency
		} else if currency != s.Currency {
			currency = "mixed"
		}
	}
	t.Totals = []string{"TOTAL", "", "", "", strconv.Itoa(visits), strconv.Itoa(adj), formatMoney(gross), formatMoney(capRd),
		formatMoney(adjs), formatMoney(net), currency, "", ""}
	t.Facts = []Fact{{"statements", Count, strconv.Itoa(len(r.Statements))}, {"skipped_periods", Count, strconv.Itoa(r.Skipped)},
		{"postings", Count, strconv.Itoa(r.Postings)}}
	return t
}

// Table renders a verification report: statements per partner chain, and
// the visits the ledger holds that no statement covers, when it was read.
func (r *VerifyReport) Table() Table {
	t := Table{Title: "Verified " + r.Dir, Columns: []Column{colText("partner"), colCount("statements")}}
	var ps []string
	for p := range r.Partners {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		t.Rows = append(t.Rows, []string{p, strconv.Itoa(r.Partners[p])})
	}
	t.Totals = []string{"TOTAL", strconv.Itoa(r.Statements)}
	if r.Coverage != nil {
		t.Facts = r.Coverage.facts()
		t.Notes = r.Coverage.notes()
	}
	return t
}

// Table renders a match result: every entry, then the counts.
func (r *MatchResult) Table() Table {
	t := Table{Title: "Match of statement " + r.Statement + " (tolerance " + r.Tolerance + ")",
		Columns: []Column{colText("status"), colCount("line"), colCount("partner_line"), colText("at"), colText("scanned_at"),
			colText("card"), colText("gate"), colMoney("amount")}}
	ts := func(x time.Time) string {
		if x.IsZero() {
			return ""
		}
		return x.Format(time.RFC3339)
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	for _, e := range r.Entries {
		amt := formatMoney(e.Amount)
		if e.Status == TheirsOnly {
			amt = ""
		}
		t.Rows = append(t.Rows, []string{e.Status, num(e.Line), num(e.PartnerLine), ts(e.At), ts(e.ScannedAt), e.Card, e.Gate, amt})
	}
	t.Facts = []Fact{{"matched", Count, strconv.Itoa(r.Matched)}, {"matched_amount", Money, formatMoney(r.MatchedAmount)},
		{"ours_only", Count, strconv.Itoa(r.OursOnly)}, {"ours_only_amount", Money, formatMoney(r.OursOnlyAmount)},
		{"theirs_only", Count, strconv.Itoa(r.TheirsOnly)}, {"currency", Text, r.Currency}}
	return t
}

// Table renders a payout: one row per credit transfer, the total apart.
func (r *PayoutResult) Table() Table {
	title := "Payout " + r.ID + " (" + r.Status + ", execution " + r.Date.String() + ")"
	if r.File != "" {
		title += " → " + r.File
	}
	t := Table{Title: title, Columns: []Column{colText("partner"), colText("name"), colText("iban"), colText("bic"),
		colCount("statements"), colText("statement_ids"), colMoney("amount"), colText("currency"), colText("end_to_end_id"),
		colText("status"), colText("reason")}}
	n := 0
	for _, tr := range r.Transfers {
		t.Rows = append(t.Rows, []string{tr.Partner, tr.Name, tr.IBAN, tr.BIC, strconv.Itoa(len(tr.Statements)),
			strings.Join(tr.Statements, " "), formatMoney(tr.Amount), tr.Currency, tr.EndToEndID, tr.Status, tr.Reason})
		n += len(tr.Statements)
	}
	t.Totals = []string{"TOTAL", "", "", "", strconv.Itoa(n), "", formatMoney(r.Total), r.Currency, "", "", ""}
	t.Facts = []Fact{{"payout", Text, r.ID}, {"status", Text, r.Status}, {"execution_date", Text, r.Date.String()},
		{"created_at", Text, r.CreatedAt}, {"file", Text, r.File}, {"transfers", Count, strconv.Itoa(len(r.Transfers))},
		{"postings", Count, strconv.Itoa(r.Postings)}}
	return t
}

// Table renders the payouts: one row each.
func (l *PayoutList) Table() Table {
	t := Table{Title: "Payouts", Columns: []Column{colText("payout"), colText("execution_date"), colText("created_at"),
		colText("status"), colCount("transfers"), colCount("rejected"), colMoney("total"), colText("currency")}}
	for _, p := range l.Payouts {
		rej := 0
		for _, tr := range p.Transfers {
			if tr.Status == TransferReject {
				rej++
			}
		}
		t.Rows = append(t.Rows, []string{p.ID, p.Date.String(), p.CreatedAt, p.Status, strconv.Itoa(len(p.Transfers)),
			strconv.Itoa(rej), formatMoney(p.Total), p.Currency})
	}
	t.Facts = []Fact{{"payouts", Count, strconv.Itoa(len(l.Payouts))}}
	return t
}

// Table renders a month end: the close's table, and the recognition.
func (m *MonthEndResult) Table() Table {
	t := m.Close.Table()
	t.Facts = append(t.Facts, Fact{"recognized", Count, strconv.Itoa(m.Recognized)},
		Fact{"recognized_through", Text, m.RecognizedThrough.Format(time.RFC3339)})
	t.Notes = append(t.Notes, fmt.Sprintf("%d revenue recognition posting(s) stored (due by %s)",
		m.Recognized, m.RecognizedThrough.Format(time.RFC3339)))
	return t
}
