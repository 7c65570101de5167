package tariff

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// baseTOML is a small valid tariff; the validation cases edit one thing in it.
// Its line numbers are referred to by the expected errors: keep them.
const baseTOML = `schema = 1
id = "t1"
effective_from = "2026-01-01"
currency = "EUR"
timezone = "Europe/Paris"
service_day_starts = "04:30"

[[partner]]
id = "mucem"
name = "MuCEM"
iban = "FR7630006000011234567890189"
bic = "AGRIFRPP"

[[partner]]
id = "rtm"
name = "RTM"
iban = "FR7613825002000800193746235"
bic = "CEPAFRPP131"

[[venue]]
id = "mucem"
partner = "mucem"
kind = "museum"
name = "MuCEM"
gate_price = "11.00"

[[venue]]
id = "rtm-metro"
partner = "rtm"
kind = "transit"
zone = "marseille"

[[product]]
id = "cp24-adult"
name = "City Pass 24 h"
category = "adult"
price = "32.00"
vat_rate = "10"
clock = "elapsed"
duration = "24h"
activation = "first_use"
activate_within = "365d"
refund = "unused"

[[product.include]]
venues = ["mucem"]
limit = "once"

[[product.include]]
kinds = ["transit"]
zones = ["marseille"]
passback = "18m"

[[contract]]
partner = "mucem"
model = "per_visit"
rates = { adult = "8.00", child = "4.00" }
period = "month"
cap = "20000.00"

[[contract]]
partner = "rtm"
model = "per_pass_day"
rates = { adult = "4.20" }
period = "week"
`

// edit returns baseTOML with the first occurrence of old replaced by new; it
// fails the test when old is not there, so a case can never silently test
// the unedited file.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := baseTOML
	for i := 0; i+1 < len(pairs); i += 2 {
		require.Contains(t, s, pairs[i], "edit: text to replace not found")
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// errLines returns the error's entries as "FILE:LINE: message" strings,
// checking that it is an ErrorList whose every entry has a line.
func errLines(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	var list ErrorList
	require.True(t, errors.As(err, &list), "want an ErrorList, got %T: %v", err, err)
	out := make([]string, len(list))
	for i, e := range list {
		assert.GreaterOrEqual(t, e.Line, 1)
		out[i] = e.Error()
	}
	return out
}

func TestBaseLoads(t *testing.T) {
	tr, err := Load("f.toml", []byte(baseTOML))
	require.NoError(t, err)
	assert.Equal(t, "t1", tr.ID)
	assert.Equal(t, 1, tr.Schema)
	assert.Equal(t, "EUR", tr.Currency)
	assert.Equal(t, "Europe/Paris", tr.Location.String())
	assert.Equal(t, 4*time.Hour+30*time.Minute, tr.ServiceDayStart)
	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, tr.Location), tr.EffectiveFrom)
	assert.Equal(t, []byte(baseTOML), tr.Source())

	p, ok := tr.Product("cp24-adult")
	require.True(t, ok)
	assert.Equal(t, "32.00", p.Price.StringFixed(2))
	assert.True(t, p.VATRate.Equal(decimal.NewFromInt(10)))
	assert.Equal(t, 24*time.Hour, p.Duration)
	assert.Equal(t, 365*24*time.Hour, p.ActivateWithin)
	require.Len(t, p.Includes, 2)
	assert.Equal(t, Limit{Kind: LimitOnce, N: 1}, p.Includes[0].Limit)
	// The defaults (docs/semantics.md, "Loading").
	transit := p.Includes[1]
	assert.Equal(t, Limit{Kind: LimitUnlimited}, transit.Limit)
	assert.Equal(t, 18*time.Minute, transit.Passback)
	assert.Equal(t, ScopeVenue, transit.PassbackScope)
	assert.Equal(t, ModeHard, transit.PassbackMode)
	assert.Equal(t, ScopeVenue, p.Includes[0].PassbackScope)
	assert.Equal(t, ModeHard, p.Includes[0].PassbackMode)
	assert.Zero(t, p.Includes[0].Passback)

	c, ok := tr.ContractOf("mucem")
	require.True(t, ok)
	assert.True(t, c.HasCap)
	assert.Equal(t, "20000.00", c.Cap.StringFixed(2))
	assert.Equal(t, "4.00", c.Rates["child"].StringFixed(2))
	c, ok = tr.ContractOf("rtm")
	require.True(t, ok)
	assert.False(t, c.HasCap)
	assert.Equal(t, ModelPerPassDay, c.Model)
	assert.Equal(t, PeriodWeek, c.Period)
}

func TestDefaultServiceDayStart(t *testing.T) {
	tr, err := Load("f.toml", []byte(edit(t, "service_day_starts = \"04:30\"\n", "")))
	require.NoError(t, err)
	assert.Zero(t, tr.ServiceDayStart)
}

// TestValidVariants: spellings the loader accepts and normalizes.
func TestValidVariants(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		check func(t *testing.T, tr *Tariff)
	}{
		{"iban with spaces and lower case", []string{`"FR7630006000011234567890189"`, `"fr76 3000 6000 0112 3456 7890 189"`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Partner("mucem")
				assert.Equal(t, "FR7630006000011234567890189", p.IBAN)
			}},
		{"bic lower case", []string{`"AGRIFRPP"`, `"agrifrpp"`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Partner("mucem")
				assert.Equal(t, "AGRIFRPP", p.BIC)
			}},
		{"TOML local date", []string{`effective_from = "2026-01-01"`, `effective_from = 2026-01-01`},
			func(t *testing.T, tr *Tariff) {
				assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, tr.Location), tr.EffectiveFrom)
			}},
		{"integer money and percent", []string{`price = "32.00"`, `price = 32`, `vat_rate = "10"`, `vat_rate = 10`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, "32.00", p.Price.StringFixed(2))
				assert.Equal(t, "10", p.VATRate.String())
			}},
		{"one decimal", []string{`price = "32.00"`, `price = "32.5"`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, "32.50", p.Price.StringFixed(2))
			}},
		{"limit as integer and as string", []string{`limit = "once"`, `limit = 3`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, Limit{Kind: LimitN, N: 3}, p.Includes[0].Limit)
			}},
		{"limit n string", []string{`limit = "once"`, `limit = "12"`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, Limit{Kind: LimitN, N: 12}, p.Includes[0].Limit)
			}},
		{"limit once_per_day", []string{`limit = "once"`, `limit = "once_per_day"`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, Limit{Kind: LimitOncePerDay, N: 1}, p.Includes[0].Limit)
			}},
		{"rates as a sub-table, any category", []string{`rates = { adult = "8.00", child = "4.00" }`, "rates.adult = \"8.00\"\nrates.senior = \"6.00\""},
			func(t *testing.T, tr *Tariff) {
				c, _ := tr.ContractOf("mucem")
				assert.Len(t, c.Rates, 2)
				assert.Equal(t, "6.00", c.Rates["senior"].StringFixed(2))
			}},
		{"passback scope and mode", []string{`passback = "18m"`, "passback = \"1h30m\"\npassback_scope = \"system\"\npassback_mode = \"soft\""},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, 90*time.Minute, p.Includes[1].Passback)
				assert.Equal(t, ScopeSystem, p.Includes[1].PassbackScope)
				assert.Equal(t, ModeSoft, p.Includes[1].PassbackMode)
			}},
		{"calendar days", []string{`clock = "elapsed"`, `clock = "calendar_days"`, `duration = "24h"`, `duration = "3d"`},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, 3, p.Days)
				assert.Zero(t, p.Duration)
			}},
		{"fixed product needs no activation deadline", []string{`clock = "elapsed"`, `clock = "fixed"`, `activation = "first_use"`, `activation = "fixed_start"`, "activate_within = \"365d\"\n", ""},
			func(t *testing.T, tr *Tariff) {
				p, _ := tr.Product("cp24-adult")
				assert.Equal(t, ClockFixed, p.Clock)
				assert.Zero(t, p.ActivateWithin)
			}},
		{"percent_of_gate", []string{"model = \"per_visit\"\nrates = { adult = \"8.00\", child = \"4.00\" }", "model = \"percent_of_gate\"\npercent = \"60.5\""},
			func(t *testing.T, tr *Tariff) {
				c, _ := tr.ContractOf("mucem")
				assert.Equal(t, "60.5", c.Percent.String())
			}},
		{"flat", []string{"model = \"per_visit\"\nrates = { adult = \"8.00\", child = \"4.00\" }", "model = \"flat\"\namount = \"1500.00\"", "cap = \"20000.00\"\n", ""},
			func(t *testing.T, tr *Tariff) {
				c, _ := tr.ContractOf("mucem")
				assert.Equal(t, "1500.00", c.Amount.StringFixed(2))
			}},
		{"partners as an array of inline tables", []string{
			"[[partner]]\nid = \"mucem\"\nname = \"MuCEM\"\niban = \"FR7630006000011234567890189\"\nbic = \"AGRIFRPP\"\n", "",
			"[[partner]]\nid = \"rtm\"\nname = \"RTM\"\niban = \"FR7613825002000800193746235\"\nbic = \"CEPAFRPP131\"\n", "",
			"schema = 1\n", "schema = 1\npartner = [\n  { id = \"mucem\", name = \"MuCEM\", iban = \"FR7630006000011234567890189\", bic = \"AGRIFRPP\" },\n  { id = \"rtm\", name = \"RTM\", iban = \"FR7613825002000800193746235\", bic = \"CEPAFRPP131\" },\n]\n"},
			func(t *testing.T, tr *Tariff) {
				require.Len(t, tr.Partners, 2)
				assert.Equal(t, "rtm", tr.Partners[1].ID)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Load("f.toml", []byte(edit(t, tc.edits...)))
			require.NoError(t, err)
			tc.check(t, tr)
		})
	}
}

// TestGateLanguage: gate_language is optional (English), fr is accepted and
// anything else is an error on its line.
func TestGateLanguage(t *testing.T) {
	tt, err := Load("t.toml", []byte(baseTOML))
	require.NoError(t, err)
	assert.Equal(t, "en", tt.GateLanguage)
	fr := strings.Replace(baseTOML, `service_day_starts = "04:30"`, `service_day_starts = "04:30"`+"\n"+`gate_language = "fr"`, 1)
	tt, err = Load("t.toml", []byte(fr))
	require.NoError(t, err)
	assert.Equal(t, "fr", tt.GateLanguage)
	bad := strings.Replace(baseTOML, `service_day_starts = "04:30"`, `service_day_starts = "04:30"`+"\n"+`gate_language = "de"`, 1)
	_, err = Load("t.toml", []byte(bad))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `t.toml:7: gate_language "de": want en or fr`)
}

// TestOffline: [product.offline] is optional (schema 1 without it loads,
// with the defaults), may be a [header] before or after the includes or an
// inline table, and its bounds are inclusive (docs/semantics.md, "Offline
// policy").
func TestOffline(t *testing.T) {
	def := Offline{MaxStaleness: DefaultMaxStaleness, WhenStale: StaleAccept}
	cases := []struct {
		name  string
		edits []string
		want  Offline
	}{
		{"absent", nil, def},
		{"empty table", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\n"}, def},
		{"deny after 30m", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_staleness = \"30m\"\nwhen_stale = \"deny\"\n"},
			Offline{MaxStaleness: 30 * time.Minute, WhenStale: StaleDeny}},
		{"after the includes", []string{"passback = \"18m\"\n", "passback = \"18m\"\n\n[product.offline]\nwhen_stale = \"deny\"\n"},
			Offline{MaxStaleness: DefaultMaxStaleness, WhenStale: StaleDeny}},
		{"inline", []string{"refund = \"unused\"\n", "refund = \"unused\"\noffline = { max_staleness = \"6h\" }\n"},
			Offline{MaxStaleness: 6 * time.Hour, WhenStale: StaleAccept}},
		{"shortest", []string{"refund = \"unused\"\n", "refund = \"unused\"\noffline = { max_staleness = \"60s\" }\n"},
			Offline{MaxStaleness: MaxStalenessAtLeast, WhenStale: StaleAccept}},
		{"longest", []string{"refund = \"unused\"\n", "refund = \"unused\"\noffline = { max_staleness = \"30d\", when_stale = \"accept\" }\n"},
			Offline{MaxStaleness: MaxStalenessAtMost, WhenStale: StaleAccept}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Load("f.toml", []byte(edit(t, tc.edits...)))
			require.NoError(t, err)
			p, ok := tr.Product("cp24-adult")
			require.True(t, ok)
			assert.Equal(t, tc.want, p.Offline)
			assert.Len(t, p.Includes, 2, "the offline table does not swallow the includes")
			assert.Equal(t, tc.want.MaxStaleness, p.Offline.Max())
			assert.Equal(t, tc.want.WhenStale == StaleDeny, p.Offline.Deny())
		})
	}
	var zero Offline // a Product built by hand: the defaults
	assert.Equal(t, DefaultMaxStaleness, zero.Max())
	assert.False(t, zero.Deny())
}
