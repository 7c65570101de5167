package engine_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/engine/memstore"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// TestScenarios runs every engine/testdata/*.txt scenario on every store:
// the in-memory memstore and the real Pebble ledger. The format is described
// in engine/testdata/README.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, b := range scenarioStores {
		t.Run(b.name, func(t *testing.T) {
			for _, f := range files {
				t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
					t.Parallel()
					runScenario(t, f, b)
				})
			}
		})
	}
}

// scenarioStore opens a fresh, empty engine.Store for one `tariff` command of
// a scenario; now is the scenario's clock (it stamps RecordedAt). Stores that
// need closing register it with t.Cleanup.
type scenarioStore struct {
	name string
	open func(t *testing.T, tt *tariff.Tariff, now func() time.Time) engine.Store
}

var scenarioStores = []scenarioStore{
	{"memstore", func(t *testing.T, _ *tariff.Tariff, now func() time.Time) engine.Store { return memstore.New(now) }},
	// The ledger as a gate runs it: every commit fsync'd (the scenarios are a
	// few hundred commits, so syncing costs little). When the scenario ends,
	// ledger check must find the journal, usage (the set of visits),
	// postings and balances consistent with what the engine wrote.
	{"ledger", func(t *testing.T, tt *tariff.Tariff, now func() time.Time) engine.Store {
		l, err := ledger.Open(t.TempDir(), &ledger.Options{Now: now})
		require.NoError(t, err)
		t.Cleanup(func() {
			rep, err := ledger.Check(l)
			require.NoError(t, err)
			assert.True(t, rep.OK(), "ledger check: %s %v", rep.Summary(), rep.Problems)
			require.NoError(t, l.Close())
		})
		return l
	}},
}

// seededRand is a deterministic source of pass ids for tests.
type seededRand struct{ r *rand.ChaCha8 }

func newSeededRand(seed byte) *seededRand {
	var s [32]byte
	s[0] = seed
	return &seededRand{rand.NewChaCha8(s)}
}

func (s *seededRand) Read(p []byte) (int, error) { return s.r.Read(p) }

type scenario struct {
	t      *testing.T
	file   string
	line   int
	ctx    context.Context
	tariff *tariff.Tariff
	stores scenarioStore
	v      *engine.Validator
	passes map[string]string // label → pass id
	seq    uint64
	now    time.Time
	asOf   time.Time // the ledger's state_as_of (state-as-of); zero: standalone
}

func (s *scenario) failf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s:%d: %s", s.file, s.line, fmt.Sprintf(format, args...))
}

func runScenario(t *testing.T, file string, stores scenarioStore) {
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	s := &scenario{t: t, file: file, ctx: context.Background(), passes: map[string]string{}, stores: stores}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s.line++
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		cmd, expect, hasExpect := strings.Cut(line, "->")
		fields := strings.Fields(cmd)
		if fields[0] != "tariff" && s.v == nil {
			s.failf("the first command must be `tariff NAME`")
		}
		var opErr error
		switch fields[0] {
		case "tariff":
			s.setup(fields)
			continue
		case "tap":
			s.tap(fields[1:], strings.TrimSpace(expect))
			continue
		case "sell":
			opErr = s.sell(fields[1:])
		case "refund":
			opErr = s.refund(fields[1:])
		case "block":
			opt := s.opts(fields[2:])
			opErr = s.v.Block(s.ctx, fields[1], opt["reason"], s.time(opt["at"]))
		case "unblock":
			opErr = s.v.Unblock(s.ctx, fields[1])
		case "replace":
			opt := s.opts(fields[2:])
			_, opErr = s.v.Replace(s.ctx, s.pass(fields[1]), opt["card"], s.time(opt["at"]))
		case "show":
			s.show(fields[1:])
			continue
		case "state-as-of":
			s.stateAsOf(fields[1:])
			continue
		default:
			s.failf("unknown command %q", fields[0])
		}
		s.checkOp(opErr, hasExpect, strings.TrimSpace(expect))
	}
	require.NoError(t, sc.Err())
}

// checkOp: without "->" an operation must succeed; "-> error TEXT" wants an
// error containing TEXT.
func (s *scenario) checkOp(err error, hasExpect bool, expect string) {
	s.t.Helper()
	if !hasExpect {
		if err != nil {
			s.failf("unexpected error: %v", err)
		}
		return
	}
	want, ok := strings.CutPrefix(expect, "error")
	if !ok {
		s.failf("an operation can only expect `-> error TEXT`")
	}
	if err == nil {
		s.failf("want error %q, got success", strings.TrimSpace(want))
	}
	if !strings.Contains(err.Error(), strings.TrimSpace(want)) {
		s.failf("want error containing %q, got %v", strings.TrimSpace(want), err)
	}
}

func (s *scenario) setup(fields []string) {
	if len(fields) != 2 {
		s.failf("want `tariff NAME`")
	}
	s.tariff = fixtureTariff(fields[1])
	cat, err := tariff.NewCatalog(s.tariff)
	require.NoError(s.t, err)
	store := s.stores.open(s.t, s.tariff, func() time.Time { return s.now })
	s.asOf = time.Time{}
	s.v, err = engine.New(store, cat, &engine.Options{Rand: newSeededRand(1), Now: func() time.Time { return s.now },
		StateAsOf: func() (time.Time, error) { return s.asOf, nil }})
	require.NoError(s.t, err)
}

// state-as-of T|none: from now on the ledger is a fleet node whose copy of
// the hub's state is complete up to T (none: standalone again).
func (s *scenario) stateAsOf(args []string) {
	if len(args) != 1 {
		s.failf("want `state-as-of T` or `state-as-of none`")
	}
	if args[0] == "none" {
		s.asOf = time.Time{}
		return
	}
	s.asOf = s.time(args[0])
}

// opts reads key=value words.
func (s *scenario) opts(words []string) map[string]string {
	m := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			m[w] = "true"
			continue
		}
		m[k] = v
	}
	return m
}

// time reads a local time in the tariff's zone ("2026-11-23 10:00" is two
// words, so scenarios write "2026-11-23T10:00" or "2026-11-23T10:00:00"), or
// an RFC 3339 time with an offset (needed inside the repeated autumn hour).
func (s *scenario) time(v string) time.Time {
	s.t.Helper()
	if v == "" {
		s.failf("time missing")
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, v, s.tariff.Location); err == nil {
			return t
		}
	}
	s.failf("bad time %q", v)
	return time.Time{}
}

func (s *scenario) pass(label string) string {
	id, ok := s.passes[label]
	if !ok {
		return label // an unknown label is passed through as an id
	}
	return id
}

// sell LABEL PRODUCT card=UID at=T [start=DATE] [channel=NAME]
func (s *scenario) sell(args []string) error {
	if len(args) < 2 {
		s.failf("want `sell LABEL PRODUCT card=UID at=T`")
	}
	opt := s.opts(args[2:])
	req := engine.SellRequest{Product: args[1], Card: opt["card"], At: s.time(opt["at"]), Channel: opt["channel"]}
	if st, ok := opt["start"]; ok {
		d, err := tariff.ParseDate(st)
		if err != nil {
			s.failf("%v", err)
		}
		req.Start = &d
	}
	s.now = req.At
	p, err := s.v.Sell(s.ctx, req)
	if err == nil {
		s.passes[args[0]] = p.ID
	}
	return err
}

// refund LABEL at=T
func (s *scenario) refund(args []string) error {
	opt := s.opts(args[1:])
	_, err := s.v.Refund(s.ctx, s.pass(args[0]), s.time(opt["at"]))
	return err
}

// show LABEL|card=UID at=T [status=S] [valid_until=T] [entries=N] [card=UID] [blocked=true|false]
func (s *scenario) show(args []string) {
	s.t.Helper()
	opt := s.opts(args)
	s.now = s.time(opt["at"])
	var view engine.PassView
	var err error
	if uid, ok := opt["of-card"]; ok {
		view, err = s.v.ShowCard(s.ctx, uid)
	} else {
		view, err = s.v.ShowPass(s.ctx, s.pass(args[0]))
	}
	if err != nil {
		s.failf("show: %v", err)
	}
	check := func(key, got string) {
		if want, ok := opt[key]; ok && want != got {
			s.failf("show %s: want %q, got %q", key, want, got)
		}
	}
	check("status", view.Status)
	check("entries", strconv.Itoa(view.Entries))
	check("card", view.Card)
	check("blocked", strconv.FormatBool(view.Blocked))
	check("pass", s.labelOf(view.Pass))
	if want, ok := opt["replaced_by"]; ok {
		got := "none"
		if view.ReplacedCard != nil {
			got = view.ReplacedCard.ReplacedBy
		}
		if want != got {
			s.failf("show replaced_by: want %q, got %q", want, got)
		}
	}
	if want, ok := opt["replaced_at"]; ok {
		var got time.Time
		if view.ReplacedCard != nil {
			got, _ = time.Parse(time.RFC3339, view.ReplacedCard.ReplacedAt)
		}
		if !got.Equal(s.time(want)) {
			s.failf("show replaced_at: want %s, got %+v", s.time(want).Format(time.RFC3339), view.ReplacedCard)
		}
	}
	if want, ok := opt["valid_until"]; ok {
		if want == "none" {
			if view.ValidUntil != "" {
				s.failf("show valid_until: want none, got %s", view.ValidUntil)
			}
		} else if got, _ := time.Parse(time.RFC3339, view.ValidUntil); !got.Equal(s.time(want)) {
			s.failf("show valid_until: want %s, got %q", s.time(want).Format(time.RFC3339), view.ValidUntil)
		}
	}
}

func (s *scenario) labelOf(id string) string {
	for l, p := range s.passes {
		if p == id {
			return l
		}
	}
	return id
}

// tap CARD GATE T [exit] [device=D] [seq=N] [counter=N] [proof=bad] -> EXPECT
//
// EXPECT: accept [FLAG…] [until=T] | deny REASON | error [TEXT]; prefixed by
// "duplicate" when the tap repeats an earlier id.
func (s *scenario) tap(args []string, expect string) {
	s.t.Helper()
	if len(args) < 3 || expect == "" {
		s.failf("want `tap CARD GATE TIME [options] -> EXPECT`")
	}
	opt := s.opts(args[3:])
	tap := engine.Tap{Card: args[0], Gate: args[1], At: s.time(args[2]), ID: engine.TapID{Device: "t"}}
	if opt["exit"] == "true" {
		tap.Direction = engine.Exit
	}
	if d, ok := opt["device"]; ok {
		tap.ID.Device = d
	}
	if n, ok := opt["seq"]; ok {
		seq, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			s.failf("bad seq %q", n)
		}
		tap.ID.Seq = seq
	} else {
		s.seq++
		tap.ID.Seq = 1_000_000 + s.seq
	}
	if n, ok := opt["counter"]; ok {
		c, err := strconv.ParseUint(n, 10, 32)
		if err != nil {
			s.failf("bad counter %q", n)
		}
		tap.Counter, tap.HasCounter = uint32(c), true
	}
	tap.ProofFailed = opt["proof"] == "bad"
	s.now = tap.At
	res, err := s.v.Validate(s.ctx, tap)

	words := strings.Fields(expect)
	dup := false
	if words[0] == "duplicate" {
		dup, words = true, words[1:]
	}
	switch words[0] {
	case "error":
		if err == nil {
			s.failf("want error, got %s %v", res.Decision.Reason, res.Decision.Flags.Names())
		}
		if want := strings.Join(words[1:], " "); !strings.Contains(err.Error(), want) {
			s.failf("want error containing %q, got %v", want, err)
		}
		return
	case "accept", "deny":
	default:
		s.failf("bad expectation %q", expect)
	}
	if err != nil {
		s.failf("unexpected error: %v", err)
	}
	got := fmt.Sprintf("%s %s %v", map[bool]string{true: "accept", false: "deny"}[res.Decision.Accept],
		res.Decision.Reason, res.Decision.Flags.Names())
	var want string
	var flags []string
	var until string
	if words[0] == "deny" {
		if len(words) != 2 {
			s.failf("want `deny REASON`")
		}
		want = fmt.Sprintf("deny %s []", words[1])
	} else {
		for _, w := range words[1:] {
			if u, ok := strings.CutPrefix(w, "until="); ok {
				until = u
				continue
			}
			flags = append(flags, w)
		}
		slices.SortFunc(flags, func(a, b string) int { return flagOrder(a) - flagOrder(b) })
		want = fmt.Sprintf("accept OK %v", append([]string{}, flags...))
	}
	if got != want {
		s.failf("tap %s %s %s: want %s, got %s (%s)", args[0], args[1], args[2], want, got, res.Message)
	}
	if res.Duplicate != dup {
		s.failf("duplicate: want %v, got %v", dup, res.Duplicate)
	}
	if until != "" {
		if until == "none" {
			if !res.Decision.ValidUntil.IsZero() {
				s.failf("valid until: want none, got %s", res.Decision.ValidUntil)
			}
		} else if w := s.time(until); !res.Decision.ValidUntil.Equal(w) {
			s.failf("valid until: want %s, got %s", w.Format(time.RFC3339), res.Decision.ValidUntil.Format(time.RFC3339))
		}
	}
}

func flagOrder(name string) int {
	for i, n := range (engine.Flags(0xff)).Names() {
		if n == name {
			return i
		}
	}
	return 100
}

var _ = errors.Is
