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
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Child roles: what a re-executed child does. Each prints one JSON object
// (or, for the hold roles, "ready" lines) on stdout.
const (
	roleRawHold = "raw-hold" // open a raw store, commit synced batches until killed
)

// RunChild is the body of the bench child process: args come from a
// ChildFunc command line. It writes its report to stdout and returns when
// done (hold roles run until the parent kills them).
func RunChild(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("bench: child: no role")
	}
	fs := flag.NewFlagSet("bench child "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "data directory")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("bench: child: %w", err)
	}
	if *dir == "" {
		return errors.New("bench: child: --dir is required")
	}
	switch args[0] {
	case roleRawHold:
		return rawHold(ctx, *dir, stdout)
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

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr bytes.Buffer
}

func startChild(env Env, args ...string) (*child, error) {
	if env.Child == nil {
		return nil, errNoChild
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
	return c, nil
}

// errNoChild says that the workload needs Env.Child.
var errNoChild = errors.New("bench: workload needs a child process (Env.Child is nil)")

// waitJSON reads the child's single JSON report into v and waits for it.
func (c *child) waitJSON(v any) error {
	b, rerr := io.ReadAll(c.out)
	werr := c.cmd.Wait()
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
