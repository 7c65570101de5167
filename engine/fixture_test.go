package engine_test

import (
	"sync"
	"time"

	"github.com/citypass/citypass/tariff"
)

// The fixture tariffs of the tests live in testdata/tariffs/paris.toml (read
// it beside the scenario files). "paris" has service days from midnight;
// "paris-0430" is the same file with service days from 04:30.

var fixtures sync.Map // name → *tariff.Tariff

// fixtureTariff returns a loaded fixture tariff, shared: callers must not
// modify it (see loadFixture).
func fixtureTariff(name string) *tariff.Tariff {
	if t, ok := fixtures.Load(name); ok {
		return t.(*tariff.Tariff)
	}
	t := loadFixture(name)
	fixtures.Store(name, t)
	return t
}

// loadFixture loads a fresh copy of a fixture tariff.
func loadFixture(name string) *tariff.Tariff {
	t, err := tariff.LoadFile("testdata/tariffs/paris.toml")
	if err != nil {
		panic(err)
	}
	switch name {
	case "paris":
	case "paris-0430":
		t.ID = name
		t.ServiceDayStart = 4*time.Hour + 30*time.Minute
	default:
		panic("unknown fixture tariff " + name)
	}
	return t
}
