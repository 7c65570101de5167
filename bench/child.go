package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// Child roles: what a re-executed child does. Each prints one JSON object
// (or, for the hold roles, "ready" lines) on stdout.
const (
	roleRawHold    = "raw-hold"    // open a raw store, commit synced batches until killed
	roleLedgerTaps = "ledger-taps" // open a ledger, time synced taps, report p99 and memory
	roleLedgerHold = "ledger-hold" // open a ledger, tap until killed
	roleReconcile  = "reconcile"   // open a ledger, close a month, report rate and memory
	roleRawScan    = "raw-scan"    // scan the journal keys with raw Pebble, report rate and memory
	roleCardVpcd   = "card-vpcd"   // private pcscd + vpcd, time card reads over PC/SC
	roleFleetHub   = "fleet-hub"   // run a fleet hub until SIGTERM, report its ingest
)

// childArgs are the flags of every role.
type childArgs struct {
	dir                   string
	passes, stride, prior int
	taps                  int
	through               string
	at                    string
	cpuProfile            string
}

// RunChild is the body of the bench child process: args come from a
// ChildFunc command line. It writes its report to stdout and returns when
// done (hold roles run until the parent kills them).
func RunChild(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("bench: child: no role")
	}
	fs := flag.NewFlagSet("bench child "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var a childArgs
	fs.StringVar(&a.dir, "dir", "", "data directory")
	fs.IntVar(&a.passes, "passes", 0, "passes (cards) in the ledger")
	fs.IntVar(&a.stride, "stride", 1, "tap cards 0, stride, 2·stride, …")
	fs.IntVar(&a.prior, "prior", 0, "taps every tapped card already has")
	fs.IntVar(&a.taps, "taps", 0, "taps to time")
	fs.StringVar(&a.through, "through", "", "service day (YYYY-MM-DD) the month end closes through")
	fs.StringVar(&a.at, "at", "", "closing instant (RFC 3339)")
	fs.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile of the child here")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("bench: child: %w", err)
	}
	if a.dir == "" {
		return errors.New("bench: child: --dir is required")
	}
	if a.cpuProfile != "" {
		pf, err := os.Create(a.cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: child: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("bench: child: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = pf.Close()
			if hf, err := os.Create(strings.TrimSuffix(a.cpuProfile, ".pprof") + ".heap.pprof"); err == nil {
				_ = pprof.WriteHeapProfile(hf)
				_ = hf.Close()
			}
		}()
	}
	switch args[0] {
	case roleRawHold:
		return rawHold(ctx, a.dir, stdout)
	case roleLedgerTaps:
		return childTaps(ctx, a, stdout)
	case roleLedgerHold:
		return childHold(ctx, a, stdout)
	case roleReconcile:
		return childReconcile(ctx, a, stdout)
	case roleRawScan:
		return childRawScan(ctx, a, stdout)
	case roleCardVpcd:
		return childCardVpcd(ctx, a, stdout)
	case roleFleetHub:
		return childFleetHub(ctx, a, stdout)
	}
	return fmt.Errorf("bench: child: unknown role %q", args[0])
}

// rawHold opens a raw store and commits synced batches forever, printing
// "ready <n>" after the first and then after every 100th commit, so that the
// parent knows what is durable when it kills the process.
func rawHold(ctx context.Context, dir string, stdout io.Writer) error {
	raw, err := openRaw(dir, Shape{})
	if err != nil {
		return err
	}
	defer raw.Close()
	w := raw.writer(1)
	for n := 1; ctx.Err() == nil; n++ {
		if err := w.commit(true); err != nil {
			return err
		}
		if n == 1 || n%100 == 0 {
			fmt.Fprintf(stdout, "ready %d\n", n)
		}
	}
	return ctx.Err()
}

// ChildRSSLimitMB is the default resident size at which the parent kills a
// measuring child (8× the 256 MB target; Env.ChildRSSLimitMB): a workload
// whose memory grows with the ledger must not take the machine down. The
// workload then reports the size reached and fails its targets.
const ChildRSSLimitMB = 2048

// ErrRSSLimit is returned for a child killed at ChildRSSLimitMB.
var ErrRSSLimit = errors.New("bench: child killed at the RSS limit")

// ChildTimeLimit is the default time after which the parent kills a
// measuring child (Env.ChildTimeLimit): a close of the big ledger slower than
// this is far below its target and must not hold the run.
const ChildTimeLimit = 20 * time.Minute

// ErrTimeLimit is returned for a child killed at its time limit.
var ErrTimeLimit = errors.New("bench: child killed at the time limit")

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr bytes.Buffer
	// Set by the watchdog of a measuring child.
	watch    chan struct{} // closed when the watchdog stops
	stop     chan struct{}
	killed   bool // at the RSS limit
	timedOut bool // at the time limit
	peakMB   float64
	limitMB  float64
	limitDur time.Duration
	started  time.Time // when the watchdog started
	// parentHWMMB is this process's VmHWM right after the child started:
	// the kernel's peak of the child (rusage) is at least this (see
	// waitJSON).
	parentHWMMB float64
	// ownPeak: the child reports its own VmHWM when it stops, and the
	// kernel's figure is not taken (see waitJSON).
	ownPeak bool
}

func startChild(env Env, args ...string) (*child, error) {
	if env.Child == nil {
		return nil, errNoChild
	}
	if env.ProfileDir != "" && args[0] != roleRawHold && args[0] != roleLedgerHold {
		args = append(args, "--cpuprofile", filepath.Join(env.ProfileDir, fmt.Sprintf("%s-%d.pprof", args[0], time.Now().UnixNano())))
	}
	c := &child{cmd: env.Child(args)}
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: child: %w", err)
	}
	c.out = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting child %s: %w", args[0], err)
	}
	if m, err := ReadMem(0); err == nil {
		c.parentHWMMB = m.MB()
	}
	if args[0] != roleRawHold && args[0] != roleLedgerHold {
		c.watchRSS(env.rssLimitMB(), env.timeLimit())
	}
	return c, nil
}

// watchRSS polls the child's VmRSS every 50 ms and kills it above limitMB
// or after limit.
func (c *child) watchRSS(limitMB float64, limit time.Duration) {
	c.watch, c.stop, c.limitMB, c.limitDur = make(chan struct{}), make(chan struct{}), limitMB, limit
	c.started = time.Now()
	deadline := c.started.Add(limit)
	go func() {
		defer close(c.watch)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				m, err := ReadMem(c.cmd.Process.Pid)
				if err != nil {
					continue // exiting
				}
				mb := float64(m.RSSBytes) / (1 << 20)
				c.peakMB = max(c.peakMB, mb)
				if mb > limitMB {
					c.killed = true
					_ = c.cmd.Process.Kill()
					return
				}
				if time.Now().After(deadline) {
					c.timedOut = true
					_ = c.cmd.Process.Kill()
					return
				}
			}
		}
	}()
}

// errNoChild says that the workload needs Env.Child.
var errNoChild = errors.New("bench: workload needs a child process (Env.Child is nil)")

// waitJSON reads the child's single JSON report into v and waits for it.
func (c *child) waitJSON(v any) error {
	b, rerr := io.ReadAll(c.out)
	werr := c.cmd.Wait()
	if c.watch != nil {
		close(c.stop)
		<-c.watch
		// The kernel's peak of the exited child catches what the polls can
		// miss: a child that passed the limit between two polls, or that was
		// born and done within one. But the child ran on this process's
		// memory until its exec (Go starts children with vfork), and Linux
		// counts that memory's peak into the child's: a figure at or below
		// this process's own peak may be ours, not the child's.
		// That comparison can still fail: this process's VmHWM read after
		// the exec is its memory's recorded peak or its resident size now,
		// and a resident size that had passed the recorded peak at the
		// exec, then fell, is counted into the child's figure but not into
		// ours (a fleet hub of 300 MB started by a parent of 2.6 GB that
		// had just opened 500 node ledgers read as over 2 GB). A child
		// that reports its own peak (ownPeak) is judged by that and the
		// polls alone.
		if ps := c.cmd.ProcessState; ps != nil && !c.ownPeak {
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				if mb := float64(ru.Maxrss) / 1024; mb > c.parentHWMMB { // Maxrss is in KiB on Linux
					c.peakMB = max(c.peakMB, mb)
				}
			}
		}
		if c.killed || c.peakMB > c.limitMB {
			return fmt.Errorf("%w: %s passed %.0f MB", ErrRSSLimit, c.cmd.Args, c.limitMB)
		}
		// Likewise for time: a child done within its first poll may still
		// have run past its limit.
		if c.timedOut || time.Since(c.started) > c.limitDur {
			return fmt.Errorf("%w: %s ran %v (peak RSS %.0f MB)", ErrTimeLimit, c.cmd.Args, c.limitDur, c.peakMB)
		}
	}
	if werr != nil {
		return fmt.Errorf("bench: child %s: %w: %s", c.cmd.Args, werr, strings.TrimSpace(c.stderr.String()))
	}
	if rerr != nil {
		return fmt.Errorf("bench: child: %w", rerr)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("bench: child report %q: %w", b, err)
	}
	return nil
}

// killAfter reads "ready <n>" lines until at least min durable commits
// and hold have passed, then sends SIGKILL and returns the last n reported.
func (c *child) killAfter(minCommits int, hold time.Duration) (int, error) {
	var last int
	var since time.Time
	for {
		line, err := c.out.ReadString('\n')
		if err != nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
			return 0, fmt.Errorf("bench: child ended before the kill: %v: %s", err, strings.TrimSpace(c.stderr.String()))
		}
		if _, err := fmt.Sscanf(line, "ready %d", &last); err != nil {
			continue
		}
		if since.IsZero() {
			since = time.Now()
		}
		if last >= minCommits && time.Since(since) >= hold {
			break
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("bench: killing child: %w", err)
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return 0, fmt.Errorf("bench: child did not die of SIGKILL: %v", err)
	}
	return last, nil
}
