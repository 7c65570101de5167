package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/tariff"
)

// FuzzReadReplay: the replay file reader never panics (issue 20 item 3: an
// unclosed quote did); every row it accepts has a seq from 1, a time in
// range and a line after the header, lines rising; every problem names a
// line. Seeds in testdata/fuzz/FuzzReadReplay; run longer with
// go test ./cmd/citypass -run '^$' -fuzz FuzzReadReplay -fuzztime 60s.
func FuzzReadReplay(f *testing.F) {
	for _, s := range []string{
		replayHead + "v1,1,2026-11-27T10:00,04A10001,mucem/main,entry\n",
		"\ufeff" + replayHead + "v1,1,2026-11-27T10:00:00+01:00,04A10001,mucem/main,exit\n",
		replayHead + "v1,2,\"2026-11-27T10:30,04A30001,mucem/main,entry\n",
		replayHead + "v1,1,2026-10-25T02:30,04A10001,mucem/main,\n\"v\n1\",2,2026-11-27T10:00,04A10001,mucem/main,entry\n",
		replayHead + "v1,x,9999-12-31T23:59,ZZ,mucem/main,sideways\nv1,1\n",
		"", "device,seq\n",
	} {
		f.Add([]byte(s))
	}
	loc, err := time.LoadLocation("Europe/Paris")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, refused := readReplay(strings.NewReader(string(data)), "f.csv", loc, io.Discard)
		last := 1
		for _, r := range rows {
			require.Greater(t, r.line, last, "lines rise after the header")
			last = r.line
			require.NotZero(t, r.tap.ID.Seq)
			require.NotEmpty(t, r.tap.ID.Device)
			require.NoError(t, tariff.CheckInstant(r.tap.At))
		}
		if refused != nil {
			require.NotEmpty(t, refused.problems)
			for _, p := range refused.problems {
				le, ok := p.(*replayLineError)
				require.True(t, ok)
				require.Positive(t, le.Line)
			}
		}
	})
}
