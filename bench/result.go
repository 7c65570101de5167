package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is one bench run. Its JSON encoding is the shape of issue 7:
// {"decide":{"ns_per_op"},"gate1":{"p50_us","p99_us","raw_p50_us","raw_p99_us"},
// "gates":{"1":{"taps_per_s","raw_per_s"},…},"scale":{"p99_us","p99_small_us","rss_mb"},
// "reconcile":{"taps_per_s","raw_scan_per_s","rss_mb"},"recovery_s":…,"card":{…}},
// plus ratios, the machine, and the evaluated checks. A workload that was not
// run is absent.
type Result struct {
	Decide    *DecideResult          `json:"decide,omitempty"`
	Gate1     *Gate1Result           `json:"gate1,omitempty"`
	Gates     map[string]*GatesPoint `json:"gates,omitempty"`
	Scale     *ScaleResult           `json:"scale,omitempty"`
	Reconcile *ReconcileResult       `json:"reconcile,omitempty"`
	// RecoveryS is the seconds from ledger.Open to the first read done,
	// after SIGKILL of the process holding the big ledger.
	RecoveryS *float64 `json:"recovery_s,omitempty"`
	// Recovery has the details behind RecoveryS.
	Recovery *RecoveryResult `json:"recovery,omitempty"`
	Card     *CardResult     `json:"card,omitempty"`
	Fleet    *FleetResult    `json:"fleet,omitempty"`
	Checks   []Check         `json:"checks"`
	Meta     Meta            `json:"meta"`
}

// DecideResult is workload 1.
type DecideResult struct {
	NsPerOp     float64 `json:"ns_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// Gate1Result is workload 2: one gate, decision + durable journal, against
// one raw writer of synced batches of the same shape.
type Gate1Result struct {
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	RawP50us float64 `json:"raw_p50_us"`
	RawP99us float64 `json:"raw_p99_us"`
	// P50Ratio is P50us / RawP50us.
	P50Ratio float64 `json:"p50_ratio"`
	Taps     int     `json:"taps"` // taps (and raw batches) per run
}

// GatesPoint is workload 3 at one concurrency.
type GatesPoint struct {
	TapsPerS float64 `json:"taps_per_s"`
	RawPerS  float64 `json:"raw_per_s"`
	Ratio    float64 `json:"ratio"` // TapsPerS / RawPerS
}

// ScaleResult is workload 4.
type ScaleResult struct {
	P99us      float64 `json:"p99_us"`
	P99SmallUs float64 `json:"p99_small_us"`
	P99Ratio   float64 `json:"p99_ratio"`
	RSSMB      float64 `json:"rss_mb"`       // VmHWM of the child that opened the big ledger and tapped
	RSSSmallMB float64 `json:"rss_small_mb"` // the same on the small ledger
	Passes     int     `json:"passes"`
	Taps       int     `json:"taps"`
	SmallTaps  int     `json:"small_taps"`
	BuildS     float64 `json:"build_s"` // time to write the big ledger
}

// ReconcileResult is workload 5.
type ReconcileResult struct {
	TapsPerS    float64 `json:"taps_per_s"`
	RawScanPerS float64 `json:"raw_scan_per_s"`
	Ratio       float64 `json:"ratio"`
	RSSMB       float64 `json:"rss_mb"`
	RawRSSMB    float64 `json:"raw_rss_mb"`
	Taps        int     `json:"taps"`
	// RecognizeS is the seconds of reconcile.Recognize through the month's
	// end, run in the reconcile child after the timed close (outside
	// TapsPerS and RSSMB), and RecognizePostings the postings it stored.
	// No target applies.
	RecognizeS        float64 `json:"recognize_s"`
	RecognizePostings int     `json:"recognize_postings"`
	// Killed: the close passed the child RSS or time limit and was killed
	// (KilledBy "rss" or "time"); RSSMB is the peak it had reached and
	// TapsPerS is 0.
	Killed   bool   `json:"killed,omitempty"`
	KilledBy string `json:"killed_by,omitempty"`
}

// RecoveryResult details workload 6.
type RecoveryResult struct {
	OpenS      float64 `json:"open_s"`            // ledger.Open alone
	FirstReadS float64 `json:"open_first_read_s"` // ledger.Open and the first read (RecoveryS)
	TapsBefore int     `json:"taps_before"`       // taps the killed child had made durable
	Taps       int     `json:"taps"`              // journal length of the ledger
}

// CardResult is workload 7: median read time per card kind and transport,
// in microseconds. Zero means not measured (see Meta.Notes).
type CardResult struct {
	NTAG424us     float64 `json:"ntag424_sun_us"`
	DESFireus     float64 `json:"desfire_us"`
	NTAG424VpcdUs float64 `json:"ntag424_sun_vpcd_us,omitempty"`
	DESFireVpcdUs float64 `json:"desfire_vpcd_us,omitempty"`
	// VpcdNote says why the vpcd figures are missing, when they are.
	VpcdNote string `json:"vpcd_note,omitempty"`
}

// Meta says where and how the figures were measured.
type Meta struct {
	Date    string            `json:"date"`
	CPUs    int               `json:"nproc"`
	CPU     string            `json:"cpu"`
	Go      string            `json:"go"`
	Pebble  string            `json:"pebble"`
	Quick   bool              `json:"quick"`
	Runs    int               `json:"runs"`
	Shape   string            `json:"raw_batch_shape,omitempty"`
	Seconds float64           `json:"seconds"`
	Notes   map[string]string `json:"notes,omitempty"` // workload → why it was not (fully) run
}

// Check is one target of issue 7 evaluated on a Result.
type Check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	Target string  `json:"target"`
	Pass   bool    `json:"pass"`
}

// Targets of issue 7. They are bounds, never tuned to the machine.
const (
	TargetDecideNs        = 2000.0 // decide ≤ 2 µs
	TargetGate1P50Ratio   = 1.5    // gate1 p50 ≤ 1.5 × raw p50
	TargetGate1P99us      = 2000.0 // gate1 p99 ≤ 2 ms
	TargetGates64Ratio    = 0.6    // 64 gates ≥ 60 % of raw 64 writers
	TargetScaleP99Ratio   = 2.0    // scale p99 ≤ 2 × small ledger p99
	TargetRSSMB           = 256.0  // scale and reconcile RSS ≤ 256 MB
	TargetReconcileRatio  = 0.5    // reconcile ≥ 50 % of raw scan rate
	TargetRecoverySeconds = 2.0    // recovery ≤ 2 s
)

// Targets of issue 15 (the fleet).
const (
	TargetFleetCatchupTapsPerS = 50_000.0 // catch-up ≥ 50,000 taps/s into the hub ledger
	TargetFleetOnlineP99ms     = 1000.0   // tap to hub-durable p99 ≤ 1 s
	TargetFleetCostRatio       = 1.1      // gate1 p50 with sync ≤ 1.1 × without
	TargetFleetHubRSSMB        = 512.0    // hub RSS with 500 nodes ≤ 512 MB
)

// Targets of issue 16 (the fleet's state down).
const (
	TargetFleetBlockP99ms = 1000.0 // a block reaches every node: p99 ≤ 1 s
	TargetFleetBehindS    = 5.0    // a node 6 h behind is current in ≤ 5 s
)

// Evaluate fills r.Checks with every target whose figures r has.
func (r *Result) Evaluate() {
	r.Checks = r.Checks[:0]
	le := func(name string, v, limit float64, target string) {
		r.Checks = append(r.Checks, Check{Name: name, Value: round(v, 3), Limit: round(limit, 3), Target: target, Pass: v <= limit})
	}
	ge := func(name string, v, limit float64, target string) {
		r.Checks = append(r.Checks, Check{Name: name, Value: round(v, 3), Limit: round(limit, 3), Target: target, Pass: v >= limit})
	}
	if d := r.Decide; d != nil {
		le("decide ns/op", d.NsPerOp, TargetDecideNs, "≤ 2 µs")
	}
	if g := r.Gate1; g != nil && g.P50us > 0 {
		le("gate1 p50 µs", g.P50us, TargetGate1P50Ratio*g.RawP50us, "≤ 1.5 × raw p50")
		le("gate1 p99 µs", g.P99us, TargetGate1P99us, "≤ 2 ms")
	}
	if g := r.Gates["64"]; g != nil && g.TapsPerS > 0 {
		ge("gates 64 taps/s", g.TapsPerS, TargetGates64Ratio*g.RawPerS, "≥ 60 % of raw 64 writers")
	}
	if s := r.Scale; s != nil {
		le("scale p99 µs", s.P99us, TargetScaleP99Ratio*s.P99SmallUs, "≤ 2 × small ledger p99")
		le("scale RSS MB", s.RSSMB, TargetRSSMB, "≤ 256 MB")
	}
	if c := r.Reconcile; c != nil {
		ge("reconcile taps/s", c.TapsPerS, max(TargetReconcileRatio*c.RawScanPerS, 1), "≥ 50 % of raw scan")
		le("reconcile RSS MB", c.RSSMB, TargetRSSMB, "≤ 256 MB")
	}
	if r.RecoveryS != nil {
		le("recovery s", *r.RecoveryS, TargetRecoverySeconds, "≤ 2 s")
	}
	if f := r.Fleet; f != nil {
		if f.CatchupTaps > 0 {
			ge("fleet catch-up taps/s", f.CatchupTapsPerS, TargetFleetCatchupTapsPerS, "≥ 50,000 taps/s")
		}
		if f.OnlineTaps > 0 {
			le("fleet online p99 ms", f.OnlineP99ms, TargetFleetOnlineP99ms, "≤ 1 s")
		}
		if f.HubPeakRSSMB > 0 {
			le("fleet hub peak RSS MB", f.HubPeakRSSMB, TargetFleetHubRSSMB, fmt.Sprintf("≤ 512 MB (%d nodes)", f.RSSNodes))
		}
		if f.BlockHubPeakRSSMB > 0 {
			le("fleet hub peak RSS MB, nodes following state", f.BlockHubPeakRSSMB, TargetFleetHubRSSMB, fmt.Sprintf("≤ 512 MB (%d nodes)", f.BlockNodes))
		}
		if f.CostTaps > 0 {
			le("fleet node gate1 p50 µs", f.CostSyncP50us, TargetFleetCostRatio*f.CostP50us, "≤ 1.1 × without sync")
		}
		if f.BlockSamples > 0 {
			le("fleet block to every node p99 ms", f.BlockP99ms, TargetFleetBlockP99ms, fmt.Sprintf("≤ 1 s (%d nodes)", f.BlockNodes))
		}
		if f.BehindUpdates > 0 {
			le("fleet node behind, current in s", f.BehindS, TargetFleetBehindS, fmt.Sprintf("≤ 5 s (%d updates)", f.BehindUpdates))
		}
	}
}

// Passed reports whether every evaluated check passed.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// WriteJSON writes r as one JSON object followed by a newline.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as a human-readable table: figures beside their
// baselines, then one PASS/FAIL line per target.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	f := func(x float64, unit string) string {
		switch {
		case x >= 100:
			return fmt.Sprintf("%.0f %s", x, unit)
		case x >= 10:
			return fmt.Sprintf("%.1f %s", x, unit)
		default:
			return fmt.Sprintf("%.2f %s", x, unit)
		}
	}
	row("WORKLOAD", "FIGURE", "CITYPASS", "RAW PEBBLE", "RATIO")
	if d := r.Decide; d != nil {
		row("decide", "per decision", f(d.NsPerOp, "ns"), "-", "-")
	}
	if g := r.Gate1; g != nil {
		row("gate1", "p50", f(g.P50us, "µs"), f(g.RawP50us, "µs"), fmt.Sprintf("%.2f", g.P50Ratio))
		row("gate1", "p99", f(g.P99us, "µs"), f(g.RawP99us, "µs"), ratio(g.P99us, g.RawP99us))
	}
	for _, n := range []string{"1", "8", "64"} {
		if g := r.Gates[n]; g != nil {
			row("gates", n+" gates", f(g.TapsPerS, "taps/s"), f(g.RawPerS, "batches/s"), fmt.Sprintf("%.2f", g.Ratio))
		}
	}
	if s := r.Scale; s != nil {
		row("scale", fmt.Sprintf("p99, %d taps", s.Taps), f(s.P99us, "µs"), "-", "-")
		row("scale", fmt.Sprintf("p99, %d taps", s.SmallTaps), f(s.P99SmallUs, "µs"), "-", fmt.Sprintf("%.2f", s.P99Ratio))
		row("scale", "peak RSS big/small", f(s.RSSMB, "MB"), f(s.RSSSmallMB, "MB"), "-")
	}
	if c := r.Reconcile; c != nil {
		row("reconcile", fmt.Sprintf("close month, %d taps", c.Taps), f(c.TapsPerS, "taps/s"), f(c.RawScanPerS, "keys/s"), fmt.Sprintf("%.2f", c.Ratio))
		row("reconcile", "peak RSS", f(c.RSSMB, "MB"), f(c.RawRSSMB, "MB"), "-")
		if c.Killed {
			row("reconcile", "close killed at the child "+c.KilledBy+" limit", "-", "-", "-")
		} else {
			row("recognize", fmt.Sprintf("revenue recognition, %d postings", c.RecognizePostings), f(c.RecognizeS, "s"), "-", "-")
		}
	}
	if r.RecoveryS != nil {
		row("recovery", "open + first read", f(*r.RecoveryS, "s"), "-", "-")
	}
	if c := r.Card; c != nil {
		row("card", "NTAG 424 SUN in-process", f(c.NTAG424us, "µs"), "-", "-")
		row("card", "DESFire in-process", f(c.DESFireus, "µs"), "-", "-")
		if c.NTAG424VpcdUs > 0 {
			row("card", "NTAG 424 SUN over vpcd", f(c.NTAG424VpcdUs, "µs"), "-", "-")
			row("card", "DESFire over vpcd", f(c.DESFireVpcdUs, "µs"), "-", "-")
		}
	}
	if fl := r.Fleet; fl != nil {
		if fl.CatchupTaps > 0 {
			row("fleet", fmt.Sprintf("catch-up, %d nodes × %d taps", fl.Nodes, fl.Backlog), f(fl.CatchupTapsPerS, "taps/s"), "-", "-")
			row("fleet", "catch-up time", f(fl.CatchupS, "s"), "-", "-")
		}
		if fl.OnlineTaps > 0 {
			row("fleet", fmt.Sprintf("online %.0f taps/s, tap to hub ack p50", fl.OnlineRate), f(fl.OnlineP50ms, "ms"), "-", "-")
			row("fleet", "online p99 / max", f(fl.OnlineP99ms, "ms"), f(fl.OnlineMaxMs, "ms"), "-")
		}
		if fl.HubPeakRSSMB > 0 {
			row("fleet", fmt.Sprintf("hub RSS, %d nodes / peak", fl.RSSNodes), f(fl.HubRSSMB, "MB"), f(fl.HubPeakRSSMB, "MB"), "-")
		}
		if fl.CostTaps > 0 {
			row("fleet", "node gate1 p50, sync on / off", f(fl.CostSyncP50us, "µs"), f(fl.CostP50us, "µs"), fmt.Sprintf("%.2f", fl.CostRatio))
			row("fleet", "node gate1 p99, sync on / off", f(fl.CostSyncP99us, "µs"), f(fl.CostP99us, "µs"), ratio(fl.CostSyncP99us, fl.CostP99us))
		}
		if fl.BlockSamples > 0 {
			row("fleet", fmt.Sprintf("block to %d nodes, denied p50", fl.BlockNodes), f(fl.BlockP50ms, "ms"), "-", "-")
			row("fleet", "block p99 / max", f(fl.BlockP99ms, "ms"), f(fl.BlockMaxMs, "ms"), "-")
			row("fleet", fmt.Sprintf("hub RSS, %d nodes following state / peak", fl.BlockNodes), f(fl.BlockHubRSSMB, "MB"), f(fl.BlockHubPeakRSSMB, "MB"), "-")
		}
		if fl.BehindUpdates > 0 {
			row("fleet", fmt.Sprintf("node %d updates behind, current in / CPU", fl.BehindUpdates), f(fl.BehindS, "s"), f(fl.BehindCPUS, "s"), "-")
		}
	}
	row()
	row("TARGET", "VALUE", "LIMIT", "", "RESULT")
	for _, c := range r.Checks {
		res := "FAIL"
		if c.Pass {
			res = "PASS"
		}
		row(c.Name, fmt.Sprintf("%.2f", c.Value), fmt.Sprintf("%.2f", c.Limit), c.Target, res)
	}
	for _, k := range sortedKeys(r.Meta.Notes) {
		row("note", k, r.Meta.Notes[k])
	}
	row()
	row(fmt.Sprintf("%s, %d× %s, %s, pebble %s, median of %d runs, quick=%v, %.0f s", r.Meta.Date, r.Meta.CPUs, r.Meta.CPU, r.Meta.Go, r.Meta.Pebble, r.Meta.Runs, r.Meta.Quick, r.Meta.Seconds))
	return tw.Flush()
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}
