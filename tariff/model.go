package tariff

import (
	"time"

	"github.com/shopspring/decimal"
)

// This file is the typed model of a tariff version (docs/semantics.md, "Tariff
// file"). It is the contract between tariff, engine and reconcile: field names
// and meanings are stable.

// Catalog holds every tariff version loaded into a ledger, oldest first. A pass
// keeps the version it was sold under; contracts apply by tap date. A Catalog is
// immutable after construction and safe for concurrent use.
type Catalog struct {
	versions  []*Tariff // sorted by EffectiveFrom, then load order
	loadOrder []*Tariff
	byID      map[string]*Tariff
}

// Tariff is one loaded and validated tariff version. It is immutable after Load
// and safe for concurrent use.
type Tariff struct {
	Schema        int
	ID            string    // version id, unique across versions
	EffectiveFrom time.Time // local midnight of the effective_from date, in Location
	Currency      string    // ISO 4217, e.g. "EUR"
	Location      *time.Location
	// ServiceDayStart is the offset from local midnight at which a service day
	// begins ("04:30" → 4h30m). Zero means midnight.
	ServiceDayStart time.Duration
	// GateLanguage is the language of the gates' messages by default, "en"
	// or "fr" (key gate_language; default "en"). A gate may override it.
	GateLanguage string

	Partners  []Partner
	Venues    []Venue
	Products  []Product
	Contracts []Contract

	partnerByID map[string]*Partner
	venueByID   map[string]*Venue
	productByID map[string]*Product
	source      []byte // the file as loaded (Source)
}

// Partner is a company the operator pays (one or more venues).
type Partner struct {
	ID   string
	Name string
	IBAN string // normalized: upper case, no spaces; mod-97 checked at load
	BIC  string
}

// VenueKind classifies a venue; includes may select venues by kind.
type VenueKind string

// Venue kinds of schema 1.
const (
	KindMuseum     VenueKind = "museum"
	KindAttraction VenueKind = "attraction"
	KindTour       VenueKind = "tour"
	KindTransit    VenueKind = "transit"
)

// Venue is a place with gates. Gate ids are "<venue>/<gate>".
type Venue struct {
	ID        string
	Partner   string
	Kind      VenueKind
	Name      string
	Zone      string          // transit zone; may be empty
	GatePrice decimal.Decimal // public adult admission; zero when not given
}

// Clock says how a product's validity is measured.
type Clock string

// Clocks of schema 1.
const (
	ClockElapsed      Clock = "elapsed"       // Duration of physical time from activation
	ClockCalendarDays Clock = "calendar_days" // Days service days counting the activation day
	ClockFixed        Clock = "fixed"         // window given at sale, lasting Duration
)

// Activation says what starts a pass's validity.
type Activation string

// Activation modes of schema 1.
const (
	ActivationFirstUse   Activation = "first_use"   // first accepted entry anywhere
	ActivationFirstVenue Activation = "first_venue" // first accepted entry at a non-transit venue
	ActivationAtSale     Activation = "at_sale"
	ActivationFixedStart Activation = "fixed_start"
)

// RefundPolicy says when a pass may be refunded.
type RefundPolicy string

// Refund policies of schema 1.
const (
	RefundUnused RefundPolicy = "unused" // while live and without an accepted entry
	RefundNone   RefundPolicy = "none"
)

// Product is a pass type as sold under one tariff version.
type Product struct {
	ID       string
	Name     string
	Category string          // adult | child | senior | …; child sets ATTENTION
	Price    decimal.Decimal // VAT included, at most 2 places
	VATRate  decimal.Decimal // percent, e.g. 10
	Clock    Clock
	// Duration is the validity length for elapsed and fixed clocks (physical time).
	Duration time.Duration
	// Days is the validity length of a calendar_days product, in service days.
	Days           int
	Activation     Activation
	ActivateWithin time.Duration // after sale; a never-activated pass expires then
	Refund         RefundPolicy
	Includes       []Include
	// Offline is how a fleet node decides the product's passes when its
	// copy of the hub's state is old ([product.offline]).
	Offline Offline
}

// StalePolicy says what a node does with a pass's entry when its copy of
// the hub's state is older than the product's MaxStaleness.
type StalePolicy string

// Stale policies of schema 1.
const (
	StaleAccept StalePolicy = "accept" // decide on the local state; accepts carry flag STALE
	StaleDeny   StalePolicy = "deny"   // deny STALE
)

// The offline policy's bounds (docs/semantics.md, "Offline policy").
const (
	// DefaultMaxStaleness is max_staleness when the tariff gives none.
	DefaultMaxStaleness = 24 * time.Hour
	// MaxStalenessAtLeast is the shortest max_staleness a tariff may give: a
	// connected node's state is up to a heartbeat (10 s) old, plus the
	// time to fetch it, so anything shorter would call connected nodes
	// stale.
	MaxStalenessAtLeast = time.Minute
	// MaxStalenessAtMost is the longest: a node whose state is a month old
	// is broken, not offline, and its accepts should say so (STALE).
	MaxStalenessAtMost = 30 * 24 * time.Hour
)

// Offline is a product's offline policy: staleness at a tap (the tap's
// time minus the hub time the node's state is complete up to) beyond
// MaxStaleness makes the tap stale, and WhenStale says what a stale entry
// gets. The zero value is the default policy.
type Offline struct {
	MaxStaleness time.Duration // zero means DefaultMaxStaleness
	WhenStale    StalePolicy   // empty means StaleAccept
}

// Max returns the policy's max_staleness, DefaultMaxStaleness when unset.
func (o *Offline) Max() time.Duration {
	if o.MaxStaleness <= 0 {
		return DefaultMaxStaleness
	}
	return o.MaxStaleness
}

// Deny reports whether a stale entry is denied (when_stale = "deny").
func (o *Offline) Deny() bool { return o.WhenStale == StaleDeny }

// LimitKind is how many accepted entries an include allows per venue.
type LimitKind string

// Limit kinds of schema 1.
const (
	LimitUnlimited  LimitKind = "unlimited"
	LimitOnce       LimitKind = "once"
	LimitOncePerDay LimitKind = "once_per_day" // one per service day
	LimitN          LimitKind = "n"            // N per validity
)

// Limit is an include's entry limit per venue.
type Limit struct {
	Kind LimitKind
	N    int // for LimitN; 1 for LimitOnce and LimitOncePerDay
}

// PassbackScope says which earlier entries an anti-passback window looks at.
type PassbackScope string

// Passback scopes of schema 1.
const (
	ScopeGate   PassbackScope = "gate"   // same VENUE/GATE
	ScopeVenue  PassbackScope = "venue"  // same venue
	ScopeSystem PassbackScope = "system" // the pass's last accepted entry anywhere
)

// PassbackMode says what happens inside the window.
type PassbackMode string

// Passback modes of schema 1.
const (
	ModeHard PassbackMode = "hard" // deny with PASSBACK
	ModeSoft PassbackMode = "soft" // accept with flag PASSBACK_SOFT
)

// Include grants a product entry to venues, selected by id or by kind (and zone).
type Include struct {
	Venues        []string
	Kinds         []VenueKind
	Zones         []string // when set, the venue's zone must be listed
	Limit         Limit
	Passback      time.Duration // zero: no anti-passback
	PassbackScope PassbackScope
	PassbackMode  PassbackMode
}

// ContractModel is how the operator owes a partner.
type ContractModel string

// Contract models of schema 1.
const (
	ModelPerVisit      ContractModel = "per_visit"       // Rates[category] per accepted entry
	ModelPercentOfGate ContractModel = "percent_of_gate" // Percent of the venue's GatePrice per entry
	ModelPerPassDay    ContractModel = "per_pass_day"    // Rates[category] per distinct service day with an entry
	ModelFlat          ContractModel = "flat"            // Amount per period
)

// PeriodKind is the length of a clearing period.
type PeriodKind string

// Period kinds of schema 1.
const (
	PeriodDay   PeriodKind = "day"
	PeriodWeek  PeriodKind = "week" // ISO week, Monday first
	PeriodMonth PeriodKind = "month"
)

// Contract is what the operator owes one partner, per period.
type Contract struct {
	Partner string
	Model   ContractModel
	Rates   map[string]decimal.Decimal // by product category
	Percent decimal.Decimal            // percent_of_gate
	Amount  decimal.Decimal            // flat, per period
	Period  PeriodKind
	Cap     decimal.Decimal // most paid per period
	HasCap  bool
}

// Date is a local calendar date (a service day is named by the date it starts on).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Period is one clearing period: service days [Start, End) in the tariff zone.
type Period struct {
	Kind  PeriodKind
	Label string    // "2026-11-27", "2026-W48", "2026-11"
	Start time.Time // start of the first service day
	End   time.Time // start of the service day after the last (exclusive)
}
