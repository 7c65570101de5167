package reconcile

import (
	"fmt"
	"time"

	"github.com/citypass/citypass/tariff"
)

// versionAt returns the tariff version in force at instant at.
func versionAt(cat *tariff.Catalog, at time.Time) (*tariff.Tariff, error) {
	t, ok := cat.At(at)
	if !ok {
		return nil, fmt.Errorf("reconcile: no tariff version loaded")
	}
	return t, nil
}

// periodOfKind parses a stored period label of a known kind.
func periodOfKind(cat *tariff.Catalog, kind, label string) (tariff.Period, error) {
	p, _, err := cat.ParsePeriod(label)
	if err != nil {
		return tariff.Period{}, err
	}
	if string(p.Kind) != kind {
		return tariff.Period{}, fmt.Errorf("reconcile: period %q is not a %s", label, kind)
	}
	return p, nil
}
