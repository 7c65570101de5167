package tariff

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: Load never panics, and returns either a tariff or an ErrorList
// whose every entry has a line. A loaded tariff normalizes and reloads.
// The seed corpus is in testdata/fuzz/FuzzLoad; run longer with
// go test ./tariff -run '^$' -fuzz FuzzLoad -fuzztime 60s.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(baseTOML))
	f.Add(Sample())
	for _, name := range []string{"spec_example.toml", "spec_example_completed.toml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := Load("fuzz.toml", data)
		if err != nil {
			if tr != nil {
				t.Fatalf("tariff and error both returned")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("want a non-empty ErrorList, got %T: %v", err, err)
			}
			for _, e := range list {
				if e.Line < 1 {
					t.Fatalf("error without a line: %q", e.Error())
				}
				if e.File != "fuzz.toml" {
					t.Fatalf("error names file %q", e.File)
				}
			}
			return
		}
		if tr == nil {
			t.Fatal("nil tariff without an error")
		}
		if _, err := tr.NormalizedJSON(); err != nil {
			t.Fatalf("NormalizedJSON: %v", err)
		}
		for i := range tr.Products {
			for j := range tr.Venues {
				tr.Products[i].IncludeFor(&tr.Venues[j])
			}
		}
		for _, c := range tr.Contracts {
			for _, amount := range c.Rates {
				if _, err := MinorUnits(amount); err != nil {
					t.Fatalf("loaded rate not in minor units: %v", err)
				}
			}
		}
		for _, p := range tr.Products {
			if _, err := MinorUnits(p.Price); err != nil {
				t.Fatalf("loaded price not in minor units: %v", err)
			}
		}
	})
}
