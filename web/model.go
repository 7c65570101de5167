package web

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// Count is a named number of a table ("mucem 412").
type Count struct {
	Key   string // stable id: a venue id, a reason code
	Label string // what a person reads
	N     int
}

// ReasonLabels says each denial code in words.
var ReasonLabels = map[string]string{
	"INVALID":          "card not recognised or proof failed",
	"REPLAYED":         "card counter replayed (clone suspected)",
	"REVOKED":          "card replaced by another",
	"BLOCKED":          "card on the block list",
	"CANCELED":         "pass refunded",
	"PRODUCT":          "venue not included in the pass",
	"NOT_YET_VALID":    "pass not valid yet",
	"EXPIRED":          "pass expired",
	"PASSBACK":         "used here moments ago (anti-passback)",
	"ALREADY_REDEEMED": "venue's limit used up",
	"ERROR":            "gate or ledger error",
	"STALE":            "gate offline longer than the product allows",
}

// sortedCounts turns a map into counts by decreasing number, then key.
func sortedCounts(m map[string]int, label func(string) string) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		l := k
		if label != nil {
			l = label(k)
		}
		out = append(out, Count{Key: k, Label: l, N: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// names gives venue and partner ids their names from the newest tariff
// version that has them.
type names struct {
	venues, partners, products map[string]string
}

func namesOf(cat *tariff.Catalog) names {
	n := names{venues: map[string]string{}, partners: map[string]string{}, products: map[string]string{}}
	if cat == nil {
		return n
	}
	for _, t := range cat.Versions() {
		for _, v := range t.Venues {
			n.venues[v.ID] = v.Name
		}
		for _, p := range t.Partners {
			n.partners[p.ID] = p.Name
		}
		for _, p := range t.Products {
			n.products[p.ID] = p.Name
		}
	}
	return n
}

func (n names) venue(id string) string {
	if s := n.venues[id]; s != "" {
		return s
	}
	return id
}

func (n names) product(id string) string {
	if s := n.products[id]; s != "" {
		return s + " (" + id + ")"
	}
	return id
}

// --- today ---

// TodayView is the first page: one service day at a glance.
type TodayView struct {
	Day                            string
	Currency                       string
	Sales                          int
	SalesGross, SalesVAT           string
	SalesByProduct                 []Count
	Refunds                        int
	RefundedGross                  string
	Taps, Accepted, Denied, Exits  int
	Visits                         int
	DeniedBy, Flags, VisitsByVenue []Count
	VisitsByHour                   Chart
}

// BuildToday builds the today page from a day summary.
func BuildToday(s *reconcile.DaySummary, cat *tariff.Catalog) TodayView {
	n := namesOf(cat)
	a := s.Activity
	v := TodayView{
		Day: s.Day.String(), Currency: s.Currency, Sales: s.Sales, SalesGross: tariff.FormatMoney(s.SalesGross), SalesVAT: tariff.FormatMoney(s.SalesVAT),
		SalesByProduct: sortedCounts(s.SalesByProd, n.product), Refunds: s.Refunds, RefundedGross: tariff.FormatMoney(s.RefundedGross),
		Taps: a.Taps, Accepted: a.Accepted, Denied: a.Denied, Exits: a.Exits, Visits: a.Visits,
		DeniedBy:      sortedCounts(a.DeniedBy, func(k string) string { return k + ": " + ReasonLabels[k] }),
		Flags:         sortedCounts(a.Flags, nil),
		VisitsByVenue: sortedCounts(a.VisitsByVenue, n.venue),
	}
	v.VisitsByHour = visitsByHour(a, n)
	return v
}

// maxVenueSeries bounds the venues drawn as their own series; the rest are
// summed as "other venues".
const maxVenueSeries = 8

// visitsByHour is the visits per venue per local hour of the day (0-23),
// summed over the report's days.
func visitsByHour(a *reconcile.ActivityReport, n names) Chart {
	c := Chart{ID: "visits-hour", Title: "Visits per venue per hour", Kind: ChartStacked, Unit: "visits"}
	for h := 0; h < 24; h++ {
		c.Labels = append(c.Labels, fmt.Sprintf("%02dh", h))
	}
	venues := sortedCounts(a.VisitsByVenue, nil)
	index := map[string]int{}
	for i, v := range venues {
		if i == maxVenueSeries {
			c.Series = append(c.Series, Series{Name: "other venues", Values: make([]float64, 24)})
		}
		index[v.Key] = min(i, maxVenueSeries)
		if i < maxVenueSeries {
			c.Series = append(c.Series, Series{Name: n.venue(v.Key), Values: make([]float64, 24)})
		}
	}
	for _, r := range a.Rows {
		if !r.Accept || r.Direction != "entry" {
			continue
		}
		c.Series[index[r.Venue]].Values[r.Hour.Hour()] += float64(r.Count)
	}
	return c
}

// --- charts ---

// ChartsInput is what the charts page draws, read by LoadCharts.
type ChartsInput struct {
	From, To   tariff.Date
	Activity   *reconcile.ActivityReport
	Sales      *reconcile.SalesReport
	Revenue    *reconcile.RevenueReport
	Payables   *reconcile.PayablesReport
	Statements []reconcile.Statement // closed statements whose period ends in the range
	Currency   string
}

// LoadCharts reads the reports the charts page draws, over service days
// [from, to].
func LoadCharts(ctx context.Context, l *ledger.Ledger, cat *tariff.Catalog, from, to tariff.Date) (*ChartsInput, error) {
	o := reconcile.ReportOptions{From: from, To: to}
	in := &ChartsInput{From: from, To: to}
	var err error
	if in.Activity, err = reconcile.Activity(ctx, l, cat, o); err != nil {
		return nil, err
	}
	if in.Sales, err = reconcile.Sales(ctx, l, cat, o); err != nil {
		return nil, err
	}
	if in.Revenue, err = reconcile.Revenue(ctx, l, cat, o); err != nil {
		return nil, err
	}
	if in.Payables, err = reconcile.Payables(ctx, l, cat, o); err != nil {
		return nil, err
	}
	if t, ok := cat.At(time.Date(from.Year, from.Month, from.Day, 12, 0, 0, 0, time.UTC)); ok {
		in.Currency = t.Currency
	}
	err = reconcile.Statements(ctx, l, func(st *reconcile.Statement) error {
		t, ok := cat.At(st.ClosedAt)
		if !ok {
			return nil
		}
		p, err := t.ParsePeriod(st.Period)
		if err != nil {
			return nil // a period this version cannot read: not charted
		}
		first, last := t.ServiceDay(p.Start), t.ServiceDay(p.End.Add(-time.Nanosecond))
		if !last.Before(from) && !to.Before(first) {
			s := *st
			s.Manifest = nil
			in.Statements = append(in.Statements, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: reading statements: %w", err)
	}
	return in, nil
}

// ChartsView is the charts page (and the dashboard file).
type ChartsView struct {
	From, To string
	Currency string
	Charts   []Chart
	Tables   []reconcile.Table
}

// BuildCharts builds the four charts over the input's days and the tables
// beside them.
func BuildCharts(in *ChartsInput, cat *tariff.Catalog) ChartsView {
	n := namesOf(cat)
	v := ChartsView{From: in.From.String(), To: in.To.String(), Currency: in.Currency}
	var days []string
	for d := in.From; !in.To.Before(d); d = d.AddDays(1) {
		days = append(days, d.String())
		if len(days) == maxChartDays {
			break
		}
	}
	dayIndex := map[string]int{}
	for i, d := range days {
		dayIndex[d] = i
	}
	v.Charts = append(v.Charts, visitsByHour(in.Activity, n))

	rev := Chart{ID: "revenue-day", Title: "Sales and revenue per day (" + in.Currency + ")", Kind: ChartBar, Labels: days, Unit: in.Currency}
	gross, recognised, refunds := make([]float64, len(days)), make([]float64, len(days)), make([]float64, len(days))
	for _, r := range in.Sales.Rows {
		if i, ok := dayIndex[r.Day]; ok {
			gross[i] += r.Gross.InexactFloat64()
		}
	}
	for _, r := range in.Revenue.Rows {
		if i, ok := dayIndex[r.Day]; ok {
			recognised[i] += r.PassRevenue.Add(r.Breakage).InexactFloat64()
			refunds[i] += r.Refunds.InexactFloat64()
		}
	}
	rev.Series = []Series{{"sales (gross)", gross}, {"revenue recognised", recognised}, {"refunds", refunds}}
	v.Charts = append(v.Charts, rev)

	pay := Chart{ID: "payables-period", Title: "Payables per partner per period (" + in.Currency + ")", Kind: ChartStacked, Unit: in.Currency}
	periods, partners := map[string]bool{}, map[string]bool{}
	for _, st := range in.Statements {
		periods[st.Period], partners[st.Partner] = true, true
	}
	pay.Labels = sortedKeys(periods)
	for _, partner := range sortedKeys(partners) {
		s := Series{Name: partner, Values: make([]float64, len(pay.Labels))}
		for _, st := range in.Statements {
			if st.Partner == partner {
				for i, p := range pay.Labels {
					if p == st.Period {
						s.Values[i] += float64(st.NetMinor) / 100
					}
				}
			}
		}
		pay.Series = append(pay.Series, s)
	}
	v.Charts = append(v.Charts, pay)

	den := Chart{ID: "denials-day", Title: "Denials per day by reason", Kind: ChartStacked, Labels: days, Unit: "taps"}
	byReason := map[string][]float64{}
	for _, r := range in.Activity.Rows {
		if r.Accept {
			continue
		}
		i, ok := dayIndex[r.Day]
		if !ok {
			continue
		}
		if byReason[r.Reason] == nil {
			byReason[r.Reason] = make([]float64, len(days))
		}
		byReason[r.Reason][i] += float64(r.Count)
	}
	for _, reason := range sortedKeys(byReason) {
		den.Series = append(den.Series, Series{Name: reason, Values: byReason[reason]})
	}
	v.Charts = append(v.Charts, den)

	v.Tables = []reconcile.Table{in.Sales.Table(), in.Revenue.Table(), in.Payables.Table(), visitsTable(in.Activity, n)}
	return v
}

// maxChartDays bounds a chart's days (a year).
const maxChartDays = 366

// visitsTable is visits by venue over the range.
func visitsTable(a *reconcile.ActivityReport, n names) reconcile.Table {
	t := reconcile.Table{Title: "Visits by venue", Columns: []reconcile.Column{{Name: "venue"}, {Name: "name"},
		{Name: "visits", Kind: reconcile.Count}}}
	for _, c := range sortedCounts(a.VisitsByVenue, nil) {
		t.Rows = append(t.Rows, []string{c.Key, n.venue(c.Key), fmt.Sprint(c.N)})
	}
	t.Totals = []string{"TOTAL", "", fmt.Sprint(a.Visits)}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// --- a card's or pass's story ---

// StoryView is a card's or a pass's whole story (the card page, `citypass
// pass history`; its JSON keys are `pass history --json`'s).
type StoryView struct {
	Query  string            `json:"query"`
	Card   *CardState        `json:"card"` // null when asked by pass
	Passes []engine.PassView `json:"passes"`
	Events []EventView       `json:"events"`
}

// CardState is what the ledger knows of the card asked for.
type CardState struct {
	UID         string `json:"card"`
	Blocked     bool   `json:"blocked"`
	BlockReason string `json:"block_reason,omitempty"`
	Revoked     bool   `json:"replaced"`
	ReplacedBy  string `json:"replaced_by,omitempty"`
	Passes      int    `json:"passes"`
	// Local times with offsets; Replaced is empty when the ledger did not
	// record it.
	BlockedAt string `json:"blocked_at,omitempty"`
	Replaced  string `json:"replaced_at,omitempty"`
}

// EventView is one line of a story.
type EventView struct {
	At      string `json:"at"` // local time with its offset; "—" when not recorded
	Kind    string `json:"kind"`
	Pass    string `json:"pass,omitempty"`
	Card    string `json:"card,omitempty"`
	Gate    string `json:"gate,omitempty"`
	Outcome string `json:"decision,omitempty"` // "accept" | "deny", "(exit)" added for exits; taps only
	Reason  string `json:"reason,omitempty"`
	Flags   string `json:"flags,omitempty"`
	Message string `json:"message,omitempty"` // what the gate showed
	Detail  string `json:"detail,omitempty"`
	Denied  bool   `json:"denied"`
}

// BuildStory builds the story page from a history.
func BuildStory(query string, h *reconcile.PassHistory) StoryView {
	v := StoryView{Query: query, Passes: h.Passes, Events: []EventView{}}
	if c := h.Card; c != nil {
		v.Card = &CardState{UID: c.UID, Blocked: c.Blocked, BlockReason: c.BlockReason, Revoked: c.Revoked,
			ReplacedBy: c.ReplacedBy, Passes: len(c.Passes)}
		if c.Blocked {
			v.Card.BlockedAt = c.BlockedAt.In(h.Location).Format(timeLayout)
		}
		if !c.ReplacedAt.IsZero() {
			v.Card.Replaced = c.ReplacedAt.In(h.Location).Format(timeLayout)
		}
	}
	for _, e := range h.Events {
		ev := EventView{At: "—", Kind: e.Kind, Pass: e.Pass, Card: e.Card, Gate: e.Gate, Message: e.Message, Detail: e.Detail}
		if !e.At.IsZero() {
			ev.At = e.At.Format(timeLayout)
		}
		if e.Kind == reconcile.EventTap {
			ev.Outcome, ev.Reason, ev.Denied = "accept", e.Reason, !e.Accept
			if !e.Accept {
				ev.Outcome = "deny"
				ev.Detail = ReasonLabels[e.Reason]
			}
			if e.Direction == "exit" {
				ev.Outcome += " (exit)"
			}
			ev.Flags = strings.Join(e.Flags, " ")
		}
		v.Events = append(v.Events, ev)
	}
	return v
}

// timeLayout is how the pages write an instant: local time and its offset.
const timeLayout = tariff.TimeLayout

// --- fleet ---

// FleetNode is one node as the hub sees it (FleetNodes fills it from the
// hub's fleet status).
type FleetNode struct {
	Node        string
	Epoch       string
	LastContact time.Time
	// Acked and Reported are the node's journal seqs the hub acknowledged
	// and the highest it reported; Backlog is the difference.
	Acked, Reported uint64
	Backlog         uint64
	// StateAsOf is the node's state_as_of at its last report (zero: not
	// reported yet); Staleness is how old that state is now.
	StateAsOf   time.Time
	Staleness   time.Duration
	ClockOffset time.Duration
	ClockKnown  bool // ClockOffset was measured
	Quarantined int
	// AtRisk counts the seqs of the node's older epochs (a wiped or
	// replaced disk) that it reported and the hub never received.
	AtRisk uint64
}

// FleetNodes turns the hub's fleet status (hub.ReadStatus) into the fleet
// page's rows.
func FleetNodes(st []fleet.NodeStatus) []FleetNode {
	out := make([]FleetNode, 0, len(st))
	for _, n := range st {
		row := FleetNode{Node: n.Node, LastContact: n.LastContact, Acked: n.Acknowledged, Reported: n.LastReported,
			Backlog: n.Backlog, StateAsOf: n.StateAsOf, Staleness: n.Staleness, ClockOffset: n.ClockOffset, ClockKnown: n.ClockKnown,
			Quarantined: len(n.Quarantined), AtRisk: n.AtRiskCount}
		if len(n.Epochs) > 0 {
			row.Epoch = fmt.Sprintf("%016x", n.Epochs[0].Epoch)
		}
		out = append(out, row)
	}
	return out
}

// FleetStatus reads the fleet's nodes; nil on a standalone ledger.
type FleetStatus func(ctx context.Context) ([]FleetNode, error)

// FleetView is the fleet page.
type FleetView struct {
	Nodes []FleetNodeView
}

// FleetNodeView is one row of the fleet page.
type FleetNodeView struct {
	Node, Epoch, LastContact, Ago, Staleness, ClockOffset string
	Acked, Reported, Backlog                              uint64
	Quarantined                                           int
	AtRisk                                                uint64
	Late                                                  bool // no contact for over 2 heartbeats' worth (1 min)
}

// lateAfter is how long without contact marks a node late on the page.
const lateAfter = time.Minute

// BuildFleet builds the fleet page, nodes by name, ages at now.
func BuildFleet(nodes []FleetNode, now time.Time, loc *time.Location) FleetView {
	var v FleetView
	for _, n := range nodes {
		row := FleetNodeView{Node: n.Node, Epoch: n.Epoch, Acked: n.Acked, Reported: n.Reported, Backlog: n.Backlog,
			Staleness: "?", ClockOffset: "?", Quarantined: n.Quarantined, AtRisk: n.AtRisk, LastContact: "never", Ago: "", Late: true}
		if !n.StateAsOf.IsZero() {
			row.Staleness = n.Staleness.Round(time.Second).String() + " (as of " + n.StateAsOf.In(loc).Format(timeLayout) + ")"
		}
		if n.ClockKnown {
			row.ClockOffset = n.ClockOffset.Round(time.Millisecond).String()
		}
		if !n.LastContact.IsZero() {
			row.LastContact = n.LastContact.In(loc).Format(timeLayout)
			age := now.Sub(n.LastContact)
			row.Ago = age.Round(time.Second).String() + " ago"
			row.Late = age > lateAfter
		}
		v.Nodes = append(v.Nodes, row)
	}
	sort.Slice(v.Nodes, func(i, j int) bool { return v.Nodes[i].Node < v.Nodes[j].Node })
	return v
}
