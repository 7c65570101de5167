package tariff

import (
	_ "embed"
	"fmt"
)

//go:embed sample.toml
var sample []byte

// SampleName is the file name errors in the built-in sample would carry.
const SampleName = "sample.toml"

// Sample returns the built-in Marseille tariff file ("marseille-2026"), the
// one `citypass init` stores when no --tariff is given. It returns a copy.
func Sample() []byte { return append([]byte(nil), sample...) }

// SampleTariff returns the built-in Marseille tariff, loaded. The sample is
// tested to load; a failure here is a build defect, so it panics.
func SampleTariff() *Tariff {
	t, err := Load(SampleName, sample)
	if err != nil {
		panic(fmt.Sprintf("tariff: built-in sample does not load: %v", err))
	}
	return t
}
