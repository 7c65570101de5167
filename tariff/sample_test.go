package tariff

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestSampleLoads(t *testing.T) {
	tr, err := Load(SampleName, Sample())
	require.NoError(t, err)
	assert.Equal(t, "marseille-2026", tr.ID)
	assert.Equal(t, "Europe/Paris", tr.Location.String())
	assert.Equal(t, "2026-01-01T00:00:00+01:00", tr.EffectiveFrom.Format("2006-01-02T15:04:05Z07:00"))
	assert.Equal(t, "04:30", formatClock(tr.ServiceDayStart))
	assert.GreaterOrEqual(t, len(tr.Partners), 6)
	assert.GreaterOrEqual(t, len(tr.Venues), 6)

	// Every contract model and every period kind is used.
	models := map[ContractModel]bool{}
	periods := map[PeriodKind]bool{}
	for _, c := range tr.Contracts {
		models[c.Model] = true
		periods[c.Period] = true
	}
	assert.Len(t, models, 4, "every contract model")
	assert.Len(t, periods, 3, "every period kind")

	// Adult and child 24/48/72 h, elapsed from first use, refundable unused.
	for _, cat := range []string{"adult", "child"} {
		for _, h := range []string{"24", "48", "72"} {
			p, ok := tr.Product("cp" + h + "-" + cat)
			require.True(t, ok, "cp%s-%s", h, cat)
			assert.Equal(t, cat, p.Category)
			assert.Equal(t, ClockElapsed, p.Clock)
			assert.Equal(t, ActivationFirstUse, p.Activation)
			assert.Equal(t, RefundUnused, p.Refund)
			assert.Equal(t, "365d", FormatDuration(p.ActivateWithin))
			assert.Equal(t, h+"h0m0s", p.Duration.String())
			minor, err := MinorUnits(p.Price)
			require.NoError(t, err)
			assert.Positive(t, minor)
		}
	}
	adult, _ := tr.Product("cp24-adult")
	assert.Equal(t, "32.00", adult.Price.StringFixed(2))

	// Entry rules of the 24 h pass at each venue.
	want := map[string]Limit{
		"mucem": {LimitOnce, 1}, "chateau-if": {LimitOnce, 1}, "frioul-if-boat": {LimitOnce, 1},
		"musee-histoire": {LimitOnce, 1}, "beaux-arts": {LimitOnce, 1}, "panier-walk": {LimitOnce, 1},
		"rtm-metro": {LimitUnlimited, 0}, "rtm-tram": {LimitUnlimited, 0}, "rtm-bus": {LimitUnlimited, 0},
	}
	for id, lim := range want {
		v, ok := tr.Venue(id)
		require.True(t, ok, id)
		in, ok := adult.IncludeFor(v)
		require.True(t, ok, id)
		assert.Equal(t, lim, in.Limit, id)
		if v.Kind == KindTransit {
			assert.Equal(t, "18m0s", in.Passback.String())
			assert.Equal(t, ScopeVenue, in.PassbackScope)
			assert.Equal(t, ModeHard, in.PassbackMode)
		}
	}
	// Calendar-days and fixed products.
	m3, ok := tr.Product("museums-3days-adult")
	require.True(t, ok)
	assert.Equal(t, 3, m3.Days)
	assert.Equal(t, ActivationFirstVenue, m3.Activation)
	boat, _ := tr.Venue("frioul-if-boat")
	_, covered := m3.IncludeFor(boat)
	assert.False(t, covered, "the museum pass does not take the boat")
	cg, ok := tr.Product("congress-48h")
	require.True(t, ok)
	assert.Equal(t, ClockFixed, cg.Clock)
	mucem, _ := tr.Venue("mucem")
	in, ok := cg.IncludeFor(mucem)
	require.True(t, ok)
	assert.Equal(t, Limit{LimitN, 2}, in.Limit)

	// The sample's bank details are valid and normalized.
	for _, p := range tr.Partners {
		iban, err := NormalizeIBAN(p.IBAN)
		require.NoError(t, err, p.ID)
		assert.Equal(t, iban, p.IBAN)
	}
	// The sample is what SampleTariff returns; Sample returns a copy.
	assert.Equal(t, tr.ID, SampleTariff().ID)
	b := Sample()
	b[0] = 'X'
	assert.NotEqual(t, b[0], Sample()[0])
}

func formatClock(d interface{ Minutes() float64 }) string {
	m := int(d.Minutes())
	return strings.TrimSpace(strings.Join([]string{twoDigits(m / 60), twoDigits(m % 60)}, ":"))
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

// TestSampleGolden pins the normalized sample catalog. Run with -update to
// rewrite testdata/sample.golden after an intended change, and review the diff.
func TestSampleGolden(t *testing.T) {
	got, err := SampleTariff().NormalizedJSON()
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", "sample.golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./tariff -run TestSampleGolden -update")
	assert.Equal(t, string(want), string(got))
}

// TestNormalizedIsCanonical: two spellings of one tariff normalize alike.
func TestNormalizedIsCanonical(t *testing.T) {
	a, err := Load("a.toml", []byte(baseTOML))
	require.NoError(t, err)
	b, err := Load("b.toml", []byte(edit(t,
		`"FR7630006000011234567890189"`, `"fr76 3000 6000 0112 3456 7890 189"`,
		`price = "32.00"`, `price = 32`,
		`activate_within = "365d"`, `activate_within = "8760h"`,
		`passback = "18m"`, "passback = \"1080s\"\npassback_scope = \"venue\"",
		`rates = { adult = "8.00", child = "4.00" }`, `rates = { child = "4", adult = "8.0" }`)))
	require.NoError(t, err)
	ja, err := a.NormalizedJSON()
	require.NoError(t, err)
	jb, err := b.NormalizedJSON()
	require.NoError(t, err)
	assert.Equal(t, string(ja), string(jb))
}

// TestSpecExample: the tariff example of the product specification, kept
// verbatim in testdata/spec_example.toml, is a fragment that names a partner
// ("rtm") and a venue ("chateau-if") it does not define; those are its only
// two problems. With the minimal definitions added, it loads.
func TestSpecExample(t *testing.T) {
	_, err := LoadFile(filepath.Join("testdata", "spec_example.toml"))
	assert.Equal(t, []string{
		`testdata/spec_example.toml:23: venue "rtm-metro": partner: unknown partner "rtm"`,
		`testdata/spec_example.toml:40: product "cp24-adult" include #1: venues: unknown venue "chateau-if"`,
	}, errLines(t, err))

	tr, err := LoadFile(filepath.Join("testdata", "spec_example_completed.toml"))
	require.NoError(t, err)
	p, ok := tr.Product("cp24-adult")
	require.True(t, ok)
	assert.Equal(t, "City Pass 24 h", p.Name)
	c, ok := tr.ContractOf("mucem")
	require.True(t, ok)
	assert.Equal(t, "20000.00", c.Cap.StringFixed(2))

	// The completed copy starts with the verbatim example.
	verbatim, err := os.ReadFile(filepath.Join("testdata", "spec_example.toml"))
	require.NoError(t, err)
	completed, err := os.ReadFile(filepath.Join("testdata", "spec_example_completed.toml"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(completed), string(verbatim)))
}

// TestAllErrorsAtOnce: one file with a problem in every section reports them
// all, sorted by line.
func TestAllErrorsAtOnce(t *testing.T) {
	src := edit(t,
		`schema = 1`, `schema = 3`,
		`Europe/Paris`, `Mars/Olympus_Mons`,
		iban1, `FR7630006000011234567890188`,
		`partner = "rtm"`, `partner = "rtn"`,
		`price = "32.00"`, `price = "32.005"`,
		`limit = "once"`, `limit = "twice"`,
		`passback = "18m"`, `passback = "18 minutes"`,
		`model = "per_visit"`, `model = "pay_per_visit"`,
		`period = "week"`, "period = \"week\"\nnote = \"x\"",
	)
	_, err := Load("bad.toml", []byte(src))
	assert.Equal(t, []string{
		`bad.toml:1: schema = 3: this citypass reads schema 1 only`,
		`bad.toml:5: timezone: unknown time zone "Mars/Olympus_Mons"`,
		`bad.toml:11: partner "mucem": iban: IBAN "FR7630006000011234567890188": check digits do not match (ISO 13616 mod-97)`,
		`bad.toml:29: venue "rtm-metro": partner: unknown partner "rtn"`,
		`bad.toml:37: product "cp24-adult": price: amount "32.005" has more than 2 decimal places`,
		`bad.toml:47: product "cp24-adult" include #1: limit: "twice" is not one of once | once_per_day | unlimited | "<n>" (1 to 10000 entries per validity)`,
		`bad.toml:52: product "cp24-adult" include #2: passback: duration "18 minutes": unknown unit " minutes": want d, h, m, s, ms, us or ns`,
		`bad.toml:56: contract "mucem": model: "pay_per_visit" is not one of per_visit | percent_of_gate | per_pass_day | flat`,
		`bad.toml:66: contract "rtm": unknown key "note"`,
	}, errLines(t, err))
	require.EqualError(t, err, strings.Join(errLines(t, err), "\n"))
	var one *Error
	require.True(t, errors.As(err, &one))
	assert.Equal(t, 1, one.Line)
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(baseTOML)
	for i := 0; i < maxErrors+50; i++ {
		b.WriteString("[[venue]]\nid = \"v/" + twoDigits(i%100) + "\"\n")
	}
	_, err := Load("many.toml", []byte(b.String()))
	lines := errLines(t, err)
	require.Len(t, lines, maxErrors+1)
	assert.Contains(t, lines[maxErrors], "more errors not shown")
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	require.NoError(t, os.WriteFile(good, Sample(), 0o600))
	tr, err := LoadFile(good)
	require.NoError(t, err)
	assert.Equal(t, Sample(), tr.Source())

	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte(edit(t, `currency = "EUR"`, `currency = "€"`)), 0o600))
	_, err = LoadFile(bad)
	assert.Equal(t, []string{bad + `:4: currency "€": want an ISO 4217 code, 3 capital letters ("EUR")`}, errLines(t, err))

	_, err = LoadFile(filepath.Join(dir, "missing.toml"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, fs.ErrNotExist))
	var list ErrorList
	assert.False(t, errors.As(err, &list), "an I/O failure is not a content error")

	big := filepath.Join(dir, "big.toml")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("# comment\n", MaxFileSize/10+1)), 0o600))
	_, err = LoadFile(big)
	assert.Equal(t, []string{big + ":1: file is larger than 1048576 bytes"}, errLines(t, err))
}

// TestEmptyAndNonTariff: inputs that are TOML but not a tariff.
func TestEmptyAndNonTariff(t *testing.T) {
	_, err := Load("empty.toml", nil)
	assert.Equal(t, []string{
		`empty.toml:1: missing required key "schema"`,
		`empty.toml:1: missing required key "id"`,
		`empty.toml:1: missing required key "effective_from"`,
		`empty.toml:1: missing required key "currency"`,
		`empty.toml:1: missing required key "timezone"`,
		`empty.toml:1: no [[product]]: a tariff sells at least one product`,
	}, errLines(t, err))

	_, err = Load("bin.toml", []byte{0xff, 0xfe, 0x00})
	lines := errLines(t, err)
	require.Len(t, lines, 1)
	assert.True(t, strings.HasPrefix(lines[0], "bin.toml:1: TOML syntax: "), lines[0])
}

// TestLineEndingsAndBOM: CRLF files and a UTF-8 byte order mark load, and
// lines are counted the same way.
func TestLineEndingsAndBOM(t *testing.T) {
	crlf := strings.ReplaceAll(baseTOML, "\n", "\r\n")
	_, err := Load("crlf.toml", []byte(crlf))
	require.NoError(t, err)
	_, err = Load("crlf.toml", []byte(strings.Replace(crlf, `price = "32.00"`, `price = "-1"`, 1)))
	assert.Equal(t, []string{`crlf.toml:37: product "cp24-adult": price: amount "-1" is negative`}, errLines(t, err))

	bom := "\uFEFF" + baseTOML
	tr, err := Load("bom.toml", []byte(bom))
	require.NoError(t, err)
	assert.Equal(t, []byte(bom), tr.Source(), "Source keeps the file as it was")
	_, err = Load("bom.toml", []byte("\uFEFF"+edit(t, `price = "32.00"`, `price = "-1"`)))
	assert.Equal(t, []string{`bom.toml:37: product "cp24-adult": price: amount "-1" is negative`}, errLines(t, err))
}

// TestSampleExplainsEveryKey: the sample is the commented file `citypass
// tariff export` prints, so every key it sets (and gate_language, which it
// leaves at its default) is named in a comment or has one on its line.
func TestSampleExplainsEveryKey(t *testing.T) {
	keys := map[string]bool{"gate_language": false}
	var comments strings.Builder
	for _, line := range strings.Split(string(Sample()), "\n") {
		code, comment, commented := strings.Cut(line, "#")
		comments.WriteString(comment + "\n")
		if k, _, ok := strings.Cut(code, "="); ok {
			k = strings.TrimSpace(k)
			keys[k] = keys[k] || commented
		}
	}
	require.Greater(t, len(keys), 30)
	for k, inline := range keys {
		assert.True(t, inline || strings.Contains(comments.String(), k), "the sample explains key %s in a comment", k)
	}
}
