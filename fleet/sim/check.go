package sim

import (
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// Invariants are the names of the invariants a run checks, in the order
// they are checked at the end (docs/fleet.md, "Simulation").
var Invariants = []string{
	"durable taps",        // a crash loses no journaled tap (at each crash)
	"offline policy",      // a tap on state older than its product allows is decided by the policy (at each tap)
	"catch-up",            // every node with a link catches up within Options.WaitMax (each tick)
	"nothing quarantined", // the hub quarantines nothing (each tick and at the end)
	"exactly once",        // every durable node record is at the hub once, with its content
	"at risk",             // a wiped epoch: the hub holds a prefix; (prefix, reported] is at risk; nothing else is
	"ledger check",        // ledger check is clean on the hub and every node
	"decisions kept",      // the hub journals each tap with the node's decision
	"replay",              // a standalone ledger fed the same sales, blocks and taps decides the same, except offline
	"statements",          // the hub's statements equal the replay's, but for the offline decisions' visits
	"settled once",        // closing again pays nothing more; each over-limit entry is listed once
}

type nodeKey struct {
	node    string
	epoch   uint64
	nodeSeq uint64
}

type hubRec struct {
	rec    engine.TapRecord
	origin fleet.Origin
}

func (r *runner) finish(ctx context.Context) error {
	h := r.hub
	through := ServiceDay(r.plan.Config.Start)
	// Every node has been in contact since the day ended (reports come
	// every ReportEvery of node time; the clock has moved past it).
	ready := hub.CloseReady(ctx, h.Ledger)
	deadline := time.Now().Add(r.opts.WaitMax)
	for {
		err := ready(sample.DayStart(through), sample.DayEnd(through))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return r.violation("catch-up", "the hub cannot close the day: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.checkHub(ctx); err != nil {
		return err
	}
	return r.checkReplay(ctx, through)
}

// checkHub: exactly once, at risk, ledger check, decisions kept; and the
// lag and lost taps for the report.
func (r *runner) checkHub(ctx context.Context) error {
	h := r.hub
	if q := h.Hub.Stats.Quarantined.Load(); q > 0 {
		return r.violation("nothing quarantined", "the hub quarantined %d records", q)
	}
	origins := map[uint64]fleet.Origin{}
	if err := h.Ledger.Origins(ctx, 1, func(seq uint64, o *fleet.Origin) error { origins[seq] = *o; return nil }); err != nil {
		return err
	}
	held := map[nodeKey]*hubRec{}
	byTap := map[engine.TapID]*hubRec{}
	var hubOrder []*hubRec
	err := h.Ledger.Journal(ctx, 1, func(rec *engine.TapRecord) error {
		o, ok := origins[rec.JournalSeq]
		if !ok {
			return r.violation("exactly once", "hub journal seq %d (tap %s) has no node origin", rec.JournalSeq, tapName(rec.ID))
		}
		k := nodeKey{o.Node, o.Epoch, o.NodeSeq}
		if _, dup := held[k]; dup {
			return r.violation("exactly once", "node %s epoch %016x seq %d is journaled twice at the hub", o.Node, o.Epoch, o.NodeSeq)
		}
		hr := &hubRec{rec: *rec, origin: o}
		held[k] = hr
		byTap[rec.ID] = hr
		hubOrder = append(hubOrder, hr)
		return nil
	})
	if err != nil {
		return err
	}
	r.hubOrder = hubOrder
	r.byTap = byTap
	accounted := 0
	for _, n := range r.nodes {
		var recs []engine.TapRecord
		if err := n.Ledger.Journal(ctx, 1, func(rec *engine.TapRecord) error { recs = append(recs, *rec); return nil }); err != nil {
			return err
		}
		for i := range recs {
			got, ok := held[nodeKey{n.spec.ID, n.Ledger.Epoch(), recs[i].JournalSeq}]
			if !ok {
				return r.violation("exactly once", "node %s seq %d (tap %s) is not at the hub", n.spec.ID, recs[i].JournalSeq, tapName(recs[i].ID))
			}
			if !fleet.SameRecord(&recs[i], &got.rec) {
				return r.violation("exactly once", "node %s seq %d differs at the hub", n.spec.ID, recs[i].JournalSeq)
			}
		}
		accounted += len(recs)
	}
	st, err := hub.ReadStatus(ctx, h.Ledger, nil, r.clock.Now())
	if err != nil {
		return err
	}
	wipedNodes := map[string]bool{}
	for _, w := range r.wiped {
		id := r.nodes[w.node].spec.ID
		wipedNodes[id] = true
		var prefix uint64
		for prefix < uint64(len(w.records)) {
			got, ok := held[nodeKey{id, w.epoch, prefix + 1}]
			if !ok {
				break
			}
			if !fleet.SameRecord(&w.records[prefix], &got.rec) {
				return r.violation("exactly once", "wiped node %s epoch %016x seq %d differs at the hub", id, w.epoch, prefix+1)
			}
			prefix++
		}
		for k := range held {
			if k.node == id && k.epoch == w.epoch && k.nodeSeq > prefix {
				return r.violation("at risk", "the hub holds seq %d of wiped node %s's epoch %016x but not seq %d", k.nodeSeq, id, w.epoch, prefix+1)
			}
		}
		accounted += int(prefix)
		var reported uint64
		var atRisk []fleet.SeqRange
		for _, ns := range st {
			if ns.Node != id {
				continue
			}
			atRisk = ns.AtRisk
			for _, es := range ns.Epochs {
				if es.Epoch == w.epoch {
					reported = es.LastReported
				}
			}
		}
		if reported < w.reported || reported > uint64(len(w.records)) {
			return r.violation("at risk", "wiped node %s: the hub says it reported seq %d; it reported %d and held %d", id, reported, w.reported, len(w.records))
		}
		want := []fleet.SeqRange{}
		if prefix < reported {
			want = append(want, fleet.SeqRange{First: prefix + 1, Last: reported})
		}
		if len(atRisk) == 0 {
			atRisk = []fleet.SeqRange{}
		}
		if fmt.Sprint(want) != fmt.Sprint(atRisk) {
			return r.violation("at risk", "wiped node %s: at risk %v, want %v (the hub holds 1..%d, it reported %d)", id, atRisk, want, prefix, reported)
		}
		lost := uint64(len(w.records)) - prefix
		r.rep.AtRisk += int(max(reported, prefix) - prefix)
		r.rep.Lost += int(lost)
		r.faults[w.fault].Effect = fmt.Sprintf("%d of its %d taps had reached the hub; %d reported and lost are at risk; %d more lost unreported",
			prefix, len(w.records), max(reported, prefix)-prefix, uint64(len(w.records))-max(reported, prefix))
	}
	if accounted != len(held) {
		return r.violation("exactly once", "the hub holds %d node records, the nodes %d", len(held), accounted)
	}
	for _, ns := range st {
		if !wipedNodes[ns.Node] && len(ns.AtRisk) > 0 {
			return r.violation("at risk", "node %s has %v at risk but lost no disk", ns.Node, ns.AtRisk)
		}
		r.rep.offsets = append(r.rep.offsets, nodeOffset{ns.Node, ns.ClockOffset, ns.ClockKnown})
	}
	rep, err := ledger.Check(h.Ledger)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return r.violation("ledger check", "hub: %v", rep.Problems)
	}
	if rep.Fleet.Quarantined > 0 {
		return r.violation("nothing quarantined", "hub ledger check: %d quarantined", rep.Fleet.Quarantined)
	}
	for _, n := range r.nodes {
		rep, err := ledger.Check(n.Ledger)
		if err != nil {
			return err
		}
		if !rep.OK() {
			return r.violation("ledger check", "node %s: %v", n.spec.ID, rep.Problems)
		}
	}
	for i := range r.taps {
		t := &r.taps[i]
		hr, ok := byTap[t.id]
		if !ok {
			if r.lostTap(t) {
				t.lost = true
				continue
			}
			return r.violation("exactly once", "tap %s of card %s at %s is not at the hub", tapName(t.id), r.plan.Cards[t.card].UID, r.nodes[t.node].spec.ID)
		}
		d := hr.rec.Decision
		if d.Accept != t.dec.Accept || d.Reason != t.dec.Reason || d.Flags != t.dec.Flags {
			return r.violation("decisions kept", "tap %s: the node decided %+v, the hub journaled %+v", tapName(t.id), t.dec, d)
		}
		r.rep.lags = append(r.rep.lags, nodeDur{t.node, t.ackedAt.Sub(t.at)})
	}
	return nil
}

// lostTap: the tap was journaled by an epoch whose disk died before the
// hub received it.
func (r *runner) lostTap(t *tapLog) bool {
	for _, w := range r.wiped {
		if w.node == t.node && w.epoch == t.epoch {
			return true
		}
	}
	return false
}

// checkReplay feeds a standalone ledger the plan's sales and blocks and
// every tap the hub holds, in time order, and compares its decisions and
// statements with the hub's.
func (r *runner) checkReplay(ctx context.Context, through tariff.Date) error {
	l, err := ledger.Open("/replay", &ledger.Options{FS: vfs.NewMem()})
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.PutTariff(ctx, "sample", fleettest.SampleTOML()); err != nil {
		return err
	}
	v, err := engine.New(l, r.cat, &engine.Options{Rand: rand.NewChaCha8([32]byte{2})})
	if err != nil {
		return err
	}
	type step struct {
		at   time.Time
		kind Kind
		card int
		rec  *hubRec
	}
	var steps []step
	for i, c := range r.plan.Cards {
		steps = append(steps, step{at: c.SoldAt, kind: Sell, card: i})
	}
	for card, at := range r.blockedAt {
		steps = append(steps, step{at: at, kind: Block, card: card})
	}
	for _, hr := range r.hubOrder {
		steps = append(steps, step{at: hr.rec.At, kind: Tap, rec: hr})
	}
	sort.SliceStable(steps, func(a, b int) bool {
		if !steps[a].at.Equal(steps[b].at) {
			return steps[a].at.Before(steps[b].at)
		}
		return steps[a].kind < steps[b].kind
	})
	logOf := map[engine.TapID]*tapLog{}
	for i := range r.taps {
		logOf[r.taps[i].id] = &r.taps[i]
	}
	tainted := map[string]bool{} // card
	diff := map[string]int{}     // statement key partner|day → visits the hub lists beyond the replay's
	for _, s := range steps {
		switch s.kind {
		case Sell:
			c := r.plan.Cards[s.card]
			if _, err := v.Sell(ctx, engine.SellRequest{Product: c.Product, Card: c.UID, At: c.SoldAt, Channel: "desk"}); err != nil {
				return fmt.Errorf("sim: replay: sale onto %s: %w", c.UID, err)
			}
		case Block:
			if err := v.Block(ctx, r.plan.Cards[s.card].UID, engine.BlockStolen, s.at); err != nil {
				return fmt.Errorf("sim: replay: block: %w", err)
			}
		case Tap:
			rec := &s.rec.rec
			res, err := v.Validate(ctx, engine.Tap{ID: rec.ID, Card: rec.Card, Gate: rec.Gate, Direction: rec.Direction, At: rec.At})
			if err != nil {
				return fmt.Errorf("sim: replay: tap %s: %w", tapName(rec.ID), err)
			}
			got, want := rec.Decision, res.Decision
			if got.Accept == want.Accept && got.Reason == want.Reason {
				continue
			}
			t := logOf[rec.ID]
			if t == nil {
				return r.violation("replay", "tap %s at the hub was never tapped", tapName(rec.ID))
			}
			if !t.offline && !t.hidden && !tainted[rec.Card] {
				return r.violation("replay", "tap %s of card %s at %s (%s) on current state: the node decided %s, a standalone ledger %s",
					tapName(rec.ID), rec.Card, rec.Gate, rec.At.In(sample.Location).Format("15:04:05"), decisionName(got), decisionName(want))
			}
			tainted[rec.Card] = true
			switch {
			case got.Accept:
				r.rep.OverUse.OfflineAccepted++
			default:
				r.rep.OverUse.OfflineDenied++
			}
			// A visit more at the hub when the node accepted what the
			// replay denied, one less the other way round; both denying
			// (for different reasons) changes no count.
			d := 0
			switch {
			case got.Accept && !want.Accept:
				d = 1
			case !got.Accept && want.Accept:
				d = -1
			}
			if rec.Direction == engine.Entry && d != 0 {
				if ven, _, ok := r.cat.FindVenue(venueOf(rec.Gate), rec.At, nil); ok {
					diff[ven.Partner+"|"+ServiceDay(rec.At).String()] += d
					r.rep.OverUse.partners[ven.Partner] = true
				}
			}
		}
	}
	signer, err := reconcile.NewSigner(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if err != nil {
		return err
	}
	at := r.clock.Now()
	hubOut, replayOut := filepath.Join(r.dir, "statements-hub"), filepath.Join(r.dir, "statements-replay")
	for _, d := range []string{hubOut, replayOut} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	hres, err := reconcile.Close(ctx, r.hub.Ledger, r.cat, signer, reconcile.CloseOptions{Through: through, At: at, OutDir: hubOut, Ready: hub.CloseReady(ctx, r.hub.Ledger)})
	if err != nil {
		return r.violation("statements", "the hub's close: %v", err)
	}
	rres, err := reconcile.Close(ctx, l, r.cat, signer, reconcile.CloseOptions{Through: through, At: at, OutDir: replayOut})
	if err != nil {
		return fmt.Errorf("sim: replay: close: %w", err)
	}
	replay := map[string]reconcile.StatementSummary{}
	for _, s := range rres.Statements {
		replay[s.ID] = s
	}
	seen := map[string]bool{}
	overLimit := map[string]string{}
	for _, s := range hres.Statements {
		seen[s.ID] = true
		rs := replay[s.ID]
		p, _, err := r.cat.ParsePeriod(s.Period)
		if err != nil {
			return err
		}
		want := 0
		for d := tariff.DateOf(p.Start.In(sample.Location)); sample.DayStart(d).Before(p.End); d = d.AddDays(1) {
			want += diff[s.Partner+"|"+d.String()]
		}
		line := StatementLine{ID: s.ID, Visits: s.Visits, ReplayVisits: rs.Visits, Net: s.Net.StringFixed(2), ReplayNet: rs.Net.StringFixed(2)}
		r.rep.Statements = append(r.rep.Statements, line)
		if s.Visits-rs.Visits != want {
			return r.violation("statements", "%s lists %d visits, the replay %d: the offline decisions explain %+d", s.ID, s.Visits, rs.Visits, want)
		}
		if !r.rep.OverUse.partners[s.Partner] && !s.Net.Equal(rs.Net) {
			return r.violation("statements", "%s nets %s, the replay %s, and no offline decision concerns %s", s.ID, line.Net, line.ReplayNet, s.Partner)
		}
		if !s.Net.Equal(rs.Net) {
			r.rep.OverUse.paid = r.rep.OverUse.paid.Add(s.Net.Sub(rs.Net))
		}
		n, err := overLimitLines(s.CSVPath, s.ID, overLimit)
		if err != nil {
			return r.violation("settled once", "%v", err)
		}
		r.rep.OverUse.OverLimitLines += n
	}
	for _, s := range rres.Statements {
		if !seen[s.ID] {
			return r.violation("statements", "the replay closed %s (%d visits, net %s) and the hub did not", s.ID, s.Visits, s.Net.StringFixed(2))
		}
	}
	again, err := reconcile.Close(ctx, r.hub.Ledger, r.cat, signer, reconcile.CloseOptions{Through: through, At: at, OutDir: hubOut})
	if err != nil {
		return r.violation("settled once", "closing again: %v", err)
	}
	if again.Postings != 0 {
		return r.violation("settled once", "closing again posted %d more postings (%d statements)", again.Postings, len(again.Statements))
	}
	return nil
}

// overLimitLines counts a statement CSV's over-limit lines, refusing a tap
// listed over its limit on two statements (seen: tap → statement).
func overLimitLines(path, id string, seen map[string]string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	head, err := cr.Read()
	if err != nil {
		return 0, fmt.Errorf("statement %s: %w", id, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	dev, seq, note := col["tap_device"], col["tap_seq"], col["note"]
	n := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("statement %s: %w", id, err)
		}
		if rec[note] != reconcile.NoteOverLimit {
			continue
		}
		n++
		k := rec[dev] + "#" + rec[seq]
		if other, ok := seen[k]; ok {
			return n, fmt.Errorf("tap %s is listed over its limit on %s and %s", k, other, id)
		}
		seen[k] = id
	}
}

func venueOf(gate string) string {
	for i := range gate {
		if gate[i] == '/' {
			return gate[:i]
		}
	}
	return gate
}

func decisionName(d engine.Decision) string {
	if d.Accept {
		return "accept"
	}
	return "deny " + d.Reason.String()
}
