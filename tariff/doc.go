// Package tariff loads, validates and answers questions about city-pass tariff
// versions (docs/semantics.md, "Tariff file"): the partners the operator pays, the venues with
// gates, the products sold (with the include rules that open gates) and the
// clearing contracts.
//
// # Story
//
// A tariff file (TOML, schema 1) is one version. Load turns its bytes into a
// *Tariff or into an ErrorList that names every problem as "FILE:LINE:
// message" — unknown keys, wrong types, missing keys, unknown references,
// duplicate ids, bad IBANs and BICs, money with more than 2 decimals,
// negative amounts, unknown time zones, bad enum values and durations,
// includes that match no venue, contracts for unknown partners or without the
// fields their model needs. The TOML is read with go-toml's unstable parser so
// that every key keeps its line; the TOML table rules are applied here so that
// a key defined twice is one more error, not the end of the report. Only a
// syntax error stops the reading: it is reported alone, since nothing after it
// can be trusted.
//
// A Catalog holds every version loaded into a ledger (datadir builds it from
// the versions the ledger stores, with Load and NewCatalog). A pass keeps the
// product as sold; contracts apply by tap date.
//
// # Who asks what
//
// Every lookup is a method of this package; no other package searches a
// Tariff's slices, so the rules of which version answers live here once.
//
//   - engine: Catalog.At (the version a sale uses), Catalog.Version and
//     Tariff.Product (a pass's product as sold), SplitGate and
//     Catalog.FindVenue (a gate's venue, the pass's own version first),
//     Product.IncludeFor (the include that opens a gate), ServiceDay and
//     DayStart (per-day limits, fixed-start activation), MinorUnits.
//   - reconcile: Catalog.ParsePeriod and Catalog.GoverningContract (a
//     partner's period and the contract that shapes it), Tariff.ContractOf
//     (rates in force at each tap), Catalog.FindVenue (the venue of a
//     journaled tap), Catalog.ProductAsSold (limits and VAT of a pass's
//     product), Catalog.LatestPartner (bank data for payouts), ServiceDay,
//     DayStart and DayEnd.
//   - datadir: Load and NewCatalog over the stored versions; Tariff.Source
//     is the text the ledger stores.
//   - cmd/citypass: LoadFile (`tariff check`, `tariff load`, `init`),
//     Tariff.VenueOfGate (a gate flag checked at start), ParseDate.
//
// Sample and SampleTariff give the built-in Marseille tariff
// ("marseille-2026") used by `citypass init` and the demo.
//
// # Invariants
//
//   - Load returns either a complete, valid *Tariff and a nil error, or a nil
//     tariff and a non-empty ErrorList (sorted by line; every Line ≥ 1).
//     LoadFile returns an ErrorList for content problems and a wrapped error
//     for I/O failures.
//   - A *Tariff and a *Catalog never change after construction and are safe for
//     concurrent use. Loading a new version never alters a loaded one.
//   - Every amount (prices, gate prices, rates, flat amounts, caps) is a
//     decimal.Decimal with at most 2 places and is never negative, so
//     MinorUnits converts it exactly. No float is ever used for money.
//   - Durations are physical time ("d" is 24 h), except the duration of a
//     calendar_days product, which counts service days (Product.Days).
//   - Every local date, service day and period is computed in the tariff's
//     Location (tzdata is embedded, so zones resolve on any machine), never in
//     the process's local zone. A service day runs from ServiceDayStart local
//     time to the next day's ServiceDayStart; a day across a DST change lasts
//     23 or 25 hours. ServiceDay is monotonic in time and agrees with DayStart:
//     DayStart(ServiceDay(at)) ≤ at < DayEnd(ServiceDay(at)).
//   - Ids of partners, venues and products are unique within a version and use
//     letters, digits, '-', '_' and '.', so gate ids "VENUE/GATE" split
//     unambiguously.
//   - Defaults (docs/semantics.md, "Loading"): limit "unlimited", no passback, passback_scope
//     "venue", passback_mode "hard", service_day_starts "00:00". Everything
//     else that matters for money or validity must be written out.
//
// Lookups (Partner, Venue, Product) use indexes built by Load; a Tariff written
// as a struct literal (as tests of other packages do) has none and is searched
// linearly, with the same answers.
//
// The package does no I/O except LoadFile's single read and time.LoadLocation
// (system zoneinfo first, the embedded copy otherwise); it starts no
// goroutines and keeps no global state.
package tariff
