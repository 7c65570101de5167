package sim

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
)

// Report is what a run did and measured. Everything but Timing and the
// seconds of CatchUps is a function of the Plan: the same seed gives the
// same report (Deterministic).
type Report struct {
	Seed    uint64    `json:"seed"`
	Nodes   int       `json:"nodes"`
	Sites   int       `json:"sites"`
	Hours   int       `json:"hours"`
	Profile Profile   `json:"fault_profile"`
	Cluster bool      `json:"cluster"`
	Start   time.Time `json:"start"`
	Sales   int       `json:"sales"`
	Blocks  int       `json:"blocks"`
	Taps    int       `json:"taps"`
	// Accepted and Denied are the nodes' decisions; DeniedBy by reason.
	Accepted int            `json:"accepted"`
	Denied   int            `json:"denied"`
	DeniedBy map[string]int `json:"denied_by"`
	// Offline taps were decided by a node cut off from the hub.
	Offline int `json:"offline"`
	// Lost taps were journaled by a node whose disk died before they
	// reached the hub; AtRisk of them the hub knows of (reported).
	Lost   int `json:"lost"`
	AtRisk int `json:"at_risk"`
	// Lag is simulated time from a tap to the end of the tick at which
	// the hub had acknowledged it;
	// Staleness is the tap's time − the node's state_as_of; over all taps,
	// in seconds.
	Lag       Percentiles `json:"lag_s"`
	Staleness Percentiles `json:"staleness_s"`
	// PerNode has each node's figures.
	PerNode []NodeLine `json:"per_node"`
	// CatchUps: each node's real time from its link (or the hub) coming
	// back to its backlog acknowledged and its state current.
	CatchUps   []CatchUp       `json:"catch_ups"`
	OverUse    OverUse         `json:"over_use"`
	Statements []StatementLine `json:"statements"`
	// Faults are the faults planned, each with what it did.
	Faults []FaultResult `json:"faults"`
	// Invariants checked; Violation the first one broken ("" when none).
	Invariants []string `json:"invariants"`
	Violation  string   `json:"violation"`
	Timing     Timing   `json:"timing"`

	lags    []nodeDur
	offsets []nodeOffset
}

// Percentiles of a distribution, in seconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// NodeLine is one node's figures.
type NodeLine struct {
	Node      string  `json:"node"`
	Taps      int     `json:"taps"`
	Offline   int     `json:"offline"`
	LagP50    float64 `json:"lag_p50_s"`
	LagP99    float64 `json:"lag_p99_s"`
	StaleP50  float64 `json:"staleness_p50_s"`
	StaleP99  float64 `json:"staleness_p99_s"`
	ClockSkew float64 `json:"clock_offset_s"` // hub − node as the hub last measured it
}

// CatchUp is one node's catch-up after a fault.
type CatchUp struct {
	Node    string  `json:"node"`
	Fault   int     `json:"fault"` // index in Faults
	Backlog uint64  `json:"backlog"`
	Seconds float64 `json:"seconds"`
}

// OverUse is what the offline decisions did.
type OverUse struct {
	// OfflineAccepted taps were accepted by a node the standalone replay
	// denied (a second museum entry, a blocked card, an expired pass);
	// OfflineDenied the other way round (a pass sold while cut off).
	OfflineAccepted int `json:"offline_accepted"`
	OfflineDenied   int `json:"offline_denied"`
	// OverLimitLines are entries the statements list at 0, over their
	// pass's limit at the venue.
	OverLimitLines int `json:"over_limit_lines"`
	// NetDifference is what the hub's statements pay minus the replay's.
	NetDifference string `json:"net_difference"`

	paid     decimal.Decimal
	partners map[string]bool
}

// StatementLine compares a statement of the hub with the replay's.
type StatementLine struct {
	ID           string `json:"id"`
	Visits       int    `json:"visits"`
	ReplayVisits int    `json:"replay_visits"`
	Net          string `json:"net"`
	ReplayNet    string `json:"replay_net"`
}

// FaultResult is a planned fault and its effect.
type FaultResult struct {
	Kind   string    `json:"kind"`
	At     time.Time `json:"at"`
	Until  time.Time `json:"until,omitzero"`
	Detail string    `json:"detail"`
	// Venue is where an outage or a partition struck.
	Venue  string `json:"venue,omitempty"`
	Effect string `json:"effect"`
	Taps   int    `json:"offline_taps"`
	// CatchUpS is the slowest catch-up after it, real seconds (timing).
	CatchUpS float64 `json:"catch_up_s"`
}

// Timing is what depends on the machine.
type Timing struct {
	WallSeconds float64 `json:"wall_s"`
	// CPUSeconds and PeakRSSMB are the whole process's: the hub, its
	// JetStream server and every node run in it.
	CPUSeconds float64 `json:"cpu_s"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	// Nudges counts the nodes told to upload their journal again when an
	// acknowledgement was lost; CatchUpP99 is over all catch-ups after
	// outages.
	Nudges     int     `json:"clock_nudges"`
	CatchUpP50 float64 `json:"catch_up_p50_s"`
	CatchUpP99 float64 `json:"catch_up_p99_s"`
	// Outage6hP99 is the p99 catch-up of the buses back from a 6 h outage.
	Outage6hP99 float64 `json:"catch_up_6h_outage_p99_s"`
	// Outages and Outages6h count the catch-ups the percentiles are over:
	// when one is 0 its percentiles are 0 and mean nothing (a day too
	// short for a 6 h outage, faults other than the default ones).
	Outages   int `json:"outage_catch_ups"`
	Outages6h int `json:"outage_6h_catch_ups"`
}

type nodeDur struct {
	node int
	d    time.Duration
}

type nodeOffset struct {
	node   string
	offset time.Duration
	known  bool
}

func newReport(p *Plan) *Report {
	c := p.Config
	return &Report{Seed: c.Seed, Nodes: c.Nodes, Sites: c.Sites, Hours: c.Hours, Profile: c.Faults, Start: c.Start,
		DeniedBy: map[string]int{}, Invariants: Invariants, OverUse: OverUse{partners: map[string]bool{}}}
}

// Deterministic returns the report without what depends on the machine.
func (rep *Report) Deterministic() Report {
	out := *rep
	out.Timing = Timing{}
	out.CatchUps = nil
	for _, c := range rep.CatchUps {
		c.Seconds = 0
		out.CatchUps = append(out.CatchUps, c)
	}
	out.Faults = nil
	for _, f := range rep.Faults {
		f.CatchUpS = 0
		out.Faults = append(out.Faults, f)
	}
	return out
}

func (rep *Report) summarize(r *runner) {
	rep.Cluster = r.opts.Cluster
	rep.Taps = len(r.taps)
	var stale []time.Duration
	perStale := map[int][]time.Duration{}
	perLag := map[int][]time.Duration{}
	taps := map[int]int{}
	offline := map[int]int{}
	rep.Accepted, rep.Denied, rep.Offline = 0, 0, 0
	rep.DeniedBy = map[string]int{}
	for _, t := range r.taps {
		if t.dec.Accept {
			rep.Accepted++
		} else {
			rep.Denied++
			rep.DeniedBy[t.dec.Reason.String()]++
		}
		if t.offline {
			rep.Offline++
			offline[t.node]++
			if t.fault >= 0 {
				rep.Faults[t.fault].Taps++
			}
		}
		taps[t.node]++
		stale = append(stale, t.staleness)
		perStale[t.node] = append(perStale[t.node], t.staleness)
	}
	var lags []time.Duration
	for _, l := range rep.lags {
		lags = append(lags, l.d)
		perLag[l.node] = append(perLag[l.node], l.d)
	}
	rep.Lag, rep.Staleness = percentiles(lags), percentiles(stale)
	offs := map[string]nodeOffset{}
	for _, o := range rep.offsets {
		offs[o.node] = o
	}
	rep.PerNode = nil
	for i, n := range r.plan.Nodes {
		l, s := percentiles(perLag[i]), percentiles(perStale[i])
		line := NodeLine{Node: n.ID, Taps: taps[i], Offline: offline[i], LagP50: l.P50, LagP99: l.P99, StaleP50: s.P50, StaleP99: s.P99}
		if o, ok := offs[n.ID]; ok && o.known {
			line.ClockSkew = o.offset.Round(time.Second).Seconds()
		}
		rep.PerNode = append(rep.PerNode, line)
	}
	rep.OverUse.NetDifference = rep.OverUse.paid.StringFixed(2)
	var all, six []float64
	for _, c := range rep.CatchUps {
		if c.Fault >= 0 && c.Fault < len(rep.Faults) {
			f := &rep.Faults[c.Fault]
			f.CatchUpS = max(f.CatchUpS, c.Seconds)
			if f.Kind == "outage" {
				all = append(all, c.Seconds)
				if f.Until.Sub(f.At) >= 6*time.Hour {
					six = append(six, c.Seconds)
				}
			}
		}
	}
	rep.Timing.CatchUpP50, rep.Timing.CatchUpP99 = pct(all, 0.5), pct(all, 0.99)
	rep.Timing.Outage6hP99 = pct(six, 0.99)
	rep.Timing.Outages, rep.Timing.Outages6h = len(all), len(six)
	for i := range rep.Faults {
		f := &rep.Faults[i]
		if f.Effect == "" {
			switch f.Kind {
			case "outage", "partition":
				f.Effect = fmt.Sprintf("%d taps decided offline", f.Taps)
			case "hub restart":
				f.Effect = fmt.Sprintf("%d taps decided while it was down", f.Taps)
			case "skew":
				if o, ok := offs[r.plan.Nodes[r.plan.Faults[i].Nodes[0]].ID]; ok && o.known {
					f.Effect = fmt.Sprintf("the hub measures its offset at %s", o.offset.Round(time.Second))
				}
			case "block":
				f.Effect = r.blockEffect(r.plan.Faults[i].Card, f.At)
			}
		}
	}
}

func (r *runner) blockEffect(card int, at time.Time) string {
	var denied, offline int
	for _, t := range r.taps {
		if t.card != card || t.at.Before(at) {
			continue
		}
		if !t.dec.Accept {
			denied++
		} else if t.offline {
			offline++
		}
	}
	return fmt.Sprintf("%d later taps denied, %d accepted offline", denied, offline)
}

func percentiles(ds []time.Duration) Percentiles {
	fs := make([]float64, len(ds))
	for i, d := range ds {
		fs[i] = d.Seconds()
	}
	return Percentiles{P50: pct(fs, 0.5), P90: pct(fs, 0.9), P99: pct(fs, 0.99), Max: pct(fs, 1)}
}

// pct is the q-quantile of fs (nearest rank); 0 for none.
func pct(fs []float64, q float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	s := append([]float64(nil), fs...)
	sort.Float64s(s)
	i := int(q*float64(len(s)) + 0.999999)
	return s[min(max(i, 1), len(s))-1]
}

// WriteText prints the report as tables a person reads.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "citypass sim: seed %d, %d nodes at %d sites, %d h from %s, faults %s", rep.Seed, rep.Nodes, rep.Sites, rep.Hours,
		rep.Start.In(sample.Location).Format("Mon 2 Jan 2006 15:04"), rep.Profile)
	if rep.Cluster {
		fmt.Fprint(tw, ", 3-server cluster")
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "sales\t%d\tblocks\t%d\n", rep.Sales, rep.Blocks)
	fmt.Fprintf(tw, "taps\t%d\taccepted %d, denied %d %s\n", rep.Taps, rep.Accepted, rep.Denied, counts(rep.DeniedBy))
	fmt.Fprintf(tw, "decided offline\t%d\tlost with a disk %d (at risk %d)\n", rep.Offline, rep.Lost, rep.AtRisk)
	fmt.Fprintf(tw, "over-use\t%d\taccepted offline, denied by a standalone ledger; %d denied offline; %d entries over their limit listed at 0; statements net %s against the replay\n",
		rep.OverUse.OfflineAccepted, rep.OverUse.OfflineDenied, rep.OverUse.OverLimitLines, rep.OverUse.NetDifference)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "simulated seconds\tp50\tp90\tp99\tmax")
	fmt.Fprintf(tw, "lag (tap → hub)\t%s\t%s\t%s\t%s\n", secs(rep.Lag.P50), secs(rep.Lag.P90), secs(rep.Lag.P99), secs(rep.Lag.Max))
	fmt.Fprintf(tw, "staleness at a tap\t%s\t%s\t%s\t%s\n", secs(rep.Staleness.P50), secs(rep.Staleness.P90), secs(rep.Staleness.P99), secs(rep.Staleness.Max))
	worst := append([]NodeLine(nil), rep.PerNode...)
	sort.SliceStable(worst, func(a, b int) bool { return worst[a].LagP99 > worst[b].LagP99 })
	if len(worst) > 0 {
		fmt.Fprintf(tw, "slowest node\t%s: lag p99 %s, staleness p99 %s\n", worst[0].Node, secs(worst[0].LagP99), secs(worst[0].StaleP99))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "fault\tat\twhat\teffect\tcatch-up")
	for _, f := range rep.Faults {
		cu := ""
		if f.CatchUpS > 0 {
			cu = fmt.Sprintf("%.2f s", f.CatchUpS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Kind, f.At.In(sample.Location).Format("15:04"), f.Detail, f.Effect, cu)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "statement\tvisits\treplay\tnet\treplay")
	for _, s := range rep.Statements {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", s.ID, s.Visits, s.ReplayVisits, s.Net, s.ReplayNet)
	}
	fmt.Fprintln(tw)
	t := rep.Timing
	fmt.Fprintf(tw, "wall\t%.1f s\tprocess CPU %.1f s, peak RSS %.0f MB (hub, JetStream and every node in one process)\n", t.WallSeconds, t.CPUSeconds, t.PeakRSSMB)
	switch {
	case t.Outages == 0:
		fmt.Fprintf(tw, "catch-up after outages\tno outage in this run\n")
	case t.Outages6h == 0:
		fmt.Fprintf(tw, "catch-up after outages\tp50 %.2f s, p99 %.2f s (%d)\tno 6 h outage in this run\n", t.CatchUpP50, t.CatchUpP99, t.Outages)
	default:
		fmt.Fprintf(tw, "catch-up after outages\tp50 %.2f s, p99 %.2f s (%d)\tafter a 6 h outage p99 %.2f s (%d)\n", t.CatchUpP50, t.CatchUpP99, t.Outages, t.Outage6hP99, t.Outages6h)
	}
	if rep.Violation != "" {
		fmt.Fprintf(tw, "VIOLATION\t%s\n", rep.Violation)
	} else {
		fmt.Fprintf(tw, "invariants\tall %d hold: %s\n", len(rep.Invariants), strings.Join(rep.Invariants, ", "))
	}
	return tw.Flush()
}

func secs(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	return d.String()
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSSMB is the process's peak resident size (the kernel's maxrss, in
// KiB on Linux).
func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
