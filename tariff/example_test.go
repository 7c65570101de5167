package tariff_test

import (
	"fmt"
	"time"

	"github.com/citypass/citypass/tariff"
)

func ExampleLoad() {
	_, err := tariff.Load("bad.toml", []byte(`schema = 1
id = "x"
effective_from = "2026-01-01"
currency = "EUR"
timezone = "Europe/Marseille"
[[partner]]
id = "p"
name = "P"
iban = "FR7630006000011234567890188"
bic = "AGRIFRPP"
`))
	fmt.Println(err)
	// Output:
	// bad.toml:1: no [[product]]: a tariff sells at least one product
	// bad.toml:5: timezone: unknown time zone "Europe/Marseille"
	// bad.toml:9: partner "p": iban: IBAN "FR7630006000011234567890188": check digits do not match (ISO 13616 mod-97)
}

func ExampleTariff_ServiceDay() {
	t := tariff.SampleTariff() // service days start at 04:30, Europe/Paris
	at := time.Date(2026, 11, 28, 1, 15, 0, 0, t.Location)
	fmt.Println(t.ServiceDay(at))
	p, _ := t.PeriodOf(tariff.PeriodWeek, at)
	fmt.Println(p.Label, p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
	// Output:
	// 2026-11-27
	// 2026-W48 2026-11-23T04:30:00+01:00 2026-11-30T04:30:00+01:00
}

func ExampleMinorUnits() {
	t := tariff.SampleTariff()
	p, _ := t.Product("cp48-adult")
	cents, err := tariff.MinorUnits(p.Price)
	fmt.Println(cents, err, tariff.FromMinor(cents).StringFixed(2))
	// Output: 4400 <nil> 44.00
}
