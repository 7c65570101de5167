package reconcile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestMatch(t *testing.T) {
	dir := t.TempDir()
	closeP(t, func() *fakeLedger {
		l := newFakeLedger()
		l.tap(visit("g1", 1, local(2026, 11, 2, 10, 0), "04A1B2", "P1", "adult", "mucem/main"))
		l.tap(visit("g1", 2, local(2026, 11, 3, 11, 0), "04A1B3", "P2", "adult", "mucem/main"))
		l.tap(visit("g2", 1, local(2026, 11, 4, 12, 0), "04A1B4", "P3", "child", "mucem/side"))
		return l
	}(), "2026-11", "mucem", local(2026, 12, 2, 0, 0), dir)
	stmt := filepath.Join(dir, "mucem-2026-11.json")
	partner := writeFile(t, t.TempDir(), "scans.csv", strings.Join([]string{
		"Scanned_At,Card,Gate",
		"2026-11-02T10:01:30+01:00,04:a1:b2,main",     // matched (90 s, gate part only)
		"2026-11-03 11:05:00,04A1B3,mucem/main",       // local time, 5 min off: theirs-only
		"2026-11-04T11:00:30Z,04A1B4,mucem/side",      // matched (30 s, UTC)
		"2026-11-05T09:00:00+01:00,04FFFF,mucem/main", // theirs-only
		"",
	}, "\n"))
	res, err := Match(MatchOptions{Statement: stmt, PartnerFile: partner, Location: paris})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Matched)
	assert.Equal(t, 1, res.OursOnly)
	assert.Equal(t, 2, res.TheirsOnly)
	assert.Equal(t, "12.00", formatMoney(res.MatchedAmount))
	assert.Equal(t, "8.00", formatMoney(res.OursOnlyAmount))
	assert.True(t, res.Discrepancies())
	assert.Equal(t, OursOnly, res.Entries[2].Status)
	assert.Equal(t, 2, res.Entries[2].Line)
	assert.Equal(t, 3, res.Entries[3].PartnerLine)

	// A wider tolerance matches the 5-minute scan.
	res, err = Match(MatchOptions{Statement: strings.TrimSuffix(stmt, ".json") + ".csv", PartnerFile: partner,
		Location: paris, Tolerance: 10 * time.Minute})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Matched)
	assert.Equal(t, 1, res.TheirsOnly)

	// A statement whose CSV does not match its manifest is refused.
	flipByte(t, filepath.Join(dir, "mucem-2026-11.csv"), "04A1B2", "04A1B9")
	_, err = Match(MatchOptions{Statement: stmt, PartnerFile: partner})
	require.ErrorContains(t, err, "csv_sha256")
}

func TestParsePartnerFileBadRows(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		lines []int
		cols  []string
	}{
		{"empty", "", []int{1}, []string{""}},
		{"no header columns", "when,who\n", []int{1, 1, 1}, []string{"scanned_at", "card", "gate"}},
		{"bad time", "scanned_at,card,gate\n2026-13-01T00:00:00Z,04A1,mucem/main\n", []int{2}, []string{"scanned_at"}},
		{"bad card and gate", "scanned_at,card,gate\n2026-11-01T10:00:00Z,XYZ,\n", []int{2, 2}, []string{"card", "gate"}},
		{"field count", "scanned_at,card,gate\n2026-11-01T10:00:00Z,04A1\n2026-11-01T10:00:00Z,04A1,g\n2026-11-01T10:00:00Z,04A1,g,x\n",
			[]int{2, 4}, []string{"", ""}},
		{"bare quote", "scanned_at,card,gate\n2026-11-01T10:00:00Z,04\"A1,g\n", []int{2}, []string{""}},
		{"long line", "scanned_at,card,gate\n" + strings.Repeat("a", 5000) + "\n", []int{2}, []string{""}},
		{"duplicate column", "scanned_at,card,gate,CARD\n", []int{1}, []string{"card"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scans, err := ParsePartnerFile(strings.NewReader(tc.body), "p.csv", nil)
			assert.Nil(t, scans, "nothing is returned from a bad file")
			var fe *PartnerFileError
			require.ErrorAs(t, err, &fe)
			var lines []int
			var cols []string
			for _, r := range fe.Rows {
				lines = append(lines, r.Line)
				cols = append(cols, r.Column)
			}
			assert.Equal(t, tc.lines, lines, err.Error())
			assert.Equal(t, tc.cols, cols, err.Error())
			var re *RowError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, err.Error(), "p.csv:")
		})
	}
}

func TestParsePartnerFileGood(t *testing.T) {
	scans, err := ParsePartnerFile(strings.NewReader("\ufeffgate,extra,card,scanned_at\r\nmucem/main,x,04 a1,2026-11-01 10:00:00\r\n\r\n"), "p.csv", paris)
	require.NoError(t, err)
	require.Len(t, scans, 1)
	assert.Equal(t, Scan{Line: 2, ScannedAt: local(2026, 11, 1, 10, 0), Card: "04A1", Gate: "mucem/main"}, scans[0])
}

func FuzzParsePartnerFile(f *testing.F) {
	f.Add("scanned_at,card,gate\n2026-11-02T10:01:30+01:00,04A1,main\n")
	f.Add("scanned_at,card,gate\n2026-11-03 11:05:00,04A1B3,mucem/main\n\"x\n")
	f.Add("card\n")
	f.Fuzz(func(t *testing.T, body string) {
		scans, err := ParsePartnerFile(strings.NewReader(body), "f.csv", paris)
		if err != nil {
			var fe *PartnerFileError
			require.ErrorAs(t, err, &fe)
			require.NotEmpty(t, fe.Rows)
			require.Nil(t, scans)
			for _, r := range fe.Rows {
				require.Positive(t, r.Line)
			}
			return
		}
		for _, s := range scans {
			require.NotEmpty(t, s.Card)
			require.NotEmpty(t, s.Gate)
			require.Positive(t, s.Line)
		}
	})
}
