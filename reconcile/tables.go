package reconcile

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Table renders a close result: one row per statement.
func (r *CloseResult) Table() Table {
	t := Table{Title: "Statements for " + r.Period, Columns: []string{"statement", "partner", "visits",
		"adjustment_lines", "gross", "cap_reduction", "adjustments", "net", "currency", "data_as_of", "status"}}
	for _, s := range r.Statements {
		status := "closed"
		if s.Reclosed {
			status = "rewritten"
		}
		t.Rows = append(t.Rows, []string{s.ID, s.Partner, strconv.Itoa(s.Visits), strconv.Itoa(s.AdjustmentLines),
			formatMoney(s.Gross), formatMoney(s.CapReduction), formatMoney(s.Adjustments), formatMoney(s.Net),
			s.Currency, strconv.FormatUint(s.AsOfSeq, 10), status})
	}
	t.Notes = []string{fmt.Sprintf("%d posting(s) stored", r.Postings)}
	return t
}

// Table renders a verification report: statements per partner chain.
func (r *VerifyReport) Table() Table {
	t := Table{Title: "Verified " + r.Dir, Columns: []string{"partner", "statements"}}
	var ps []string
	for p := range r.Partners {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		t.Rows = append(t.Rows, []string{p, strconv.Itoa(r.Partners[p])})
	}
	t.Totals = []string{"TOTAL", strconv.Itoa(r.Statements)}
	return t
}

// Table renders a match result: every entry, then the counts.
func (r *MatchResult) Table() Table {
	t := Table{Title: "Match of statement " + r.Statement + " (tolerance " + r.Tolerance + ")",
		Columns: []string{"status", "line", "partner_line", "at", "scanned_at", "card", "gate", "amount"}}
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
	t.Notes = []string{
		fmt.Sprintf("matched %d (%s %s), ours only %d (%s %s), theirs only %d", r.Matched, formatMoney(r.MatchedAmount),
			r.Currency, r.OursOnly, formatMoney(r.OursOnlyAmount), r.Currency, r.TheirsOnly),
	}
	return t
}

// Table renders a payout: one row per credit transfer.
func (r *PayoutResult) Table() Table {
	t := Table{Title: "Payout " + r.ID + " → " + r.File + " (execution " + r.Date.String() + ")",
		Columns: []string{"statement", "partner", "name", "iban", "bic", "amount", "currency"}}
	for _, it := range r.Items {
		t.Rows = append(t.Rows, []string{it.Statement, it.Partner, it.Name, it.IBAN, it.BIC, formatMoney(it.Amount), it.Currency})
	}
	t.Totals = []string{"TOTAL", "", "", "", "", formatMoney(r.Total), r.Currency}
	return t
}
