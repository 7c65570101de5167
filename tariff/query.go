package tariff

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Partner returns the partner with id.
func (t *Tariff) Partner(id string) (*Partner, bool) {
	if t.partnerByID == nil { // a Tariff built as a literal (tests): no index
		for i := range t.Partners {
			if t.Partners[i].ID == id {
				return &t.Partners[i], true
			}
		}
		return nil, false
	}
	p, ok := t.partnerByID[id]
	return p, ok
}

// Venue returns the venue with id.
func (t *Tariff) Venue(id string) (*Venue, bool) {
	if t.venueByID == nil {
		for i := range t.Venues {
			if t.Venues[i].ID == id {
				return &t.Venues[i], true
			}
		}
		return nil, false
	}
	v, ok := t.venueByID[id]
	return v, ok
}

// Product returns the product with id in this version.
func (t *Tariff) Product(id string) (*Product, bool) {
	if t.productByID == nil {
		for i := range t.Products {
			if t.Products[i].ID == id {
				return &t.Products[i], true
			}
		}
		return nil, false
	}
	p, ok := t.productByID[id]
	return p, ok
}

// ErrUnknownGate is returned for a gate id whose venue is not in the tariff.
type ErrUnknownGate struct{ Gate string }

// Error names the gate.
func (e *ErrUnknownGate) Error() string {
	return fmt.Sprintf("tariff: gate %q: venue not in the tariff", e.Gate)
}

// SplitGate splits a gate id "VENUE/GATE" into its venue and gate parts.
func SplitGate(gate string) (venue, name string, err error) {
	v, g, ok := strings.Cut(gate, "/")
	if !ok || CheckIdent(v) != nil || CheckIdent(g) != nil {
		return "", "", textErr("gate %q: want VENUE/GATE, two ids of letters, digits, '-', '_' or '.'", ShortText(gate))
	}
	return v, g, nil
}

// VenueOfGate returns the venue of a gate id "VENUE/GATE".
func (t *Tariff) VenueOfGate(gate string) (*Venue, error) {
	vid, _, err := SplitGate(gate)
	if err != nil {
		return nil, err
	}
	v, ok := t.Venue(vid)
	if !ok {
		return nil, &ErrUnknownGate{Gate: gate}
	}
	return v, nil
}

// Covers reports whether the include grants entry to venue v: its id is in
// Venues or its kind in Kinds, and, when Zones is given, its zone is listed.
func (in *Include) Covers(v *Venue) bool {
	matched := false
	for _, id := range in.Venues {
		if id == v.ID {
			matched = true
			break
		}
	}
	if !matched {
		for _, k := range in.Kinds {
			if k == v.Kind {
				matched = true
				break
			}
		}
	}
	if !matched {
		return false
	}
	if len(in.Zones) == 0 {
		return true
	}
	for _, z := range in.Zones {
		if z == v.Zone {
			return true
		}
	}
	return false
}

// IncludeFor returns the first include of p that covers venue v
// (docs/semantics.md, "Includes, limits, anti-passback").
func (p *Product) IncludeFor(v *Venue) (*Include, bool) {
	for i := range p.Includes {
		if p.Includes[i].Covers(v) {
			return &p.Includes[i], true
		}
	}
	return nil, false
}

// ContractOf returns this version's contract with a partner.
func (t *Tariff) ContractOf(partner string) (*Contract, bool) {
	for i := range t.Contracts {
		if t.Contracts[i].Partner == partner {
			return &t.Contracts[i], true
		}
	}
	return nil, false
}

// --- service days and periods ---

// DateOf returns the calendar date of a local time.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// AddDays returns the date n days after d (n may be negative).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// String formats d as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// ServiceDay returns the service day an instant belongs to: the local date,
// minus one when the instant is before that date's DayStart. Comparing
// instants (not local clock readings) keeps the result monotonic even when
// the service day starts inside a repeated hour of a DST change.
func (t *Tariff) ServiceDay(at time.Time) Date {
	d := DateOf(at.In(t.Location))
	if at.Before(t.DayStart(d)) {
		d = d.AddDays(-1)
	}
	return d
}

// DayStart returns the instant service day d begins: d at ServiceDayStart, local.
func (t *Tariff) DayStart(d Date) time.Time {
	h := int(t.ServiceDayStart / time.Hour)
	m := int((t.ServiceDayStart % time.Hour) / time.Minute)
	return time.Date(d.Year, d.Month, d.Day, h, m, 0, 0, t.Location)
}

// DayEnd returns the instant service day d ends (exclusive): the start of d+1.
func (t *Tariff) DayEnd(d Date) time.Time { return t.DayStart(d.AddDays(1)) }

// PeriodOf returns the period of the given kind that contains instant at.
func (t *Tariff) PeriodOf(kind PeriodKind, at time.Time) (Period, error) {
	return t.PeriodOfDay(kind, t.ServiceDay(at))
}

// PeriodOfDay returns the period of the given kind that contains service day d.
func (t *Tariff) PeriodOfDay(kind PeriodKind, d Date) (Period, error) {
	d = d.AddDays(0) // normalize an out-of-range date (Feb 30 → Mar 2) so label and bounds agree
	switch kind {
	case PeriodDay:
		return Period{Kind: kind, Label: d.String(), Start: t.DayStart(d), End: t.DayEnd(d)}, nil
	case PeriodWeek:
		noon := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)
		wd := (int(noon.Weekday()) + 6) % 7 // Monday = 0
		monday := d.AddDays(-wd)
		y, w := noon.ISOWeek()
		return Period{Kind: kind, Label: fmt.Sprintf("%04d-W%02d", y, w),
			Start: t.DayStart(monday), End: t.DayStart(monday.AddDays(7))}, nil
	case PeriodMonth:
		first := Date{d.Year, d.Month, 1}
		next := DateOf(time.Date(d.Year, d.Month+1, 1, 12, 0, 0, 0, time.UTC))
		return Period{Kind: kind, Label: fmt.Sprintf("%04d-%02d", d.Year, int(d.Month)),
			Start: t.DayStart(first), End: t.DayStart(next)}, nil
	}
	return Period{}, fmt.Errorf("tariff: unknown period kind %q", kind)
}

// ParsePeriod reads a period label: "2026-11-27" (day), "2026-W48" (ISO week)
// or "2026-11" (month), in this tariff's zone and service days.
func (t *Tariff) ParsePeriod(label string) (Period, error) {
	bad := textErr("period %q: want YYYY-MM-DD, YYYY-Www or YYYY-MM", ShortText(label))
	switch {
	case len(label) == 10 && allDigits(label[:4]) && label[4] == '-' && allDigits(label[5:7]) && label[7] == '-' && allDigits(label[8:]):
		d, err := ParseDate(label)
		if errors.Is(err, ErrOutOfRange) {
			return Period{}, err
		}
		if err != nil {
			return Period{}, bad
		}
		return t.PeriodOfDay(PeriodDay, d)
	case len(label) == 8 && label[4:6] == "-W":
		if !allDigits(label[:4]) || !allDigits(label[6:]) {
			return Period{}, bad
		}
		y, _ := strconv.Atoi(label[:4])
		w, _ := strconv.Atoi(label[6:])
		if w < 1 || w > 53 {
			return Period{}, bad
		}
		// ISO week 1 contains January 4th.
		jan4 := time.Date(y, 1, 4, 12, 0, 0, 0, time.UTC)
		monday := jan4.AddDate(0, 0, -((int(jan4.Weekday())+6)%7)+(w-1)*7)
		if yy, ww := monday.ISOWeek(); yy != y || ww != w {
			return Period{}, bad
		}
		if err := CheckDate(DateOf(monday)); err != nil {
			return Period{}, err
		}
		return t.PeriodOfDay(PeriodWeek, DateOf(monday))
	case len(label) == 7 && allDigits(label[:4]) && label[4] == '-' && allDigits(label[5:]):
		m, err := time.Parse("2006-01", label)
		if err != nil {
			return Period{}, bad
		}
		if err := CheckDate(DateOf(m)); err != nil {
			return Period{}, err
		}
		return t.PeriodOfDay(PeriodMonth, DateOf(m))
	}
	return Period{}, bad
}

// --- catalog of versions ---

// NewCatalog builds a catalog from tariff versions. Version ids must be unique.
func NewCatalog(versions ...*Tariff) (*Catalog, error) {
	c := &Catalog{byID: make(map[string]*Tariff, len(versions))}
	for _, v := range versions {
		if v == nil {
			return nil, fmt.Errorf("tariff: nil version")
		}
		if _, dup := c.byID[v.ID]; dup {
			return nil, fmt.Errorf("tariff: version %q loaded twice", v.ID)
		}
		c.byID[v.ID] = v
		c.versions = append(c.versions, v)
		c.loadOrder = append(c.loadOrder, v)
	}
	sort.SliceStable(c.versions, func(i, j int) bool {
		return c.versions[i].EffectiveFrom.Before(c.versions[j].EffectiveFrom)
	})
	return c, nil
}

// Add returns a new catalog holding c's versions and t (as `tariff load`
// does: the new version is added, none is replaced). c is not changed.
func (c *Catalog) Add(t *Tariff) (*Catalog, error) {
	var vs []*Tariff
	if c != nil {
		vs = append(vs, c.loadOrder...)
	}
	return NewCatalog(append(vs, t)...)
}

// Versions returns the versions, oldest effective date first.
func (c *Catalog) Versions() []*Tariff { return c.versions }

// Version returns the version with id.
func (c *Catalog) Version(id string) (*Tariff, bool) {
	t, ok := c.byID[id]
	return t, ok
}

// At returns the version in force at instant at: the newest whose
// EffectiveFrom is not after at. When at precedes every version, the oldest.
func (c *Catalog) At(at time.Time) (*Tariff, bool) {
	if len(c.versions) == 0 {
		return nil, false
	}
	cur := c.versions[0]
	for _, v := range c.versions[1:] {
		if !at.Before(v.EffectiveFrom) {
			cur = v
		}
	}
	return cur, true
}

// ProductAsSold returns a product as sold under a given version.
func (c *Catalog) ProductAsSold(version, product string) (*Tariff, *Product, error) {
	t, ok := c.byID[version]
	if !ok {
		return nil, nil, fmt.Errorf("tariff: unknown version %q", version)
	}
	p, ok := t.Product(product)
	if !ok {
		return nil, nil, fmt.Errorf("tariff: version %q has no product %q", version, product)
	}
	return t, p, nil
}

// ContractAt returns the contract with a partner under the version in force at
// the given instant (contracts apply by tap date).
func (c *Catalog) ContractAt(partner string, at time.Time) (*Contract, bool) {
	t, ok := c.At(at)
	if !ok {
		return nil, false
	}
	return t.ContractOf(partner)
}

// FindVenue returns venue id and the version that defines it, looking in
// prefer first (when not nil), then in the version in force at at, then in
// every version, newest effective date first. A venue keeps answering for
// the taps and passes of versions that dropped or changed it.
func (c *Catalog) FindVenue(id string, at time.Time, prefer *Tariff) (*Venue, *Tariff, bool) {
	if prefer != nil {
		if v, ok := prefer.Venue(id); ok {
			return v, prefer, true
		}
	}
	if t, ok := c.At(at); ok {
		if v, ok := t.Venue(id); ok {
			return v, t, true
		}
	}
	for i := len(c.versions) - 1; i >= 0; i-- {
		if v, ok := c.versions[i].Venue(id); ok {
			return v, c.versions[i], true
		}
	}
	return nil, nil, false
}

// LatestPartner returns partner id as the newest version (by effective
// date) that names it describes it: a partner's name and bank account are
// whatever the latest tariff says.
func (c *Catalog) LatestPartner(id string) (*Partner, bool) {
	for i := len(c.versions) - 1; i >= 0; i-- {
		if p, ok := c.versions[i].Partner(id); ok {
			return p, true
		}
	}
	return nil, false
}

// GoverningContract returns the contract that governs a partner's period as
// a whole (its period kind, cap and flat amount), and its version: the one
// in force at the period's start or, when the partner had none then, the
// first that came into force during the period. Per-entry rates come from
// ContractAt at each tap's own time instead (contracts apply by tap date).
func (c *Catalog) GoverningContract(partner string, p Period) (*Contract, *Tariff, bool) {
	if t, ok := c.At(p.Start); ok {
		if k, ok := t.ContractOf(partner); ok {
			return k, t, true
		}
	}
	for _, t := range c.versions {
		if t.EffectiveFrom.After(p.Start) && t.EffectiveFrom.Before(p.End) {
			if k, ok := t.ContractOf(partner); ok {
				return k, t, true
			}
		}
	}
	return nil, nil, false
}

// ParsePeriod reads a period label ("2026-11-27", "2026-W48", "2026-11")
// in the zone and service days of the version in force when the period
// starts, and returns that version too.
func (c *Catalog) ParsePeriod(label string) (Period, *Tariff, error) {
	if len(c.versions) == 0 {
		return Period{}, nil, fmt.Errorf("tariff: no tariff version loaded")
	}
	p, err := c.versions[len(c.versions)-1].ParsePeriod(label)
	if err != nil {
		return Period{}, nil, err
	}
	t, _ := c.At(p.Start)
	p, err = t.ParsePeriod(label)
	return p, t, err
}

// TimeLayout is how citypass writes an instant for people (errors, the
// dashboard, stories): the local date and time and the offset from UTC,
// "2026-11-27 10:00:00 +01:00".
const TimeLayout = "2006-01-02 15:04:05 -07:00"

// FormatTime writes at for people in zone loc (the tariff's), as TimeLayout
// says; a nil loc keeps at's own zone.
func FormatTime(at time.Time, loc *time.Location) string {
	if loc != nil {
		at = at.In(loc)
	}
	return at.Format(TimeLayout)
}

// LocalTime writes at for people in the tariff's zone (FormatTime).
func (t *Tariff) LocalTime(at time.Time) string { return FormatTime(at, t.Location) }
