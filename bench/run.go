package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// Workload names, in the order Run runs them.
const (
	WorkDecide    = "decide"
	WorkGate1     = "gate1"
	WorkGates     = "gates"
	WorkScale     = "scale"
	WorkReconcile = "reconcile"
	WorkRecovery  = "recovery"
	WorkCard      = "card"
	WorkFleet     = "fleet"
)

// Workloads lists every workload name in run order.
var Workloads = []string{WorkDecide, WorkGate1, WorkGates, WorkScale, WorkReconcile, WorkRecovery, WorkCard, WorkFleet}

// MinRuns is the fewest runs a figure is the median of.
const MinRuns = 3

// ChildFunc returns the command that re-executes the current program in bench
// child mode with args; the program must hand args to RunChild. Run sets the
// command's stdout and stderr.
type ChildFunc func(args []string) *exec.Cmd

// Env is what every workload shares.
type Env struct {
	// Dir is the directory the workload keeps its data in; it must exist and
	// the workload leaves its files there (Run removes its temp dir).
	Dir string
	// Runs is how many times a figure is measured; its median is reported.
	// Values below MinRuns mean MinRuns.
	Runs int
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// Child re-executes the program in child mode (scale, reconcile,
	// recovery). Nil: those workloads cannot run and say so.
	Child ChildFunc
	// ProfileDir, when set, receives a CPU profile of every measuring child
	// (<role>-<nanotime>.pprof) and of the parent (bench.pprof).
	ProfileDir string
	// ChildRSSLimitMB is the VmRSS at which a measuring child is killed;
	// default ChildRSSLimitMB.
	ChildRSSLimitMB float64
	// ChildTimeLimit is how long a measuring child may run; default
	// ChildTimeLimit.
	ChildTimeLimit time.Duration
}

func (e *Env) timeLimit() time.Duration {
	if e.ChildTimeLimit > 0 {
		return e.ChildTimeLimit
	}
	return ChildTimeLimit
}

func (e *Env) rssLimitMB() float64 {
	if e.ChildRSSLimitMB > 0 {
		return e.ChildRSSLimitMB
	}
	return ChildRSSLimitMB
}

func (e *Env) runs() int { return max(e.Runs, MinRuns) }

func (e *Env) logf(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, "bench: "+format+"\n", args...)
	}
}

// Config is a whole bench run.
type Config struct {
	// Quick shrinks every workload so the whole run takes under a minute.
	Quick bool
	// Only restricts the run to these workload names; empty runs all.
	Only []string
	// TempDir is where the run's temporary data directory is made; default
	// os.TempDir(). The data directory is removed when Run returns.
	TempDir string
	// Runs, Progress, Child, ProfileDir: see Env.
	Runs       int
	Progress   io.Writer
	Child      ChildFunc
	ProfileDir string
	// Shape is the raw baselines' batch shape; zero: see Shape's defaults.
	Shape Shape

	Decide DecideConfig
	Gate1  Gate1Config
	Gates  GatesConfig
	Ledger LedgerConfig // the big and small ledgers of scale, reconcile and recovery
	Card   CardConfig
	Fleet  FleetConfig
}

// CheckOnly validates names for Config.Only.
func CheckOnly(names []string) error {
	for _, n := range names {
		if !slices.Contains(Workloads, n) {
			return fmt.Errorf("bench: unknown workload %q (have %s)", n, strings.Join(Workloads, ", "))
		}
	}
	return nil
}

func (c *Config) wants(name string) bool { return len(c.Only) == 0 || slices.Contains(c.Only, name) }

// Run runs the selected workloads and returns their figures with the
// targets evaluated. A workload whose dependency is missing (no Child, no
// pcscd) is noted in Result.Meta.Notes rather than failing the run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := CheckOnly(cfg.Only); err != nil {
		return nil, err
	}
	start := time.Now()
	dir, err := os.MkdirTemp(cfg.TempDir, "citypass-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	env := Env{Dir: dir, Runs: cfg.Runs, Progress: cfg.Progress, Child: cfg.Child, ProfileDir: cfg.ProfileDir}
	if cfg.ProfileDir != "" {
		pf, err := os.Create(filepath.Join(cfg.ProfileDir, "bench.pprof"))
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = pf.Close()
		}()
	}
	res := &Result{Meta: machine()}
	res.Meta.Quick = cfg.Quick
	res.Meta.Runs = env.runs()
	note := func(work, why string) {
		if res.Meta.Notes == nil {
			res.Meta.Notes = map[string]string{}
		}
		res.Meta.Notes[work] = why
		env.logf("%s: %s", work, why)
	}
	sub := func(name string) (Env, error) {
		e := env
		e.Dir = dir + "/" + name
		return e, os.MkdirAll(e.Dir, 0o755)
	}

	if cfg.wants(WorkDecide) {
		dc := cfg.Decide
		dc.Quick = dc.Quick || cfg.Quick
		if res.Decide, err = RunDecide(ctx, env, dc); err != nil {
			return nil, err
		}
	}
	shape := cfg.Shape
	if (cfg.wants(WorkGate1) || cfg.wants(WorkGates)) && shape == (Shape{}) {
		e, err := sub("calibrate")
		if err != nil {
			return nil, err
		}
		if shape, err = CalibrateShape(ctx, e); err != nil {
			return nil, err
		}
	}
	if cfg.wants(WorkGate1) || cfg.wants(WorkGates) {
		res.Meta.Shape = shape.withDefaults().String()
	}
	if cfg.wants(WorkGate1) {
		e, err := sub(WorkGate1)
		if err != nil {
			return nil, err
		}
		gc := cfg.Gate1
		gc.Quick = gc.Quick || cfg.Quick
		gc.Shape = shape
		if res.Gate1, err = RunGate1(ctx, e, gc); err != nil {
			return nil, err
		}
	}
	if cfg.wants(WorkGates) {
		e, err := sub(WorkGates)
		if err != nil {
			return nil, err
		}
		gc := cfg.Gates
		gc.Quick = gc.Quick || cfg.Quick
		gc.Shape = shape
		if res.Gates, err = RunGates(ctx, e, gc); err != nil {
			return nil, err
		}
	}
	if cfg.wants(WorkScale) || cfg.wants(WorkReconcile) || cfg.wants(WorkRecovery) {
		lc := cfg.Ledger
		lc.Quick = lc.Quick || cfg.Quick
		if err := runLedgerWorkloads(ctx, env, lc, &cfg, res, note); err != nil {
			return nil, err
		}
	}
	if cfg.wants(WorkCard) {
		cc := cfg.Card
		cc.Quick = cc.Quick || cfg.Quick
		if res.Card, err = RunCard(ctx, env, cc); err != nil {
			return nil, err
		}
		if res.Card.VpcdNote != "" {
			note(WorkCard, res.Card.VpcdNote)
		}
	}
	if cfg.wants(WorkFleet) {
		if env.Child == nil {
			note(WorkFleet, "not run: needs a child process (Config.Child)")
		} else {
			e, err := sub(WorkFleet)
			if err != nil {
				return nil, err
			}
			fc := cfg.Fleet
			fc.Quick = fc.Quick || cfg.Quick
			if res.Fleet, err = RunFleet(ctx, e, fc); err != nil {
				return nil, err
			}
		}
	}
	res.Evaluate()
	res.Meta.Seconds = round(time.Since(start).Seconds(), 1)
	return res, nil
}

// machine describes the host.
func machine() Meta {
	m := Meta{
		Date: time.Now().UTC().Format(time.RFC3339),
		CPUs: runtime.NumCPU(),
		Go:   runtime.Version(),
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/cockroachdb/pebble/v2" {
				m.Pebble = d.Version
			}
		}
	}
	if m.Pebble == "" {
		m.Pebble = "unknown" // test binaries carry no dependency list
	}
	return m
}

// runLedgerWorkloads builds the big (and, for scale, the small) ledger and
// runs scale, reconcile and recovery on them.
func runLedgerWorkloads(ctx context.Context, env Env, lc LedgerConfig, cfg *Config, res *Result, note func(work, why string)) error {
	if env.Child == nil {
		for _, w := range []string{WorkScale, WorkReconcile, WorkRecovery} {
			if cfg.wants(w) {
				note(w, "not run: needs a child process (Config.Child)")
			}
		}
		return nil
	}
	lc = lc.withDefaults()
	if err := lc.validate(); err != nil {
		return err
	}
	big, err := BuildLedger(ctx, env, env.Dir+"/big/ledger", lc.Passes, lc.Taps)
	if err != nil {
		return err
	}
	if cfg.wants(WorkScale) {
		small, err := BuildLedger(ctx, env, env.Dir+"/small/ledger", lc.SmallTaps/lc.tapsPerPass(), lc.SmallTaps)
		if err != nil {
			return err
		}
		if res.Scale, err = RunScale(ctx, env, lc, big, small); err != nil {
			return err
		}
		if err := os.RemoveAll(env.Dir + "/small"); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if cfg.wants(WorkReconcile) {
		e := env
		e.Dir = env.Dir + "/reconcile"
		if res.Reconcile, err = RunReconcile(ctx, e, big); err != nil {
			return err
		}
	}
	if cfg.wants(WorkRecovery) {
		if res.Recovery, err = RunRecovery(ctx, env, lc, big); err != nil {
			return err
		}
		s := res.Recovery.FirstReadS
		res.RecoveryS = &s
	}
	return nil
}
