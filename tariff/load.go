package tariff

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // tariff zones resolve the same on every machine, with or without a system zoneinfo

	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/shopspring/decimal"
)

// MaxFileSize bounds a tariff file. The Marseille sample is about 10 KiB.
const MaxFileSize = 1 << 20

// LoadFile reads and loads a tariff file; errors in the file are reported
// against path. An I/O failure is returned as a plain wrapped error, problems
// in the content as an ErrorList.
func LoadFile(path string) (*Tariff, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tariff: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("tariff: reading %s: %w", path, err)
	}
	return Load(path, data)
}

// Load parses and validates a tariff file of schema 1 (docs/semantics.md,
// "Tariff file"). name is the file name used in error messages. On any problem
// it returns nil and an ErrorList holding every problem found, each with the
// line of the offending key; a TOML syntax error stops the reading and is
// reported alone. The returned Tariff keeps a copy of data (see Source).
func Load(name string, data []byte) (*Tariff, error) {
	errs := &errorSink{file: name}
	if len(data) > MaxFileSize {
		errs.add(1, "file is larger than %d bytes", MaxFileSize)
		return nil, errs.result()
	}
	src := bytes.Clone(data)
	// A UTF-8 byte order mark (some Windows editors write one) is not TOML;
	// skip it rather than report line 1 of a file that looks fine.
	root, ok := parseTree(bytes.TrimPrefix(src, []byte("\uFEFF")), errs)
	if !ok {
		return nil, errs.result()
	}
	t := decodeTariff(root, errs)
	if err := errs.result(); err != nil {
		return nil, err
	}
	t.source = src
	return t, nil
}

// Source returns the file the tariff was loaded from, byte for byte (what
// the ledger stores as the tariff version). The caller must not modify it.
func (t *Tariff) Source() []byte { return t.source }

// loader carries what the decoding of one file needs besides the tree.
type loader struct {
	errs *errorSink
	t    *Tariff

	partnerLine map[string]int // id → line of its table
	venueLine   map[string]int
	productLine map[string]int
	venueTable  map[string]int // id → line of its [[venue]] header
	venueAt     map[string]int // id → index in t.Venues
	contractAt  map[string]int // partner → line of its contract

	contractLines []contractLines // parallel to t.Contracts
	venueDropped  bool            // a [[venue]] was not usable: "matches no venue" would be noise
}

// contractLines remembers where a contract was written, for the checks made
// once everything is read.
type contractLines struct {
	table, rates int
	ratesBad     bool // rates missing or wrong: already reported, skip the coverage check
}

func decodeTariff(root *tnode, errs *errorSink) *Tariff {
	l := &loader{
		errs:        errs,
		t:           &Tariff{Location: time.UTC},
		partnerLine: map[string]int{},
		venueLine:   map[string]int{},
		productLine: map[string]int{},
		venueAt:     map[string]int{},
		venueTable:  map[string]int{},
		contractAt:  map[string]int{},
	}
	t := l.t
	f := newFields(errs, root, "")

	if v, line, ok := f.integer("schema", true); ok && v != 1 {
		f.errf(line, "schema = %d: this citypass reads schema 1 only", v)
	} else if ok {
		t.Schema = 1
	}
	t.ID, _, _ = f.ident("id", true)
	effective, _, effOK := l.date(f, "effective_from")
	if s, line, ok := f.str("currency", true); ok {
		if len(s) != 3 || strings.ToUpper(s) != s || !isLetters(s) {
			f.errf(line, "currency %q: want an ISO 4217 code, 3 capital letters (\"EUR\")", s)
		} else {
			t.Currency = s
		}
	}
	if s, line, ok := f.str("timezone", true); ok {
		loc, err := loadLocation(s)
		if err != nil {
			f.errf(line, "timezone: %v", err)
		} else {
			t.Location = loc
		}
	}
	if s, line, ok := f.str("service_day_starts", false); ok {
		d, err := parseClock(s)
		if err != nil {
			f.errf(line, "service_day_starts: %v", err)
		} else {
			t.ServiceDayStart = d
		}
	}
	t.GateLanguage = "en"
	if s, line, ok := f.str("gate_language", false); ok {
		if s != "en" && s != "fr" {
			f.errf(line, "gate_language %q: want en or fr", s)
		} else {
			t.GateLanguage = s
		}
	}
	if effOK {
		t.EffectiveFrom = time.Date(effective.Year, effective.Month, effective.Day, 0, 0, 0, 0, t.Location)
	}

	partners := f.tables("partner")
	venues := f.tables("venue")
	products := f.tables("product")
	contracts := f.tables("contract")
	f.finish()

	for i, pt := range partners {
		l.partner(i, pt)
	}
	for i, vt := range venues {
		l.venue(i, vt)
	}
	l.indexVenues()
	for i, pt := range products {
		l.product(i, pt)
	}
	if len(products) == 0 && root.fields["product"] == nil {
		errs.add(1, "no [[product]]: a tariff sells at least one product")
	}
	for i, ct := range contracts {
		l.contract(i, ct)
	}
	l.index()
	l.crossChecks()
	return t
}

// date reads a date written as a string ("2026-01-01") or a TOML local date.
func (l *loader) date(f *fields, key string) (Date, int, bool) {
	n := f.node(key)
	if n == nil {
		f.missing(key)
		return Date{}, 1, false
	}
	if n.kind != nodeScalar || (n.scalar != unstable.String && n.scalar != unstable.LocalDate) {
		f.wrongType(key, n, `a date "YYYY-MM-DD"`)
		return Date{}, n.line, false
	}
	d, err := ParseDate(n.data)
	if err != nil {
		f.errf(n.line, "%s: %v", key, err)
		return Date{}, n.line, false
	}
	return d, n.line, true
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// loadLocation resolves an IANA zone name. "Local" and "" are refused: a
// tariff must mean the same on every machine.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone (e.g. \"Europe/Paris\")", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// parseClock reads "HH:MM" (00:00 to 23:59) as an offset from midnight.
func parseClock(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q: want HH:MM between 00:00 and 23:59", s)
	if len(s) != 5 || s[2] != ':' || !allDigits(s[:2]) || !allDigits(s[3:]) {
		return 0, bad
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	if h > 23 || m > 59 {
		return 0, bad
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// describe names the i-th table of a kind in messages: `venue "mucem"` when
// it has a usable id, else `venue #3`.
func describe(kind string, i int, t *tnode) string {
	if n := t.fields["id"]; n != nil && n.kind == nodeScalar && n.scalar == unstable.String && CheckIdent(n.data) == nil {
		return fmt.Sprintf("%s %q", kind, n.data)
	}
	return fmt.Sprintf("%s #%d", kind, i+1)
}

// unique records an id and reports a duplicate.
func unique(f *fields, seen map[string]int, kind, id string, line int) bool {
	if first, dup := seen[id]; dup {
		f.errf(line, "duplicate %s id %q (first on line %d)", kind, id, first)
		return false
	}
	seen[id] = line
	return true
}

func (l *loader) partner(i int, tt *tnode) {
	f := newFields(l.errs, tt, describe("partner", i, tt))
	var p Partner
	ok := true
	id, idLine, idOK := f.ident("id", true)
	if idOK {
		ok = unique(f, l.partnerLine, "partner", id, idLine) && ok
	}
	p.ID = id
	p.Name, _, _ = f.text("name", true, MaxNameLen)
	if s, line, has := f.str("iban", true); has {
		iban, err := NormalizeIBAN(s)
		if err != nil {
			f.errf(line, "iban: %v", err)
		}
		p.IBAN = iban
	}
	if s, line, has := f.str("bic", true); has {
		bic, err := NormalizeBIC(s)
		if err != nil {
			f.errf(line, "bic: %v", err)
		}
		p.BIC = bic
	}
	f.finish()
	if idOK && ok {
		l.t.Partners = append(l.t.Partners, p)
	}
}

var venueKinds = []string{string(KindMuseum), string(KindAttraction), string(KindTour), string(KindTransit)}

func (l *loader) venue(i int, tt *tnode) {
	f := newFields(l.errs, tt, describe("venue", i, tt))
	var v Venue
	id, idLine, idOK := f.ident("id", true)
	ok := idOK && unique(f, l.venueLine, "venue", id, idLine)
	v.ID = id
	if pid, line, has := f.ident("partner", true); has {
		if _, known := l.partnerLine[pid]; !known {
			f.errf(line, "partner: unknown partner %q", pid)
		}
		v.Partner = pid
	}
	kind, _, _ := f.enum("kind", true, "", venueKinds...)
	v.Kind = VenueKind(kind)
	v.Name, _, _ = f.text("name", false, MaxNameLen)
	v.Zone, _, _ = f.text("zone", false, MaxIdentLen)
	if d, _, has := f.money("gate_price", false); has {
		v.GatePrice = d
	}
	f.finish()
	if ok {
		l.t.Venues = append(l.t.Venues, v)
		l.venueTable[id] = tt.line
	} else {
		l.venueDropped = true
	}
}

// indexVenues makes the venues findable while products and contracts are
// read.
func (l *loader) indexVenues() {
	for i, v := range l.t.Venues {
		l.venueAt[v.ID] = i
	}
}

var (
	clocks      = []string{string(ClockElapsed), string(ClockCalendarDays), string(ClockFixed)}
	activations = []string{string(ActivationFirstUse), string(ActivationFirstVenue), string(ActivationAtSale), string(ActivationFixedStart)}
	refunds     = []string{string(RefundUnused), string(RefundNone)}
	scopes      = []string{string(ScopeGate), string(ScopeVenue), string(ScopeSystem)}
	modes       = []string{string(ModeHard), string(ModeSoft)}
	models      = []string{string(ModelPerVisit), string(ModelPercentOfGate), string(ModelPerPassDay), string(ModelFlat)}
	periods     = []string{string(PeriodDay), string(PeriodWeek), string(PeriodMonth)}
)

func (l *loader) product(i int, tt *tnode) {
	what := describe("product", i, tt)
	f := newFields(l.errs, tt, what)
	var p Product
	id, idLine, idOK := f.ident("id", true)
	ok := idOK && unique(f, l.productLine, "product", id, idLine)
	p.ID = id
	p.Name, _, _ = f.text("name", true, MaxNameLen)
	p.Category, _, _ = f.ident("category", true)
	p.Price, _, _ = f.money("price", true)
	p.VATRate, _, _ = f.percent("vat_rate", true)
	clock, clockLine, clockOK := f.enum("clock", true, "", clocks...)
	p.Clock = Clock(clock)
	if s, line, has := f.str("duration", true); has && clockOK {
		if p.Clock == ClockCalendarDays {
			n, err := ParseDays(s)
			if err != nil {
				f.errf(line, "duration: %v", err)
			}
			p.Days = n
		} else {
			d, err := ParseDuration(s)
			switch {
			case err != nil:
				f.errf(line, "duration: %v", err)
			case d <= 0:
				f.errf(line, "duration: %q must be positive", s)
			case d > MaxDuration:
				f.errf(line, "duration: duration %q is longer than %d days", s, MaxDuration/(24*time.Hour))
			}
			p.Duration = d
		}
	}
	act, actLine, actOK := f.enum("activation", true, "", activations...)
	p.Activation = Activation(act)
	needDeadline := p.Activation == ActivationFirstUse || p.Activation == ActivationFirstVenue
	p.ActivateWithin, _, _ = f.duration("activate_within", actOK && needDeadline)
	refund, _, _ := f.enum("refund", true, "", refunds...)
	p.Refund = RefundPolicy(refund)
	if clockOK && actOK {
		switch {
		case p.Clock == ClockFixed && p.Activation != ActivationFixedStart:
			f.errf(actLine, "activation: a clock \"fixed\" product starts at its fixed start: want activation \"fixed_start\", not %q", act)
		case p.Clock != ClockFixed && p.Activation == ActivationFixedStart:
			f.errf(clockLine, "clock: activation \"fixed_start\" needs clock \"fixed\", not %q", clock)
		}
	}
	includes := f.tables("include")
	if len(includes) == 0 && tt.fields["include"] == nil {
		f.errf(tt.line, "no [[product.include]]: the product would open no gate")
	}
	p.Offline = Offline{MaxStaleness: DefaultMaxStaleness, WhenStale: StaleAccept}
	if ot := f.table("offline", false); ot != nil {
		p.Offline = l.offline(what+" offline", ot)
	}
	f.finish()
	for j, it := range includes {
		p.Includes = append(p.Includes, l.include(fmt.Sprintf("%s include #%d", what, j+1), it))
	}
	if ok {
		l.t.Products = append(l.t.Products, p)
	}
}

var stalePolicies = []string{string(StaleAccept), string(StaleDeny)}

// offline reads a product's [product.offline] table (docs/semantics.md,
// "Offline policy"); what is absent takes its default.
func (l *loader) offline(what string, tt *tnode) Offline {
	f := newFields(l.errs, tt, what)
	o := Offline{MaxStaleness: DefaultMaxStaleness, WhenStale: StaleAccept}
	if s, line, ok := f.str("max_staleness", false); ok {
		d, err := ParseDuration(s)
		switch {
		case err != nil:
			f.errf(line, "max_staleness: %v", err)
		case d <= 0:
			f.errf(line, "max_staleness: duration %q must be positive", s)
		case d < MaxStalenessAtLeast:
			f.errf(line, "max_staleness: duration %q is shorter than %s: a connected node's state is up to 10 s old between heartbeats", s, FormatDuration(MaxStalenessAtLeast))
		case d > MaxStalenessAtMost:
			f.errf(line, "max_staleness: duration %q is longer than %d days", s, MaxStalenessAtMost/(24*time.Hour))
		default:
			o.MaxStaleness = d
		}
	}
	when, _, _ := f.enum("when_stale", false, string(StaleAccept), stalePolicies...)
	if when != "" {
		o.WhenStale = StalePolicy(when)
	}
	f.finish()
	return o
}

// maxLimitN bounds a "<n>" limit.
const maxLimitN = 10000

func (l *loader) include(what string, tt *tnode) Include {
	f := newFields(l.errs, tt, what)
	var in Include
	good := true
	venues, _, vOK := f.strList("venues")
	for _, e := range venues {
		if _, known := l.venueAt[e.s]; !known {
			f.errf(e.line, "venues: unknown venue %q", e.s)
			good = false
			continue
		}
		in.Venues = append(in.Venues, e.s)
	}
	kinds, _, kOK := f.strList("kinds")
	for _, e := range kinds {
		if !contains(venueKinds, e.s) {
			f.errf(e.line, "kinds: %q is not one of %s", e.s, strings.Join(venueKinds, " | "))
			good = false
			continue
		}
		in.Kinds = append(in.Kinds, VenueKind(e.s))
	}
	zones, _, zOK := f.strList("zones")
	for _, e := range zones {
		in.Zones = append(in.Zones, e.s)
	}
	good = good && vOK && kOK && zOK
	if vOK && kOK && len(venues) == 0 && len(kinds) == 0 {
		f.errf(tt.line, "give venues (by id) or kinds, or both")
		good = false
	}
	in.Limit = Limit{Kind: LimitUnlimited}
	if n := f.node("limit"); n != nil {
		lim, err := parseLimit(n)
		if err != nil {
			f.errf(n.line, "limit: %v", err)
			good = false
		}
		in.Limit = lim
	}
	in.Passback, _, _ = f.duration("passback", false)
	scope, _, _ := f.enum("passback_scope", false, string(ScopeVenue), scopes...)
	in.PassbackScope = PassbackScope(scope)
	mode, _, _ := f.enum("passback_mode", false, string(ModeHard), modes...)
	in.PassbackMode = PassbackMode(mode)
	f.finish()
	if good && !l.venueDropped {
		matched := false
		for i := range l.t.Venues {
			if in.Covers(&l.t.Venues[i]) {
				matched = true
				break
			}
		}
		if !matched {
			f.errf(tt.line, "matches no venue (venues %v, kinds %v, zones %v)", in.Venues, in.Kinds, in.Zones)
		}
	}
	return in
}

// parseLimit reads once | once_per_day | unlimited | "<n>" (or n as integer).
func parseLimit(n *tnode) (Limit, error) {
	if n.kind != nodeScalar || (n.scalar != unstable.String && n.scalar != unstable.Integer) {
		return Limit{Kind: LimitUnlimited}, fmt.Errorf(`want a string (once | once_per_day | unlimited | "<n>"), got %s`, n.typeName())
	}
	switch n.data {
	case string(LimitOnce):
		return Limit{Kind: LimitOnce, N: 1}, nil
	case string(LimitOncePerDay):
		return Limit{Kind: LimitOncePerDay, N: 1}, nil
	case string(LimitUnlimited):
		return Limit{Kind: LimitUnlimited}, nil
	}
	s := n.data
	if n.scalar == unstable.Integer {
		s = strings.ReplaceAll(s, "_", "")
	}
	if allDigits(s) && len(s) <= 5 {
		v, _ := strconv.Atoi(s)
		if v >= 1 && v <= maxLimitN {
			return Limit{Kind: LimitN, N: v}, nil
		}
	}
	return Limit{Kind: LimitUnlimited}, fmt.Errorf(`%q is not one of once | once_per_day | unlimited | "<n>" (1 to %d entries per validity)`, n.data, maxLimitN)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (l *loader) contract(i int, tt *tnode) {
	what := fmt.Sprintf("contract #%d", i+1)
	if n := tt.fields["partner"]; n != nil && n.kind == nodeScalar && n.scalar == unstable.String && CheckIdent(n.data) == nil {
		what = fmt.Sprintf("contract %q", n.data)
	}
	f := newFields(l.errs, tt, what)
	var c Contract
	ok := true
	if pid, line, has := f.ident("partner", true); has {
		if _, known := l.partnerLine[pid]; !known {
			f.errf(line, "partner: unknown partner %q", pid)
			ok = false
		} else if first, dup := l.contractAt[pid]; dup {
			f.errf(line, "partner %q already has a contract in this version (line %d)", pid, first)
			ok = false
		} else {
			l.contractAt[pid] = line
		}
		c.Partner = pid
	} else {
		ok = false
	}
	model, _, modelOK := f.enum("model", true, "", models...)
	c.Model = ContractModel(model)
	period, _, _ := f.enum("period", true, "", periods...)
	c.Period = PeriodKind(period)

	ratesRequired := modelOK && (c.Model == ModelPerVisit || c.Model == ModelPerPassDay)
	ratesBad := tt.fields["rates"] == nil
	if rt := f.table("rates", ratesRequired); rt == nil {
		ratesBad = true
	} else {
		if modelOK && !ratesRequired {
			f.errf(rt.line, "rates: not used by model %q", model)
		}
		rf := newFields(l.errs, rt, what+" rates")
		c.Rates = map[string]decimal.Decimal{}
		for _, cat := range rt.keys {
			n := rf.node(cat)
			if err := CheckIdent(cat); err != nil {
				rf.errf(n.line, "category: %v", err)
				ratesBad = true
				continue
			}
			if d, good := rf.moneyNode(cat, n); good {
				c.Rates[cat] = d
			} else {
				ratesBad = true
			}
		}
		if len(rt.keys) == 0 && ratesRequired {
			f.errf(rt.line, "rates: give an amount per product category (adult = \"8.00\")")
			ratesBad = true
		}
	}
	percentRequired := modelOK && c.Model == ModelPercentOfGate
	if d, line, has := f.percent("percent", percentRequired); has {
		if modelOK && !percentRequired {
			f.errf(line, "percent: not used by model %q", model)
		}
		c.Percent = d
	}
	amountRequired := modelOK && c.Model == ModelFlat
	if d, line, has := f.money("amount", amountRequired); has {
		if modelOK && !amountRequired {
			f.errf(line, "amount: not used by model %q", model)
		}
		c.Amount = d
	}
	if d, line, has := f.money("cap", false); has {
		if modelOK && c.Model == ModelFlat {
			f.errf(line, "cap: a flat contract pays its amount; a cap does not apply")
		}
		c.Cap, c.HasCap = d, true
	}
	f.finish()
	if ok {
		l.t.Contracts = append(l.t.Contracts, c)
		cl := contractLines{table: tt.line, rates: tt.line, ratesBad: ratesBad}
		if n := tt.fields["rates"]; n != nil {
			cl.rates = n.line
		}
		l.contractLines = append(l.contractLines, cl)
	}
}

// index fills the lookup maps of the finished tariff. The slices are final
// here: the maps point into them.
func (l *loader) index() {
	t := l.t
	t.partnerByID = make(map[string]*Partner, len(t.Partners))
	for i := range t.Partners {
		t.partnerByID[t.Partners[i].ID] = &t.Partners[i]
	}
	t.venueByID = make(map[string]*Venue, len(t.Venues))
	for i := range t.Venues {
		t.venueByID[t.Venues[i].ID] = &t.Venues[i]
	}
	t.productByID = make(map[string]*Product, len(t.Products))
	for i := range t.Products {
		t.productByID[t.Products[i].ID] = &t.Products[i]
	}
}

// crossChecks relate contracts to venues and products.
func (l *loader) crossChecks() {
	t := l.t
	for ci := range t.Contracts {
		c := &t.Contracts[ci]
		lines := l.contractLines[ci]
		switch c.Model {
		case ModelPercentOfGate:
			// Every venue of the partner is paid a percent of its gate price.
			for _, v := range t.Venues {
				if v.Partner == c.Partner && v.GatePrice.IsZero() {
					l.errs.add(l.venueTable[v.ID], "venue %q: gate_price is required: its partner %q is paid percent_of_gate", v.ID, c.Partner)
				}
			}
		case ModelPerVisit, ModelPerPassDay:
			if lines.ratesBad {
				continue
			}
			// Every category that can enter one of the partner's venues has a rate.
			missing := map[string]string{} // category → a product that needs it
			var order []string
			for pi := range t.Products {
				p := &t.Products[pi]
				if _, has := c.Rates[p.Category]; has || p.Category == "" {
					continue
				}
				if _, seen := missing[p.Category]; seen {
					continue
				}
				for vi := range t.Venues {
					v := &t.Venues[vi]
					if v.Partner != c.Partner {
						continue
					}
					if _, covered := p.IncludeFor(v); covered {
						missing[p.Category] = fmt.Sprintf("product %q enters venue %q", p.ID, v.ID)
						order = append(order, p.Category)
						break
					}
				}
			}
			for _, cat := range order {
				l.errs.add(lines.rates, "contract %q: rates: no rate for category %q (%s)", c.Partner, cat, missing[cat])
			}
		}
	}
}
