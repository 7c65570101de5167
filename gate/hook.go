package gate

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hookOutputMax bounds what is kept of a hook's output for the log.
const hookOutputMax = 4 << 10

// HookVar is one environment variable a hook gets, with what it holds.
type HookVar struct{ Name, Meaning string }

// HookVars are the environment variables HookEnv sets, in its order; `citypass
// gate --help` lists them from here.
var HookVars = []HookVar{
	{"CITYPASS_DECISION", "accept | deny"},
	{"CITYPASS_REASON", "OK, INVALID, REPLAYED, … (engine codes), ERROR, UNREADABLE"},
	{"CITYPASS_MESSAGE", "the text the gate shows, in the gate's language"},
	{"CITYPASS_GATE", "VENUE/GATE"},
	{"CITYPASS_DIRECTION", "entry | exit"},
	{"CITYPASS_READER", "PC/SC reader name"},
	{"CITYPASS_CARD", "card UID (upper-case hex; empty when unreadable)"},
	{"CITYPASS_DEVICE", "the tap's device (empty when no tap was made)"},
	{"CITYPASS_SEQ", "the tap's sequence number (empty when no tap was made)"},
	{"CITYPASS_PASS", "the pass id (empty when none)"},
	{"CITYPASS_PRODUCT", "the pass's product (empty when none)"},
	{"CITYPASS_FLAGS", "comma-separated flags, e.g. ACTIVATED,WARN_EXPIRING"},
	{"CITYPASS_VALID_UNTIL", "RFC 3339, empty when not activated"},
}

// HookEnv returns the environment variables a hook gets for o (HookVars).
// The hook inherits the gate's environment except its CITYPASS_* variables.
// Key material never appears in them.
func HookEnv(o *Outcome) []string {
	d := o.Result.Decision
	until := ""
	if !d.ValidUntil.IsZero() {
		until = d.ValidUntil.Format(time.RFC3339)
	}
	seq := ""
	if o.Tap.ID.Device != "" {
		seq = strconv.FormatUint(o.Tap.ID.Seq, 10)
	}
	return []string{
		"CITYPASS_DECISION=" + o.DecisionName(),
		"CITYPASS_REASON=" + o.ReasonName(),
		"CITYPASS_MESSAGE=" + o.Message,
		"CITYPASS_GATE=" + o.Gate,
		"CITYPASS_DIRECTION=" + o.Direction.String(),
		"CITYPASS_READER=" + o.Reader,
		"CITYPASS_CARD=" + o.Credential.UID,
		"CITYPASS_DEVICE=" + o.Tap.ID.Device,
		"CITYPASS_SEQ=" + seq,
		"CITYPASS_PASS=" + d.Pass,
		"CITYPASS_PRODUCT=" + d.Product,
		"CITYPASS_FLAGS=" + strings.Join(d.Flags.Names(), ","),
		"CITYPASS_VALID_UNTIL=" + until,
	}
}

// hook runs OnAccept or OnDeny for o, bounded by HookTimeout.
func (g *Gate) hook(o *Outcome) {
	name, cmdline := "deny", g.cfg.OnDeny
	if o.Accept() {
		name, cmdline = "accept", g.cfg.OnAccept
	}
	if cmdline == "" {
		return
	}
	// A hook that outlives the gate's shutdown would leave a half-open
	// gate: it gets its own bounded context instead.
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.HookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", cmdline)
	cmd.Env = append(hookBaseEnv(), HookEnv(o)...)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so a timeout kills what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A shell that exits but leaves a child holding its output: Wait gives
	// up on the output after WaitDelay, and the group is killed below.
	cmd.WaitDelay = min(time.Second, g.cfg.HookTimeout)
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		// Whatever the hook left running in its group ends with it (the
		// group's id stays reserved while any member lives; ESRCH when
		// none does).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = context.DeadlineExceeded
		}
		g.cfg.Metrics.hookFailed(name)
		g.log.Warn("hook failed", "hook", name, "err", err, "took_ms", ms(time.Since(start)), "output", out.String())
		return
	}
	g.log.Debug("hook ran", "hook", name, "took_ms", ms(time.Since(start)), "output", out.String())
}

// hookBaseEnv is the gate's environment without its own CITYPASS_*
// variables: a hook sees only the decision's, never configuration (or key
// material) the gate was started with.
func hookBaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CITYPASS_") {
			env = append(env, kv)
		}
	}
	return env
}

// limitedBuffer keeps the first hookOutputMax bytes written to it.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := hookOutputMax - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return strings.TrimSpace(l.b.String()) }
