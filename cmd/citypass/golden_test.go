package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/gate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// transcript records commands run on one data dir and what they printed,
// as a person would see them in a terminal.
type transcript struct {
	t   *testing.T
	dir string
	b   strings.Builder
}

func newTranscript(t *testing.T) *transcript {
	return &transcript{t: t, dir: initData(t)}
}

// run runs a command and records it: "$ citypass ARGS", its stdout, its
// stderr lines after "! ", and "[exit N]" when not 0.
func (tr *transcript) run(args ...string) string {
	tr.t.Helper()
	out, errOut, code := cli(tr.t, tr.dir, args...)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " '\"|;&") {
			quoted[i] = "'" + a + "'"
		}
	}
	fmt.Fprintf(&tr.b, "$ citypass %s\n%s", strings.Join(quoted, " "), out)
	for _, l := range strings.Split(strings.TrimRight(errOut, "\n"), "\n") {
		if l != "" {
			tr.b.WriteString("! " + l + "\n")
		}
	}
	if code != exitOK {
		fmt.Fprintf(&tr.b, "[exit %d]\n", code)
	}
	tr.b.WriteString("\n")
	return out
}

// note adds a comment line.
func (tr *transcript) note(s string) { tr.b.WriteString("# " + s + "\n") }

// sell sells a pass at 08:00 on 27 November 2026 and returns its id.
func (tr *transcript) sell(product, card string, more ...string) string {
	tr.t.Helper()
	return sell(tr.t, tr.dir, product, card, more...)
}

var passID = regexp.MustCompile(`P-[A-Z0-9]{16}`)

// checkGolden compares text with testdata/golden/name, after naming the
// things that change from run to run: the data dir ($DATA), temporary
// directories ($TMP) and pass ids (P-1, P-2, … in order of appearance).
// With -update it rewrites the file.
func checkGolden(t *testing.T, name, text string, dirs map[string]string) {
	t.Helper()
	for dir, as := range dirs {
		text = strings.ReplaceAll(text, dir, as)
	}
	ids := map[string]string{}
	text = passID.ReplaceAllStringFunc(text, func(id string) string {
		if ids[id] == "" {
			ids[id] = fmt.Sprintf("P-%d", len(ids)+1)
		}
		return ids[id]
	})
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/citypass -run %s -update", t.Name())
	if string(want) == text {
		return
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(text, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Errorf("testdata/golden/%s differs from line %d (review, and run with -update if intended):\nwant: %s\ngot:  %s", name, i+1, w, g)
			return
		}
	}
}

// TestGoldenTaps: what a visitor is told at a gate, in English and in
// French, for every kind of decision a tap at the command line and a
// turnstile can reach, as `citypass tap` and `citypass gate` print it.
func TestGoldenTaps(t *testing.T) {
	for _, lang := range []string{"en", "fr"} {
		t.Run(lang, func(t *testing.T) {
			tr := newTranscript(t)
			a := tr.sell("cp24-adult", "04A1000001")
			tr.sell("cp24-child", "04C1000003")
			tr.sell("museums-3days-adult", "04D1000004")
			r := tr.sell("cp48-adult", "04E1000005")
			tr.sell("cp24-adult", "04B1000002")
			x := tr.sell("cp24-adult", "04F1000006")
			tr.sell("congress-48h", "04A2000008", "--start", "2026-11-29")
			cli(t, tr.dir, "pass", "refund", r, "--at", "2026-11-27T09:00")
			cli(t, tr.dir, "pass", "block", "--card", "04B1000002", "--reason", "lost", "--at", "2026-11-27T09:00")
			cli(t, tr.dir, "pass", "replace", x, "--card", "04F2000007", "--at", "2026-11-27T09:00")
			tr.note("passes sold at 08:00; " + r + " refunded, 04B1000002 blocked, " + x + " moved from 04F1000006 to 04F2000007")
			_ = a
			tap := func(card, gate, at string, more ...string) {
				tr.run(append([]string{"tap", "--card", card, "--gate", gate, "--at", at, "--lang", lang}, more...)...)
			}
			tap("04A1000001", "mucem/g1", "2026-11-27T10:00")
			tap("04A1000001", "mucem/g1", "2026-11-27T10:05")
			tap("04A1000001", "rtm-metro/a", "2026-11-27T10:30")
			tap("04A1000001", "rtm-metro/b", "2026-11-27T10:40")
			tap("04A1000001", "rtm-metro/b", "2026-11-27T10:41", "--json")
			tap("04A1000001", "rtm-metro/b", "2026-11-27T10:45", "--exit")
			tap("04C1000003", "chateau-if/g1", "2026-11-27T11:00")
			tap("04D1000004", "rtm-metro/a", "2026-11-27T11:00")
			tap("04D1000004", "rtm-metro/a", "2026-11-27T11:05")
			tap("04D1000004", "chateau-if/g1", "2026-11-27T11:30")
			tap("04E1000005", "mucem/g1", "2026-11-27T12:00")
			tap("04B1000002", "mucem/g1", "2026-11-27T12:00")
			tap("04F1000006", "mucem/g1", "2026-11-27T12:00")
			tap("04FF00000F", "mucem/g1", "2026-11-27T12:00")
			tap("04A2000008", "mucem/g1", "2026-11-27T12:00")
			tap("04A1000001", "beaux-arts/g1", "2026-11-28T09:30")
			tap("04A1000001", "musee-histoire/g1", "2026-11-28T10:30")

			tr.note("citypass gate --gate mucem/g2 --lang " + lang + ": a card taken away, a card that does not answer, a known card")
			for _, line := range gateLines(t, tr.dir, engine.Language(lang)) {
				tr.b.WriteString(line + "\n")
			}
			checkGolden(t, "taps-"+lang+".txt", tr.b.String(), map[string]string{tr.dir: "$DATA"})
		})
	}
}

// gateLines runs the gate loop on three presentations read by a scripted
// reader and returns the lines `citypass gate` prints for them.
func gateLines(t *testing.T, dir string, lang engine.Language) []string {
	d, err := datadir.Open(context.Background(), dir, nil)
	require.NoError(t, err)
	defer d.Close()
	reads := []func() (cardio.Credential, error){
		func() (cardio.Credential, error) { return cardio.Credential{}, cardio.ErrCardRemoved },
		func() (cardio.Credential, error) {
			return cardio.Credential{}, fmt.Errorf("reading the card: %w", errors.New("cardio: no answer to SELECT"))
		},
		func() (cardio.Credential, error) { return cardio.Credential{UID: "04C1000003"}, nil },
	}
	var lines []string
	at := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	seq := uint64(0)
	g, err := gate.New(gate.Config{Gate: "mucem/g2", Language: lang,
		Read: func(context.Context, cardio.Transmitter, []byte) (cardio.Credential, error) {
			r := reads[0]
			reads = reads[1:]
			return r()
		},
		Validate: d.Validator.Validate,
		Now:      func() time.Time { return at },
		NextSeq:  func() (uint64, error) { seq++; return seq, nil },
		OnOutcome: func(o gate.Outcome) {
			lines = append(lines, outcomeLine(o))
		}})
	require.NoError(t, err)
	events := make(chan gate.Event, 8)
	events <- gate.Event{Kind: gate.ServiceUp}
	events <- gate.Event{Kind: gate.ReaderAdded, Presentation: gate.Presentation{Reader: "R 00 00"}}
	for range 3 {
		events <- gate.Event{Kind: gate.CardPresent, Presentation: gate.Presentation{Reader: "R 00 00"}}
		events <- gate.Event{Kind: gate.CardRemoved, Presentation: gate.Presentation{Reader: "R 00 00"}}
	}
	close(events)
	require.NoError(t, g.Run(context.Background(), events))
	require.Len(t, lines, 3)
	return lines
}

// TestGoldenViews: tariff show, today, a pass's and a replaced card's
// story, as an operator reads them and as JSON.
func TestGoldenViews(t *testing.T) {
	tr := newTranscript(t)
	tr.run("tariff", "show")
	tr.run("--json", "tariff", "show")
	checkGolden(t, "tariff-show.txt", tr.b.String(), map[string]string{tr.dir: "$DATA"})

	tr = newTranscript(t)
	a := tr.sell("cp24-adult", "04A1000001")
	r := tr.sell("cp48-adult", "04E1000005")
	x := tr.sell("cp24-child", "04F1000006")
	tr.sell("museums-3days-adult", "04D1000004")
	for _, tap := range [][]string{
		{"04A1000001", "mucem/g1", "2026-11-27T10:00"}, {"04A1000001", "mucem/g1", "2026-11-27T10:05"},
		{"04A1000001", "rtm-metro/a", "2026-11-27T10:30"}, {"04A1000001", "rtm-metro/b", "2026-11-27T10:40"},
		{"04F1000006", "chateau-if/g1", "2026-11-27T11:00"}, {"04D1000004", "chateau-if/g1", "2026-11-27T11:30"},
		{"04D1000004", "beaux-arts/g1", "2026-11-27T11:45"}, {"04FF00000F", "mucem/g1", "2026-11-27T12:00"},
	} {
		cli(t, tr.dir, "tap", "--card", tap[0], "--gate", tap[1], "--at", tap[2])
	}
	cli(t, tr.dir, "tap", "--card", "04A1000001", "--gate", "rtm-metro/a", "--at", "2026-11-27T13:00", "--exit")
	tr.run("pass", "refund", r, "--at", "2026-11-27T14:00")
	tr.run("pass", "block", "--card", "04F1000006", "--reason", "lost", "--at", "2026-11-27T15:00")
	tr.run("pass", "replace", x, "--card", "04F2000007", "--at", "2026-11-27T15:05")
	cli(t, tr.dir, "tap", "--card", "04F1000006", "--gate", "mucem/g1", "--at", "2026-11-27T16:00")
	cli(t, tr.dir, "tap", "--card", "04F2000007", "--gate", "mucem/g1", "--at", "2026-11-27T16:05")
	tr.run("today", "--day", "2026-11-27")
	tr.run("--json", "today", "--day", "2026-11-27")
	tr.run("today", "--day", "2026-11-26")
	tr.run("pass", "history", a)
	tr.run("pass", "show", "--card", "04F1000006")
	tr.run("--json", "pass", "history", "--card", "04F1000006")
	tr.run("ledger", "check")
	checkGolden(t, "views.txt", tr.b.String(), map[string]string{tr.dir: "$DATA"})
}

// TestGoldenErrors: what goes wrong, said in one sentence a desk operator
// reads, with local times and their offset.
func TestGoldenErrors(t *testing.T) {
	tr := newTranscript(t)
	tmp := t.TempDir()
	a := tr.sell("cp24-adult", "04A1000001")
	r := tr.sell("cp48-adult", "04E1000005")
	cli(t, tr.dir, "tap", "--card", "04A1000001", "--gate", "mucem/g1", "--at", "2026-11-27T10:00")
	cli(t, tr.dir, "pass", "refund", r, "--at", "2026-11-27T09:30")
	tr.note("passes sold at 08:00; " + a + " used at 10:00, " + r + " refunded at 09:30")
	tr.run("pass", "refund", a)
	tr.run("pass", "refund", r)
	tr.run("pass", "refund", tr.sell("cp72-adult", "04B1000002"), "--at", "2026-11-27T07:00")
	tr.run("pass", "show", "P-NOSUCHPASS00000")
	tr.run("pass", "show", "--card", "04CC000099")
	tr.run("pass", "sell", "--product", "cp24-adult", "--card", "zz")
	tr.run("pass", "sell", "--product", "cp24-adult", "--card", "04A1000001")
	tr.run("pass", "sell", "--product", "cp96-adult", "--card", "04AB000099")
	tr.run("pass", "sell", "--product", "cp24-adult", "--card", "04AB000099", "--at", "2025-12-31T10:00")
	tr.run("pass", "unblock", "--card", "04A1000001")
	tr.run("pass", "replace", a, "--card", "04E1000005")
	tr.run("pass", "replace", a, "--card", "04F1000006", "--at", "2026-11-27T07:30")
	tr.run("tap", "--card", "04A1000001", "--gate", "nowhere/g1", "--at", "2026-11-27T10:00")
	tr.run("tap", "--card", "04A1000001", "--gate", "mucem/g1", "--at", "1999-12-31T10:00")
	tr.run("tap", "--card", "04A1000001", "--gate", "mucem/g1", "--at", "yesterday")
	tr.run("reconcile", "close", "--period", "2026-11", "--at", "2026-11-27T18:00", "--out", tmp)
	tr.run("report", "dashboard", "--from", "2026-11-28", "--to", "2026-11-27", "--out", filepath.Join(tmp, "d.html"))
	tr.run("today", "--day", "27/11/2026")
	tr.run("tariff", "show", "--version", "marseille-2025")
	tr.run("--data", filepath.Join(tmp, "nothing-here"), "today")
	checkGolden(t, "errors.txt", tr.b.String(), map[string]string{tr.dir: "$DATA", tmp: "$TMP"})
}
