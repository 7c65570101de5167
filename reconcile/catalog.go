package reconcile

import (
	"fmt"
	"time"

	"github.com/citypass/citypass/tariff"
)

// Lookups over a catalog that only read the tariff's exported slices, so they
// work for any *tariff.Tariff, loaded or built in a test.

// versionAt returns the tariff version in force at instant at.
func versionAt(cat *tariff.Catalog, at time.Time) (*tariff.Tariff, error) {
	t, ok := cat.At(at)
	if !ok {
		return nil, fmt.Errorf("reconcile: no tariff version loaded")
	}
	return t, nil
}

// findVenue returns venue id as defined by the version in force at at, or
// else by the newest version that defines it.
func findVenue(cat *tariff.Catalog, id string, at time.Time) (*tariff.Venue, bool) {
	if t, ok := cat.At(at); ok {
		for i := range t.Venues {
			if t.Venues[i].ID == id {
				return &t.Venues[i], true
			}
		}
	}
	vs := cat.Versions()
	for j := len(vs) - 1; j >= 0; j-- {
		for i := range vs[j].Venues {
			if vs[j].Venues[i].ID == id {
				return &vs[j].Venues[i], true
			}
		}
	}
	return nil, false
}

// findPartner returns the partner's banking data from the newest version that
// names it (a partner's account is whatever the latest tariff says).
func findPartner(cat *tariff.Catalog, id string) (*tariff.Partner, bool) {
	vs := cat.Versions()
	for j := len(vs) - 1; j >= 0; j-- {
		for i := range vs[j].Partners {
			if vs[j].Partners[i].ID == id {
				return &vs[j].Partners[i], true
			}
		}
	}
	return nil, false
}

// governing returns the contract that governs a partner's period as a whole
// (its period kind, cap and flat amount): the one in force at the period's
// start or, when the partner had none then, the first that came into force
// during the period. Per-entry rates always come from the contract in force
// at each tap's own time (contracts apply by tap date).
func governing(cat *tariff.Catalog, partner string, p tariff.Period) (*tariff.Contract, *tariff.Tariff, bool) {
	if t, ok := cat.At(p.Start); ok {
		if c, ok := t.ContractOf(partner); ok {
			return c, t, true
		}
	}
	for _, t := range cat.Versions() {
		if t.EffectiveFrom.After(p.Start) && t.EffectiveFrom.Before(p.End) {
			if c, ok := t.ContractOf(partner); ok {
				return c, t, true
			}
		}
	}
	return nil, nil, false
}

// parsePeriod reads a period label in the zone of the version in force when
// the period starts.
func parsePeriod(cat *tariff.Catalog, label string) (tariff.Period, *tariff.Tariff, error) {
	vs := cat.Versions()
	if len(vs) == 0 {
		return tariff.Period{}, nil, fmt.Errorf("reconcile: no tariff version loaded")
	}
	p, err := vs[len(vs)-1].ParsePeriod(label)
	if err != nil {
		return tariff.Period{}, nil, err
	}
	t, _ := cat.At(p.Start)
	p, err = t.ParsePeriod(label)
	return p, t, err
}

// periodOfKind parses a stored period label of a known kind.
func periodOfKind(cat *tariff.Catalog, kind, label string) (tariff.Period, error) {
	p, _, err := parsePeriod(cat, label)
	if err != nil {
		return tariff.Period{}, err
	}
	if string(p.Kind) != kind {
		return tariff.Period{}, fmt.Errorf("reconcile: period %q is not a %s", label, kind)
	}
	return p, nil
}
