package tariff

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mustTime parses RFC 3339.
func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return at
}

// assertInstant checks that got is the instant written as RFC 3339 (whatever
// the location it carries).
func assertInstant(t *testing.T, want string, got time.Time) {
	t.Helper()
	w := mustTime(t, want)
	assert.True(t, w.Equal(got), "want %s, got %s", w, got)
}

func date(y int, m time.Month, d int) Date { return Date{y, m, d} }

func TestLookups(t *testing.T) {
	tr := SampleTariff()
	p, ok := tr.Partner("rtm")
	require.True(t, ok)
	assert.Equal(t, "CEPAFRPP131", p.BIC)
	_, ok = tr.Partner("louvre")
	assert.False(t, ok)
	v, ok := tr.Venue("chateau-if")
	require.True(t, ok)
	assert.Equal(t, "cmn-chateau-if", v.Partner)
	_, ok = tr.Venue("louvre")
	assert.False(t, ok)
	pr, ok := tr.Product("cp72-child")
	require.True(t, ok)
	assert.Equal(t, "30.00", pr.Price.StringFixed(2))
	_, ok = tr.Product("cp96-adult")
	assert.False(t, ok)
	// Lookups return the tariff's own records, not copies.
	pr2, _ := tr.Product("cp72-child")
	assert.Same(t, pr, pr2)
}

// TestLookupsWithoutIndex: a Tariff written as a literal (as other packages'
// tests do) answers the same lookups as a loaded one.
func TestLookupsWithoutIndex(t *testing.T) {
	loaded := SampleTariff()
	lit := &Tariff{ID: loaded.ID, Location: loaded.Location, Partners: loaded.Partners,
		Venues: loaded.Venues, Products: loaded.Products, Contracts: loaded.Contracts}
	for _, p := range loaded.Partners {
		got, ok := lit.Partner(p.ID)
		require.True(t, ok)
		assert.Equal(t, p, *got)
	}
	for _, v := range loaded.Venues {
		got, ok := lit.Venue(v.ID)
		require.True(t, ok)
		assert.Equal(t, v.Name, got.Name)
		gv, err := lit.VenueOfGate(v.ID + "/g1")
		require.NoError(t, err)
		assert.Equal(t, v.ID, gv.ID)
	}
	for _, p := range loaded.Products {
		got, ok := lit.Product(p.ID)
		require.True(t, ok)
		assert.Equal(t, p.Name, got.Name)
	}
	_, ok := lit.Partner("x")
	assert.False(t, ok)
	_, ok = lit.Venue("x")
	assert.False(t, ok)
	_, ok = lit.Product("x")
	assert.False(t, ok)
	_, err := lit.VenueOfGate("x/1")
	var ug *ErrUnknownGate
	assert.True(t, errors.As(err, &ug))
	c, err := NewCatalog(lit)
	require.NoError(t, err)
	_, p, err := c.ProductAsSold(lit.ID, "cp24-adult")
	require.NoError(t, err)
	assert.Equal(t, "cp24-adult", p.ID)
}

func TestVenueOfGate(t *testing.T) {
	tr := SampleTariff()
	cases := []struct {
		gate    string
		venue   string
		unknown bool
		bad     bool
	}{
		{gate: "mucem/north-1", venue: "mucem"},
		{gate: "rtm-metro/vieux-port-3", venue: "rtm-metro"},
		{gate: "louvre/1", unknown: true},
		{gate: "mucem", bad: true},
		{gate: "mucem/", bad: true},
		{gate: "/north", bad: true},
		{gate: "mucem/a/b", bad: true},
		{gate: "", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.gate, func(t *testing.T) {
			v, err := tr.VenueOfGate(tc.gate)
			switch {
			case tc.unknown:
				var ug *ErrUnknownGate
				require.True(t, errors.As(err, &ug), "%v", err)
				assert.Equal(t, tc.gate, ug.Gate)
			case tc.bad:
				require.Error(t, err)
				var ug *ErrUnknownGate
				assert.False(t, errors.As(err, &ug))
			default:
				require.NoError(t, err)
				assert.Equal(t, tc.venue, v.ID)
			}
		})
	}
}

func TestCoversAndIncludeFor(t *testing.T) {
	museum := &Venue{ID: "mucem", Kind: KindMuseum}
	metro := &Venue{ID: "rtm-metro", Kind: KindTransit, Zone: "marseille"}
	aixBus := &Venue{ID: "aix-bus", Kind: KindTransit, Zone: "aix"}
	noZone := &Venue{ID: "shuttle", Kind: KindTransit}
	cases := []struct {
		name string
		in   Include
		v    *Venue
		want bool
	}{
		{"by id", Include{Venues: []string{"mucem"}}, museum, true},
		{"by id, other venue", Include{Venues: []string{"mucem"}}, metro, false},
		{"by kind", Include{Kinds: []VenueKind{KindMuseum}}, museum, true},
		{"by kind, other kind", Include{Kinds: []VenueKind{KindMuseum}}, metro, false},
		{"kind and zone listed", Include{Kinds: []VenueKind{KindTransit}, Zones: []string{"marseille"}}, metro, true},
		{"kind, zone not listed", Include{Kinds: []VenueKind{KindTransit}, Zones: []string{"marseille"}}, aixBus, false},
		{"kind, venue without zone", Include{Kinds: []VenueKind{KindTransit}, Zones: []string{"marseille"}}, noZone, false},
		{"kind, no zones given", Include{Kinds: []VenueKind{KindTransit}}, aixBus, true},
		{"id with zones: zone must be listed too", Include{Venues: []string{"aix-bus"}, Zones: []string{"marseille"}}, aixBus, false},
		{"id or kind", Include{Venues: []string{"mucem"}, Kinds: []VenueKind{KindTransit}}, metro, true},
		{"empty include", Include{}, museum, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.in.Covers(tc.v))
		})
	}

	// The first covering include applies (docs/semantics.md, "Includes, limits, anti-passback").
	p := &Product{Includes: []Include{
		{Venues: []string{"mucem"}, Limit: Limit{LimitOnce, 1}},
		{Kinds: []VenueKind{KindMuseum}, Limit: Limit{LimitOncePerDay, 1}},
		{Kinds: []VenueKind{KindTransit}, Zones: []string{"marseille"}},
	}}
	in, ok := p.IncludeFor(museum)
	require.True(t, ok)
	assert.Same(t, &p.Includes[0], in)
	in, ok = p.IncludeFor(&Venue{ID: "beaux-arts", Kind: KindMuseum})
	require.True(t, ok)
	assert.Same(t, &p.Includes[1], in)
	in, ok = p.IncludeFor(metro)
	require.True(t, ok)
	assert.Same(t, &p.Includes[2], in)
	_, ok = p.IncludeFor(aixBus)
	assert.False(t, ok)
}

func TestContractOf(t *testing.T) {
	tr := SampleTariff()
	cases := []struct {
		partner string
		model   ContractModel
		period  PeriodKind
	}{
		{"mucem", ModelPerVisit, PeriodMonth},
		{"cmn-chateau-if", ModelPerVisit, PeriodDay},
		{"musee-histoire", ModelPercentOfGate, PeriodWeek},
		{"rtm", ModelPerPassDay, PeriodMonth},
		{"panier-tours", ModelFlat, PeriodMonth},
	}
	for _, tc := range cases {
		c, ok := tr.ContractOf(tc.partner)
		require.True(t, ok, tc.partner)
		assert.Equal(t, tc.model, c.Model, tc.partner)
		assert.Equal(t, tc.period, c.Period, tc.partner)
	}
	_, ok := tr.ContractOf("louvre")
	assert.False(t, ok)
}

func TestDates(t *testing.T) {
	d, err := ParseDate("2026-02-28")
	require.NoError(t, err)
	assert.Equal(t, date(2026, 3, 1), d.AddDays(1))
	assert.Equal(t, date(2027, 1, 1), date(2026, 12, 31).AddDays(1))
	assert.Equal(t, date(2024, 2, 29), date(2024, 3, 1).AddDays(-1))
	assert.Equal(t, "2026-03-01", d.AddDays(1).String())
	for _, bad := range []string{"2026-02-30", "2026-2-28", "28/02/2026", "", "2026-02-28T00:00:00Z"} {
		_, err := ParseDate(bad)
		assert.Error(t, err, bad)
	}
	assert.True(t, date(2026, 1, 31).Before(date(2026, 2, 1)))
	assert.True(t, date(2025, 12, 31).Before(date(2026, 1, 1)))
	assert.False(t, date(2026, 2, 1).Before(date(2026, 2, 1)))
	assert.False(t, date(2026, 2, 2).Before(date(2026, 2, 1)))
	assert.True(t, date(999, 1, 1).Before(date(2026, 1, 1)))
}

// TestServiceDayAcrossDST: the 04:30 service day of Europe/Paris around both
// changes of 2026 (29 March: 02:00 → 03:00; 25 October: 03:00 → 02:00).
func TestServiceDayAcrossDST(t *testing.T) {
	tr := SampleTariff()
	cases := []struct {
		at   string
		want Date
	}{
		// Spring: service day 28 March lasts 23 hours.
		{"2026-03-28T04:29:59+01:00", date(2026, 3, 27)},
		{"2026-03-28T04:30:00+01:00", date(2026, 3, 28)},
		{"2026-03-29T01:59:59+01:00", date(2026, 3, 28)},
		{"2026-03-29T03:00:00+02:00", date(2026, 3, 28)}, // the instant after 01:59:59 CET
		{"2026-03-29T04:29:59+02:00", date(2026, 3, 28)},
		{"2026-03-29T04:30:00+02:00", date(2026, 3, 29)},
		{"2026-03-29T23:59:59+02:00", date(2026, 3, 29)},
		{"2026-03-30T04:29:59.999999999+02:00", date(2026, 3, 29)},
		{"2026-03-30T04:30:00+02:00", date(2026, 3, 30)},
		// Autumn: service day 24 October lasts 25 hours; 02:00-03:00 is lived twice.
		{"2026-10-24T04:30:00+02:00", date(2026, 10, 24)},
		{"2026-10-25T02:30:00+02:00", date(2026, 10, 24)},
		{"2026-10-25T02:30:00+01:00", date(2026, 10, 24)},
		{"2026-10-25T04:29:59+01:00", date(2026, 10, 24)},
		{"2026-10-25T04:30:00+01:00", date(2026, 10, 25)},
		// The same instant written in UTC.
		{"2026-10-25T03:29:59Z", date(2026, 10, 24)},
		{"2026-10-25T03:30:00Z", date(2026, 10, 25)},
		{"2026-03-29T02:29:59Z", date(2026, 3, 28)},
		{"2026-03-29T02:30:00Z", date(2026, 3, 29)},
		// Year end.
		{"2027-01-01T04:29:59+01:00", date(2026, 12, 31)},
		{"2027-01-01T04:30:00+01:00", date(2027, 1, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.at, func(t *testing.T) {
			assert.Equal(t, tc.want, tr.ServiceDay(mustTime(t, tc.at)))
		})
	}

	assertInstant(t, "2026-03-28T04:30:00+01:00", tr.DayStart(date(2026, 3, 28)))
	assertInstant(t, "2026-03-29T04:30:00+02:00", tr.DayEnd(date(2026, 3, 28)))
	assert.Equal(t, 23*time.Hour, tr.DayEnd(date(2026, 3, 28)).Sub(tr.DayStart(date(2026, 3, 28))))
	assert.Equal(t, 24*time.Hour, tr.DayEnd(date(2026, 3, 29)).Sub(tr.DayStart(date(2026, 3, 29))))
	assert.Equal(t, 25*time.Hour, tr.DayEnd(date(2026, 10, 24)).Sub(tr.DayStart(date(2026, 10, 24))))
	assert.Equal(t, 24*time.Hour, tr.DayEnd(date(2026, 10, 25)).Sub(tr.DayStart(date(2026, 10, 25))))
}

// withStart returns the sample with another service-day start.
func withStart(t *testing.T, hhmm string) *Tariff {
	t.Helper()
	src := string(Sample())
	tr, err := Load("s.toml", []byte(replaceOnce(t, src, `service_day_starts = "04:30"`, fmt.Sprintf("service_day_starts = %q", hhmm))))
	require.NoError(t, err)
	return tr
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Contains(t, s, old)
	return s[:len(s)-len(s[indexOf(s, old):])] + new + s[indexOf(s, old)+len(old):]
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestServiceDayInvariants walks every minute around both DST changes for
// several service-day starts (midnight, 02:30 which is skipped in spring and
// lived twice in autumn, 04:30) and checks that ServiceDay agrees with
// DayStart/DayEnd and never goes back in time.
func TestServiceDayInvariants(t *testing.T) {
	for _, start := range []string{"00:00", "02:30", "04:30", "23:59"} {
		tr := withStart(t, start)
		for _, from := range []string{"2026-03-27T00:00:00Z", "2026-10-23T00:00:00Z", "2026-12-30T00:00:00Z"} {
			at := mustTime(t, from)
			prev := tr.ServiceDay(at)
			for i := 0; i < 4*24*60; i++ {
				d := tr.ServiceDay(at)
				if d.Before(prev) {
					t.Fatalf("start %s: ServiceDay went back at %s: %s after %s", start, at, d, prev)
				}
				if at.Before(tr.DayStart(d)) || !at.Before(tr.DayEnd(d)) {
					t.Fatalf("start %s: %s not in its service day %s [%s, %s)", start, at, d, tr.DayStart(d), tr.DayEnd(d))
				}
				prev = d
				at = at.Add(time.Minute)
			}
		}
	}
}

func TestPeriodsAcrossDST(t *testing.T) {
	tr := SampleTariff()
	cases := []struct {
		kind       PeriodKind
		at         string
		label      string
		start, end string
		length     time.Duration
	}{
		{PeriodDay, "2026-03-29T03:10:00+02:00", "2026-03-28", "2026-03-28T04:30:00+01:00", "2026-03-29T04:30:00+02:00", 23 * time.Hour},
		{PeriodDay, "2026-10-25T02:10:00+01:00", "2026-10-24", "2026-10-24T04:30:00+02:00", "2026-10-25T04:30:00+01:00", 25 * time.Hour},
		{PeriodWeek, "2026-03-29T12:00:00+02:00", "2026-W13", "2026-03-23T04:30:00+01:00", "2026-03-30T04:30:00+02:00", 167 * time.Hour},
		{PeriodWeek, "2026-10-25T12:00:00+01:00", "2026-W43", "2026-10-19T04:30:00+02:00", "2026-10-26T04:30:00+01:00", 169 * time.Hour},
		// Monday 04:29 still belongs to Sunday's service day, so to the week before.
		{PeriodWeek, "2026-03-30T04:29:00+02:00", "2026-W13", "2026-03-23T04:30:00+01:00", "2026-03-30T04:30:00+02:00", 167 * time.Hour},
		{PeriodWeek, "2026-03-30T04:30:00+02:00", "2026-W14", "2026-03-30T04:30:00+02:00", "2026-04-06T04:30:00+02:00", 168 * time.Hour},
		{PeriodMonth, "2026-03-15T12:00:00+01:00", "2026-03", "2026-03-01T04:30:00+01:00", "2026-04-01T04:30:00+02:00", 31*24*time.Hour - time.Hour},
		{PeriodMonth, "2026-10-31T23:00:00+01:00", "2026-10", "2026-10-01T04:30:00+02:00", "2026-11-01T04:30:00+01:00", 31*24*time.Hour + time.Hour},
		// 1 November 02:00 is still the service day of 31 October.
		{PeriodMonth, "2026-11-01T02:00:00+01:00", "2026-10", "2026-10-01T04:30:00+02:00", "2026-11-01T04:30:00+01:00", 31*24*time.Hour + time.Hour},
		{PeriodMonth, "2026-12-31T23:00:00+01:00", "2026-12", "2026-12-01T04:30:00+01:00", "2027-01-01T04:30:00+01:00", 31 * 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind)+" "+tc.at, func(t *testing.T) {
			p, err := tr.PeriodOf(tc.kind, mustTime(t, tc.at))
			require.NoError(t, err)
			assert.Equal(t, tc.kind, p.Kind)
			assert.Equal(t, tc.label, p.Label)
			assert.True(t, mustTime(t, tc.start).Equal(p.Start), "start %s", p.Start)
			assert.True(t, mustTime(t, tc.end).Equal(p.End), "end %s", p.End)
			assert.Equal(t, tc.length, p.End.Sub(p.Start))
			// The label parses back to the same period.
			q, err := tr.ParsePeriod(p.Label)
			require.NoError(t, err)
			assert.Equal(t, p.Label, q.Label)
			assert.True(t, p.Start.Equal(q.Start) && p.End.Equal(q.End))
			assert.Equal(t, p.Kind, q.Kind)
		})
	}
	_, err := tr.PeriodOf("quarter", time.Now())
	assert.Error(t, err)

	// An out-of-range date is normalized, label and bounds alike.
	p, err := tr.PeriodOfDay(PeriodDay, Date{2026, 2, 30})
	require.NoError(t, err)
	assert.Equal(t, "2026-03-02", p.Label)
	assertInstant(t, "2026-03-02T04:30:00+01:00", p.Start)
}

// TestISOWeekLabels: ISO weeks across year ends (a week belongs to the year of
// its Thursday).
func TestISOWeekLabels(t *testing.T) {
	tr := SampleTariff()
	cases := []struct {
		day    Date
		label  string
		monday Date
	}{
		{date(2026, 12, 31), "2026-W53", date(2026, 12, 28)},
		{date(2027, 1, 1), "2026-W53", date(2026, 12, 28)},
		{date(2027, 1, 3), "2026-W53", date(2026, 12, 28)},
		{date(2027, 1, 4), "2027-W01", date(2027, 1, 4)},
		{date(2024, 12, 30), "2025-W01", date(2024, 12, 30)},
		{date(2025, 1, 1), "2025-W01", date(2024, 12, 30)},
		{date(2025, 12, 28), "2025-W52", date(2025, 12, 22)},
		{date(2025, 12, 29), "2026-W01", date(2025, 12, 29)},
		{date(2021, 1, 3), "2020-W53", date(2020, 12, 28)},
		{date(2026, 11, 27), "2026-W48", date(2026, 11, 23)},
	}
	for _, tc := range cases {
		t.Run(tc.day.String(), func(t *testing.T) {
			p, err := tr.PeriodOfDay(PeriodWeek, tc.day)
			require.NoError(t, err)
			assert.Equal(t, tc.label, p.Label)
			assert.Equal(t, tr.DayStart(tc.monday), p.Start)
			assert.Equal(t, tr.DayStart(tc.monday.AddDays(7)), p.End)
			q, err := tr.ParsePeriod(tc.label)
			require.NoError(t, err)
			assert.Equal(t, p, q)
		})
	}
	// 04:29 on the Monday that starts 2027-W01 is still in 2026-W53.
	p, err := tr.PeriodOf(PeriodWeek, mustTime(t, "2027-01-04T04:29:59+01:00"))
	require.NoError(t, err)
	assert.Equal(t, "2026-W53", p.Label)
}

func TestParsePeriod(t *testing.T) {
	tr := SampleTariff()
	good := map[string]PeriodKind{
		"2026-11-27": PeriodDay, "2026-W48": PeriodWeek, "2026-W53": PeriodWeek, "2026-11": PeriodMonth,
		"2020-W53": PeriodWeek, "2024-02-29": PeriodDay,
	}
	for label, kind := range good {
		p, err := tr.ParsePeriod(label)
		require.NoError(t, err, label)
		assert.Equal(t, kind, p.Kind, label)
		assert.Equal(t, label, p.Label, label)
	}
	for _, bad := range []string{
		"", "2026", "2026-W00", "2026-W54", "2025-W53", "2026-W+1", "2026-W1", "+202-W01", "2026-13", "2026-00",
		"2026-11-31", "2025-02-29", "2026-1-27", "2026/11/27", "2026-11-27T00:00", "20261127", "2026-w48", "2026-+1",
	} {
		_, err := tr.ParsePeriod(bad)
		assert.Error(t, err, "%q", bad)
	}
	day, err := tr.ParsePeriod("2026-11-27")
	require.NoError(t, err)
	assertInstant(t, "2026-11-27T04:30:00+01:00", day.Start)
	assertInstant(t, "2026-11-28T04:30:00+01:00", day.End)
}

// version2 is the sample as a later version: a new price and a new MuCEM rate.
func version2(t *testing.T) *Tariff {
	t.Helper()
	src := string(Sample())
	src = replaceOnce(t, src, `id = "marseille-2026"`, `id = "marseille-2026-07"`)
	src = replaceOnce(t, src, `effective_from = "2026-01-01"`, `effective_from = "2026-07-01"`)
	src = replaceOnce(t, src, `price = "32.00"`, `price = "34.00"`)
	src = replaceOnce(t, src, `rates = { adult = "8.00", child = "4.00" }`, `rates = { adult = "8.50", child = "4.00" }`)
	tr, err := Load("v2.toml", []byte(src))
	require.NoError(t, err)
	return tr
}

func TestCatalog(t *testing.T) {
	v1, v2 := SampleTariff(), version2(t)
	// Load order does not matter for At; versions sort by effective date.
	c, err := NewCatalog(v2, v1)
	require.NoError(t, err)
	require.Len(t, c.Versions(), 2)
	assert.Same(t, v1, c.Versions()[0])
	assert.Same(t, v2, c.Versions()[1])
	got, ok := c.Version("marseille-2026-07")
	require.True(t, ok)
	assert.Same(t, v2, got)
	_, ok = c.Version("nope")
	assert.False(t, ok)

	at := func(s string) *Tariff {
		tr, ok := c.At(mustTime(t, s))
		require.True(t, ok)
		return tr
	}
	assert.Same(t, v1, at("2025-06-01T00:00:00Z"), "before every version: the oldest")
	assert.Same(t, v1, at("2026-06-30T23:59:59+02:00"))
	assert.Same(t, v2, at("2026-07-01T00:00:00+02:00"))
	assert.Same(t, v2, at("2027-01-01T00:00:00+01:00"))

	// A pass keeps the product as sold.
	tr, p, err := c.ProductAsSold("marseille-2026", "cp24-adult")
	require.NoError(t, err)
	assert.Same(t, v1, tr)
	assert.Equal(t, "32.00", p.Price.StringFixed(2))
	_, p, err = c.ProductAsSold("marseille-2026-07", "cp24-adult")
	require.NoError(t, err)
	assert.Equal(t, "34.00", p.Price.StringFixed(2))
	_, _, err = c.ProductAsSold("marseille-2025", "cp24-adult")
	assert.Error(t, err)
	_, _, err = c.ProductAsSold("marseille-2026", "cp96-adult")
	assert.Error(t, err)

	// Contracts apply by tap date.
	ct, ok := c.ContractAt("mucem", mustTime(t, "2026-06-30T12:00:00+02:00"))
	require.True(t, ok)
	assert.Equal(t, "8.00", ct.Rates["adult"].StringFixed(2))
	ct, ok = c.ContractAt("mucem", mustTime(t, "2026-07-01T12:00:00+02:00"))
	require.True(t, ok)
	assert.Equal(t, "8.50", ct.Rates["adult"].StringFixed(2))
	_, ok = c.ContractAt("louvre", mustTime(t, "2026-07-01T12:00:00+02:00"))
	assert.False(t, ok)

	// Ids are unique; nil is refused; Add returns a new catalog.
	_, err = NewCatalog(v1, SampleTariff())
	assert.Error(t, err)
	_, err = NewCatalog(v1, nil)
	assert.Error(t, err)
	c1, err := NewCatalog(v1)
	require.NoError(t, err)
	c2, err := c1.Add(v2)
	require.NoError(t, err)
	assert.Len(t, c1.Versions(), 1)
	assert.Len(t, c2.Versions(), 2)
	_, err = c2.Add(v1)
	assert.Error(t, err)
	var nilCat *Catalog
	c3, err := nilCat.Add(v1)
	require.NoError(t, err)
	assert.Len(t, c3.Versions(), 1)

	empty, err := NewCatalog()
	require.NoError(t, err)
	_, ok = empty.At(time.Now())
	assert.False(t, ok)
	_, ok = empty.ContractAt("mucem", time.Now())
	assert.False(t, ok)
}

// TestSameDayVersions: two versions effective the same day; the one loaded
// later wins.
func TestSameDayVersions(t *testing.T) {
	v1 := SampleTariff()
	src := replaceOnce(t, string(Sample()), `id = "marseille-2026"`, `id = "marseille-2026-fix"`)
	fix, err := Load("fix.toml", []byte(src))
	require.NoError(t, err)
	c, err := NewCatalog(v1, fix)
	require.NoError(t, err)
	got, ok := c.At(mustTime(t, "2026-03-01T12:00:00+01:00"))
	require.True(t, ok)
	assert.Same(t, fix, got)
}

// TestCatalogLookups: the lookups that span versions (engine and reconcile
// use only these, never the slices).
func TestCatalogLookups(t *testing.T) {
	v1 := SampleTariff()
	src := string(Sample())
	src = replaceOnce(t, src, `id = "marseille-2026"`, `id = "marseille-2026-07"`)
	src = replaceOnce(t, src, `effective_from = "2026-01-01"`, `effective_from = "2026-07-15"`)
	src = replaceOnce(t, src, `name = "MuCEM, Fort Saint-Jean and J4"`, `name = "MuCEM (2026-07)"`)
	src = replaceOnce(t, src, `name = "Frioul If Express"`, `name = "Frioul If Express SAS"`)
	src = strings.ReplaceAll(src, `"chateau-if"`, `"chateau-d-if"`) // the venue is renamed
	src = replaceOnce(t, src, "[[contract]]\npartner = \"mucem\"", "[[contract]]\npartner = \"mucem-new\"")
	src = replaceOnce(t, src, "[[partner]]\nid = \"mucem\"", "[[partner]]\nid = \"mucem-new\"\nname = \"MuCEM new\"\niban = \"FR76 1007 1130 0000 0010 0345 655\"\nbic = \"TRPUFRP1\"\n\n[[partner]]\nid = \"mucem\"")
	v2, err := Load("v2.toml", []byte(src))
	require.NoError(t, err)
	c, err := NewCatalog(v1, v2)
	require.NoError(t, err)
	june, july := mustTime(t, "2026-06-20T12:00:00+02:00"), mustTime(t, "2026-07-20T12:00:00+02:00")

	v, tv, ok := c.FindVenue("mucem", june, nil)
	require.True(t, ok)
	assert.Equal(t, "MuCEM, Fort Saint-Jean and J4", v.Name)
	assert.Same(t, v1, tv)
	v, tv, ok = c.FindVenue("mucem", july, nil)
	require.True(t, ok)
	assert.Equal(t, "MuCEM (2026-07)", v.Name, "the version in force")
	assert.Same(t, v2, tv)
	v, tv, ok = c.FindVenue("mucem", july, v1)
	require.True(t, ok)
	assert.Equal(t, "MuCEM, Fort Saint-Jean and J4", v.Name, "the preferred version (a pass's own) first")
	assert.Same(t, v1, tv)
	_, tv, ok = c.FindVenue("chateau-if", july, nil)
	require.True(t, ok, "a venue the version in force dropped: the newest version that has it")
	assert.Same(t, v1, tv)
	_, tv, ok = c.FindVenue("chateau-d-if", june, v1)
	require.True(t, ok, "a venue of a later version")
	assert.Same(t, v2, tv)
	_, _, ok = c.FindVenue("louvre", july, v1)
	assert.False(t, ok)

	p, ok := c.LatestPartner("frioul-if-express")
	require.True(t, ok)
	assert.Equal(t, "Frioul If Express SAS", p.Name, "the newest version's bank data")
	p, ok = c.LatestPartner("mucem-new")
	require.True(t, ok)
	assert.Equal(t, "MuCEM new", p.Name)
	_, ok = c.LatestPartner("louvre")
	assert.False(t, ok)

	// July: v1 is in force on the 1st, v2 from the 15th.
	month, tv, err := c.ParsePeriod("2026-07")
	require.NoError(t, err)
	assert.Same(t, v1, tv)
	assertInstant(t, "2026-07-01T04:30:00+02:00", month.Start)
	k, tv, ok := c.GoverningContract("mucem", month)
	require.True(t, ok, "in force at the start")
	assert.Same(t, v1, tv)
	assert.Equal(t, "mucem", k.Partner)
	k, tv, ok = c.GoverningContract("mucem-new", month)
	require.True(t, ok, "none at the start: the first that came into force during the period")
	assert.Same(t, v2, tv)
	assert.Equal(t, "mucem-new", k.Partner)
	june30, _, err := c.ParsePeriod("2026-06")
	require.NoError(t, err)
	_, _, ok = c.GoverningContract("mucem-new", june30)
	assert.False(t, ok)
	_, _, err = c.ParsePeriod("2026-13")
	assert.Error(t, err)
	empty, err := NewCatalog()
	require.NoError(t, err)
	_, _, err = empty.ParsePeriod("2026-07")
	assert.Error(t, err)
}
