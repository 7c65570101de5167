package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/citypass/citypass/web"
)

func TestBuildToday(t *testing.T) {
	f := newFixture(t)
	var v web.TodayView
	require.NoError(t, f.source()(context.Background(), func(l *ledger.Ledger, cat *tariff.Catalog) error {
		s, err := reconcile.Today(context.Background(), l, cat, fixtureDay)
		require.NoError(t, err)
		v = web.BuildToday(s, cat)
		return nil
	}))
	assert.Equal(t, "2026-05-31", v.Day)
	assert.Equal(t, 4, v.Sales)
	assert.Equal(t, 1, v.Refunds)
	assert.Equal(t, 10, v.Taps)
	assert.Equal(t, 5, v.Visits) // alice mucem + metro, bob musee-histoire, bob2 beaux-arts, carl chateau-if
	assert.Equal(t, 5, v.Denied)
	reasons := map[string]int{}
	for _, c := range v.DeniedBy {
		reasons[c.Key] = c.N
		assert.NotEqual(t, c.Key, c.Label, "a reason is said in words")
	}
	assert.Equal(t, map[string]int{"ALREADY_REDEEMED": 1, "PASSBACK": 1, "REVOKED": 1, "BLOCKED": 1, "INVALID": 1}, reasons)
	total := 0.0
	for _, s := range v.VisitsByHour.Series {
		for _, x := range s.Values {
			total += x
		}
	}
	assert.Equal(t, float64(v.Visits), total)
}

func TestBuildCharts(t *testing.T) {
	f := newFixture(t)
	var v web.ChartsView
	require.NoError(t, f.source()(context.Background(), func(l *ledger.Ledger, cat *tariff.Catalog) error {
		in, err := web.LoadCharts(context.Background(), l, cat, fixtureDay.AddDays(-6), fixtureDay)
		require.NoError(t, err)
		v = web.BuildCharts(in, cat)
		return nil
	}))
	ids := map[string]web.Chart{}
	for _, c := range v.Charts {
		ids[c.ID] = c
		for _, s := range c.Series {
			require.Len(t, s.Values, len(c.Labels), "chart %s series %s", c.ID, s.Name)
		}
	}
	require.Len(t, ids, 4)
	assert.Equal(t, []string{"sales (gross)", "revenue recognised", "refunds"}, ids["revenue-day"].SeriesNames())
	assert.Len(t, ids["revenue-day"].Labels, 7)
	assert.Equal(t, 32.0+44+18+32, sumLast(ids["revenue-day"].Series[0]), "the day's gross sales: cp24, cp48, cp24-child, cp24 (refunded later)")
	assert.Contains(t, ids["payables-period"].Labels, "2026-05")
	assert.Contains(t, ids["denials-day"].SeriesNames(), "PASSBACK")
	for _, c := range v.Charts {
		svg, err := c.Draw()
		require.NoError(t, err)
		require.True(t, strings.Contains(string(svg), "<svg"), "chart %s draws an SVG", c.ID)
		// The legend (HTML beside the SVG) names every series with the
		// color the SVG draws it in.
		legend := c.Legend()
		require.Len(t, legend, len(c.Series), "chart %s", c.ID)
		for i, item := range legend {
			assert.Equal(t, c.Series[i].Name, item.Name, "chart %s", c.ID)
			assert.Contains(t, string(svg), "fill:"+string(item.Color), "chart %s draws series %s in its legend's color", c.ID, item.Name)
		}
	}
}

func sumLast(s web.Series) float64 { return s.Values[len(s.Values)-1] }

func TestBuildStory(t *testing.T) {
	f := newFixture(t)
	var alice, bob web.StoryView
	require.NoError(t, f.source()(context.Background(), func(l *ledger.Ledger, cat *tariff.Catalog) error {
		h, err := web.ReadHistory(context.Background(), l, cat, cardAlice, f.now())
		require.NoError(t, err)
		alice = web.BuildStory(cardAlice, h)
		h, err = web.ReadHistory(context.Background(), l, cat, f.bob, f.now())
		require.NoError(t, err)
		bob = web.BuildStory(f.bob, h)
		return nil
	}))
	var kinds []string
	for _, e := range alice.Events {
		kinds = append(kinds, e.Kind+":"+e.Reason)
	}
	assert.Equal(t, []string{"sale:", "tap:OK", "activation:", "tap:ALREADY_REDEEMED", "tap:OK", "tap:PASSBACK"}, kinds[:6])
	last := alice.Events[5]
	assert.True(t, last.Denied)
	assert.Equal(t, "Just used here. Please wait 13 min.", last.Message, "the wait the gate showed (the metro at 12:00, 18 min)")
	assert.Equal(t, "2026-05-31 12:05:00 +02:00", last.At)

	var bobKinds []string
	for _, e := range bob.Events {
		bobKinds = append(bobKinds, e.Kind+":"+e.Reason)
	}
	assert.Equal(t, []string{"sale:", "tap:OK", "activation:", "replacement:", "tap:REVOKED", "tap:OK"}, bobKinds)
	assert.Equal(t, "2026-05-31 11:30:00 +02:00", bob.Events[3].At, "the replacement's time")
	assert.Equal(t, cardBob, bob.Events[3].Card)
}

func TestBuildFleet(t *testing.T) {
	now := time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC)
	v := web.BuildFleet([]web.FleetNode{
		{Node: "gate-2", LastContact: now.Add(-5 * time.Second), Acked: 10, Reported: 12, Backlog: 2},
		{Node: "gate-1", LastContact: now.Add(-10 * time.Minute)},
		{Node: "bus-7"},
	}, now, time.UTC)
	require.Len(t, v.Nodes, 3)
	assert.Equal(t, []string{"bus-7", "gate-1", "gate-2"}, []string{v.Nodes[0].Node, v.Nodes[1].Node, v.Nodes[2].Node})
	assert.True(t, v.Nodes[0].Late)
	assert.Equal(t, "never", v.Nodes[0].LastContact)
	assert.True(t, v.Nodes[1].Late)
	assert.False(t, v.Nodes[2].Late)
	assert.Equal(t, "5s ago", v.Nodes[2].Ago)
}

// TestReasonLabels: every denial code the engine can journal has words on
// the dashboard (a new reason without a label would show an empty cell).
func TestReasonLabels(t *testing.T) {
	for r := engine.ReasonInvalid; !strings.HasPrefix(r.String(), "REASON_"); r++ {
		assert.NotEmpty(t, web.ReasonLabels[r.String()], "reason %s has no label", r)
	}
	assert.Len(t, web.ReasonLabels, int(engine.ReasonStale), "a label for each reason but OK, none for a reason that does not exist")
}

// TestFleetNodes: the fleet page's rows come from the hub's fleet status
// as `citypass fleet status` shows it: the current epoch, seqs, backlog,
// the node's state_as_of and staleness, the clock offset when measured,
// the quarantined taps and the seqs at risk; what was never reported is
// "?".
func TestFleetNodes(t *testing.T) {
	now := time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC)
	rows := web.FleetNodes([]fleet.NodeStatus{
		{Node: "gate-1", Epochs: []fleet.EpochStatus{{Epoch: 0x7f3a}, {Epoch: 0x11}}, LastContact: now.Add(-5 * time.Second),
			Acknowledged: 10, LastReported: 12, Backlog: 2, ClockOffset: -30 * time.Millisecond, ClockKnown: true,
			StateAsOf: now.Add(-8 * time.Second), Staleness: 8 * time.Second, Quarantined: []string{"gate-1#4", "gate-1#5"}, AtRiskCount: 3},
		{Node: "bus-7", Epochs: []fleet.EpochStatus{}, Quarantined: []string{}},
	})
	require.Len(t, rows, 2)
	assert.Equal(t, web.FleetNode{Node: "gate-1", Epoch: "0000000000007f3a", LastContact: now.Add(-5 * time.Second), Acked: 10, Reported: 12,
		Backlog: 2, StateAsOf: now.Add(-8 * time.Second), Staleness: 8 * time.Second, ClockOffset: -30 * time.Millisecond, ClockKnown: true,
		Quarantined: 2, AtRisk: 3}, rows[0])
	v := web.BuildFleet(rows, now, time.UTC)
	require.Len(t, v.Nodes, 2)
	bus, gate := v.Nodes[0], v.Nodes[1]
	assert.Equal(t, "8s (as of 2026-05-31 11:59:52 +00:00)", gate.Staleness)
	assert.Equal(t, "-30ms", gate.ClockOffset)
	assert.Equal(t, uint64(3), gate.AtRisk)
	assert.Equal(t, "?", bus.Staleness, "never reported")
	assert.Equal(t, "?", bus.ClockOffset, "never measured")
	assert.Equal(t, "never", bus.LastContact)
}
