package gate_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/virtual"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/gate/gatetest"
)

var (
	ntagUID = [7]byte{0x04, 0xDE, 0x5F, 0x1E, 0xAC, 0xC0, 0x40}
	now0    = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

func genKeys(tb testing.TB) *cardio.Keys {
	tb.Helper()
	k, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(tb, err)
	return k
}

// fakeEngine records taps and answers with a fixed decision.
type fakeEngine struct {
	mu   sync.Mutex
	taps []engine.Tap
	res  engine.Result
	err  error
}

func (f *fakeEngine) Validate(_ context.Context, tap engine.Tap) (engine.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.taps = append(f.taps, tap)
	r := f.res
	r.Tap = tap.ID
	return r, f.err
}

func (f *fakeEngine) Taps() []engine.Tap {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Tap(nil), f.taps...)
}

type fixture struct {
	g     *gate.Gate
	eng   *fakeEngine
	reg   *prometheus.Registry
	dir   string
	outs  []gate.Outcome
	keys  *cardio.Keys
	clock time.Time
}

// newFixture builds a gate whose hooks write their environment to files.
func newFixture(t *testing.T, mod func(*gate.Config)) *fixture {
	t.Helper()
	f := &fixture{eng: &fakeEngine{}, reg: prometheus.NewRegistry(), dir: t.TempDir(), keys: genKeys(t), clock: now0}
	m, err := gate.NewMetrics(f.reg)
	require.NoError(t, err)
	seq := uint64(100)
	cfg := gate.Config{
		Gate:      "mucem/g1",
		Device:    "mucem-g1",
		Read:      (&cardio.Reader{Keys: f.keys}).Read,
		Validate:  f.eng.Validate,
		NextSeq:   func() (uint64, error) { seq++; return seq, nil },
		Now:       func() time.Time { return f.clock },
		OnAccept:  "env | grep ^CITYPASS_ | sort > " + filepath.Join(f.dir, "accept"),
		OnDeny:    "env | grep ^CITYPASS_ | sort > " + filepath.Join(f.dir, "deny"),
		OnOutcome: func(o gate.Outcome) { f.outs = append(f.outs, o) },
		Metrics:   m,
	}
	if mod != nil {
		mod(&cfg)
	}
	f.g, err = gate.New(cfg)
	require.NoError(t, err)
	return f
}

// hookEnv returns what the hook wrote, or nil when it did not run.
func (f *fixture) hookEnv(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	return env
}

func (f *fixture) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return gatetest.MetricValue(t, f.reg, name, labels...)
}

func TestAccept(t *testing.T) {
	f := newFixture(t, nil)
	until := now0.Add(24 * time.Hour)
	f.eng.res = engine.Result{Decision: engine.Decision{Accept: true, Flags: engine.FlagActivated,
		Pass: "P1", Product: "cp24-adult", ValidUntil: until}, Message: "Welcome."}
	card, err := virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, f.keys, "")
	require.NoError(t, err)

	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R 00 00", ATR: card.ATR(), Card: card})
	require.NoError(t, o.Err)
	assert.Equal(t, gate.OutcomeDecided, o.Kind)
	assert.True(t, o.Accept())
	assert.Equal(t, "Welcome.", o.Message)
	assert.Equal(t, engine.Tap{ID: engine.TapID{Device: "mucem-g1", Seq: 101}, Card: card.UID(), Gate: "mucem/g1",
		At: now0, Counter: card.Counter(), HasCounter: true}, o.Tap)
	require.Len(t, f.eng.Taps(), 1)
	assert.Positive(t, o.ReadTime)

	env := f.hookEnv(t, "accept")
	assert.Equal(t, map[string]string{
		"CITYPASS_DECISION": "accept", "CITYPASS_REASON": "OK", "CITYPASS_MESSAGE": "Welcome.",
		"CITYPASS_GATE": "mucem/g1", "CITYPASS_DIRECTION": "entry", "CITYPASS_READER": "R 00 00",
		"CITYPASS_CARD": card.UID(), "CITYPASS_DEVICE": "mucem-g1", "CITYPASS_SEQ": "101",
		"CITYPASS_PASS": "P1", "CITYPASS_PRODUCT": "cp24-adult", "CITYPASS_FLAGS": "ACTIVATED",
		"CITYPASS_VALID_UNTIL": until.Format(time.RFC3339),
	}, env)
	assert.Nil(t, f.hookEnv(t, "deny"))
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_taps_total", "decision", "accept", "reason", "OK"))
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_card_read_seconds"))
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_decision_seconds"))
	require.Len(t, f.outs, 1)

	// The next tap of the same card carries a higher counter and sequence.
	o2 := f.g.Handle(t.Context(), gate.Presentation{Reader: "R 00 00", ATR: card.ATR(), Card: card})
	assert.Greater(t, o2.Tap.Counter, o.Tap.Counter)
	assert.Equal(t, uint64(102), o2.Tap.ID.Seq)
}

func TestWrongKeyIsJournaledInvalid(t *testing.T) {
	f := newFixture(t, nil)
	f.eng.res = engine.Result{Decision: engine.Decision{Reason: engine.ReasonInvalid}, Message: "Card not recognised."}
	card, err := virtual.NewWrongKeyNTAG424(t.Context(), ntagUID, "")
	require.NoError(t, err)
	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: card.ATR(), Card: card})
	assert.Equal(t, gate.OutcomeDecided, o.Kind)
	assert.ErrorIs(t, o.Err, cardio.ErrProofFailed, "the proof failure is kept for the log")
	taps := f.eng.Taps()
	require.Len(t, taps, 1)
	assert.True(t, taps[0].ProofFailed)
	assert.False(t, taps[0].HasCounter, "an unauthenticated counter is not passed on")
	assert.Equal(t, card.UID(), taps[0].Card)
	assert.Equal(t, "INVALID", f.hookEnv(t, "deny")["CITYPASS_REASON"])
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_taps_total", "decision", "deny", "reason", "INVALID"))
}

func TestRemovedMidReadJournalsNothing(t *testing.T) {
	f := newFixture(t, nil)
	card, err := virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, f.keys, "")
	require.NoError(t, err)
	card.RemoveAfter(4)
	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: card.ATR(), Card: card})
	assert.Equal(t, gate.OutcomeTapAgain, o.Kind)
	assert.ErrorIs(t, o.Err, cardio.ErrCardRemoved)
	assert.Equal(t, engine.TapAgainMessage(engine.English), o.Message)
	assert.Equal(t, "tap_again", o.DecisionName())
	assert.Empty(t, f.eng.Taps(), "no tap, no journal entry")
	assert.Nil(t, f.hookEnv(t, "accept"))
	assert.Nil(t, f.hookEnv(t, "deny"), "no hook for a card that left")
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_taps_total", "decision", "tap_again", "reason", "CARD_GONE"))
	assert.Zero(t, f.counter(t, "citypass_gate_decision_seconds"))
}

// uidCard is a UID-only storage card (MIFARE Ultralight); with noUID its
// reader cannot even read the UID.
type uidCard struct{ noUID bool }

func (c uidCard) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) >= 2 && cmd[0] == 0xFF && cmd[1] == 0xCA && !c.noUID {
		return []byte{0x04, 1, 2, 3, 4, 5, 6, 0x90, 0x00}, nil
	}
	return []byte{0x6A, 0x81}, nil
}

var ultralightATR = []byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06,
	0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x68}

func TestUIDOnlyCard(t *testing.T) {
	// Without --insecure-uid a UID-only card proves nothing: INVALID,
	// journaled under its UID.
	f := newFixture(t, nil)
	f.eng.res = engine.Result{Decision: engine.Decision{Reason: engine.ReasonInvalid}}
	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: ultralightATR, Card: uidCard{}})
	assert.Equal(t, gate.OutcomeDecided, o.Kind)
	assert.ErrorIs(t, o.Err, cardio.ErrInsecureMedium)
	require.Len(t, f.eng.Taps(), 1)
	assert.True(t, f.eng.Taps()[0].ProofFailed)
	assert.Equal(t, "04010203040506", f.eng.Taps()[0].Card)

	// With --insecure-uid the UID is the credential.
	f2 := newFixture(t, func(c *gate.Config) {
		c.Read = (&cardio.Reader{Options: cardio.ReadOptions{InsecureUID: true}}).Read
	})
	f2.eng.res = engine.Result{Decision: engine.Decision{Accept: true}}
	o = f2.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: ultralightATR, Card: uidCard{}})
	assert.Equal(t, gate.OutcomeDecided, o.Kind)
	require.NoError(t, o.Err)
	assert.Equal(t, "04010203040506", o.Tap.Card)
	assert.False(t, o.Tap.ProofFailed)
}

func TestUnreadableCardJournalsNothing(t *testing.T) {
	f := newFixture(t, nil)
	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: ultralightATR, Card: uidCard{noUID: true}})
	assert.Equal(t, gate.OutcomeUnreadable, o.Kind)
	assert.ErrorIs(t, o.Err, cardio.ErrUnsupportedMedium)
	assert.Equal(t, engine.UnreadableMessage(engine.English), o.Message)
	assert.Empty(t, f.eng.Taps())
	env := f.hookEnv(t, "deny")
	assert.Equal(t, "deny", env["CITYPASS_DECISION"])
	assert.Equal(t, "UNREADABLE", env["CITYPASS_REASON"])
	assert.Equal(t, "mucem/g1", env["CITYPASS_GATE"])
	assert.Equal(t, "", env["CITYPASS_SEQ"])
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_taps_total", "decision", "deny", "reason", "UNREADABLE"))
}

func TestValidateFailureKeepsGateShut(t *testing.T) {
	f := newFixture(t, nil)
	f.eng.err = errors.New("disk full")
	card, err := virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, f.keys, "")
	require.NoError(t, err)
	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: card.ATR(), Card: card})
	assert.Equal(t, gate.OutcomeError, o.Kind)
	assert.False(t, o.Accept())
	assert.ErrorContains(t, o.Err, "disk full")
	assert.Equal(t, "ERROR", f.hookEnv(t, "deny")["CITYPASS_REASON"])
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_taps_total", "decision", "deny", "reason", "ERROR"))
}

func TestHookTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	f := newFixture(t, func(c *gate.Config) {
		// The hook starts a child and waits for it: the whole group must go.
		c.OnAccept = "sleep 60 & echo $! > " + pidFile + "; wait"
		c.HookTimeout = 200 * time.Millisecond
	})
	f.eng.res = engine.Result{Decision: engine.Decision{Accept: true}}
	card, err := virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, f.keys, "")
	require.NoError(t, err)
	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: card.ATR(), Card: card})
	assert.True(t, o.Accept())
	assert.Equal(t, 1.0, f.counter(t, "citypass_gate_hook_failures_total", "hook", "accept"))
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	// SIGKILL was sent to the group; delivery is asynchronous, so wait
	// (bounded) until the child is gone or a zombie waiting for init.
	dead := func() bool {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return strings.Contains(string(st), ") Z ")
	}
	for deadline := time.Now().Add(5 * time.Second); !dead() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	assert.True(t, dead(), "the hook's child was killed with its group")
}

// TestHookBackgroundChildIsKilled (issue 20 item 13): a hook whose shell
// exits at once but leaves a background child holding its stdout does not
// outlive its timeout: the gate goes on, and the child is killed with the
// hook's process group.
func TestHookBackgroundChildIsKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	f := newFixture(t, func(c *gate.Config) {
		c.OnAccept = "sleep 60 & echo $! > " + pidFile
		c.HookTimeout = 200 * time.Millisecond
	})
	f.eng.res = engine.Result{Decision: engine.Decision{Accept: true}}
	card, err := virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, f.keys, "")
	require.NoError(t, err)
	start := time.Now()
	o := f.g.Handle(t.Context(), gate.Presentation{Reader: "R", ATR: card.ATR(), Card: card})
	assert.True(t, o.Accept())
	assert.Less(t, time.Since(start), 5*time.Second, "the gate is not held by the hook's child")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	dead := func() bool {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return strings.Contains(string(st), ") Z ")
	}
	for deadline := time.Now().Add(5 * time.Second); !dead() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !dead() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal("the hook's background child outlived the hook")
	}
}

func TestConfigValidation(t *testing.T) {
	read := (&cardio.Reader{}).Read
	val := (&fakeEngine{}).Validate
	for name, c := range map[string]gate.Config{
		"no gate":     {Read: read, Validate: val},
		"no read":     {Gate: "v/g", Validate: val},
		"no validate": {Gate: "v/g", Read: read},
		"negative":    {Gate: "v/g", Read: read, Validate: val, HookTimeout: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gate.New(c)
			assert.Error(t, err)
		})
	}
}

func TestClockSeqRises(t *testing.T) {
	at := now0
	next := gate.ClockSeq(func() time.Time { return at })
	a, err := next()
	require.NoError(t, err)
	assert.Equal(t, uint64(now0.UnixMicro()), a)
	b, _ := next() // same instant
	at = at.Add(-time.Second)
	c, _ := next() // clock stepped back
	at = at.Add(time.Hour)
	d, _ := next()
	assert.Equal(t, []uint64{a + 1, a + 2, uint64(at.UnixMicro())}, []uint64{b, c, d})
}

// TestRun: Run hands each presented card to Handle in order and keeps the
// reader and service gauges from the other events, with no reader stack.
func TestRun(t *testing.T) {
	f := newFixture(t, nil)
	f.eng.res = engine.Result{Decision: engine.Decision{Accept: true}, Message: "Welcome."}
	card, err := virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, f.keys, "")
	require.NoError(t, err)
	events := make(chan gate.Event, 8)
	events <- gate.Event{Kind: gate.ServiceUp}
	events <- gate.Event{Kind: gate.ReaderAdded, Presentation: gate.Presentation{Reader: "R 00 00"}}
	events <- gate.Event{Kind: gate.ReaderAdded, Presentation: gate.Presentation{Reader: "R 00 01"}}
	events <- gate.Event{Kind: gate.CardPresent, Presentation: gate.Presentation{Reader: "R 00 00", ATR: card.ATR(), Card: card}}
	events <- gate.Event{Kind: gate.CardRemoved, Presentation: gate.Presentation{Reader: "R 00 00"}}
	events <- gate.Event{Kind: gate.ReaderRemoved, Presentation: gate.Presentation{Reader: "R 00 01"}}
	events <- gate.Event{Kind: gate.CardPresent, Presentation: gate.Presentation{Reader: "R 00 00", ATR: card.ATR(), Card: card}}
	close(events)
	require.NoError(t, f.g.Run(t.Context(), events), "a closed channel ends Run cleanly")
	require.Len(t, f.outs, 2)
	assert.Equal(t, []uint64{101, 102}, []uint64{f.outs[0].Tap.ID.Seq, f.outs[1].Tap.ID.Seq})
	assert.Equal(t, 1.0, gatetest.MetricValue(t, f.reg, "citypass_gate_pcsc_up"))
	assert.Equal(t, 1.0, gatetest.MetricValue(t, f.reg, "citypass_gate_readers"))

	down := make(chan gate.Event, 1)
	down <- gate.Event{Kind: gate.ServiceDown, Err: assert.AnError}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.g.Run(ctx, down) }()
	require.Eventually(t, func() bool { return gatetest.MetricValue(t, f.reg, "citypass_gate_pcsc_up") == 0 }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done, "a cancelled context ends Run cleanly")
}
