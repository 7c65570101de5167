package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet/natsio"
)

// Commands against a running hub (docs/fleet.md): while `citypass hub` runs
// on a data dir it holds the ledger, so every other command on that data
// dir is sent to it (NATS request/reply with the operator credential) and
// runs there, with this process's input and output.

// Annotations on commands.
const (
	// annotLocal marks a command that always runs in its own process
	// (init, hub, gate, sync, demo, bench, …).
	annotLocal = "citypass.local"
	// annotFileArgs marks a command whose positional arguments are paths.
	annotFileArgs = "citypass.fileargs"
)

// localCmd marks c as never forwarded.
func localCmd(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotLocal] = "true"
	return c
}

// fileArgs marks c's positional arguments as paths.
func fileArgs(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotFileArgs] = "true"
	return c
}

// forwardRequest is what the client sends the hub.
type forwardRequest struct {
	Args []string `json:"args"`
	Cwd  string   `json:"cwd"`
}

// forward runs args on the hub running on the data dir, if there is one
// and the command may run there. forwarded false means: run here.
func (a *app) forward(args []string) (code int, forwarded bool) {
	probe := &app{stdin: a.stdin, stdout: io.Discard, stderr: io.Discard, now: a.now}
	root := newRootCmd(probe)
	c, rest, err := root.Find(args)
	if err != nil || c == root || isLocal(c) {
		return 0, false
	}
	if err := c.ParseFlags(rest); err != nil {
		return 0, false // the command itself reports the usage error
	}
	if c.Flags().Changed("help") {
		return 0, false
	}
	rt, ok, err := datadir.ReadHubRuntime(probe.dataDir)
	if err != nil || !ok || !processAlive(rt.PID) || rt.PID == os.Getpid() {
		return 0, false
	}
	creds, err := natsio.LoadCredentials(datadir.OperatorCredsPath(probe.dataDir))
	if err != nil {
		fmt.Fprintf(a.stderr, "citypass: a hub (process %d) runs on %s, and its operator credentials cannot be read: %s\n", rt.PID, probe.dataDir, err)
		return exitError, true
	}
	fargs, err := forwardArgs(c, rest)
	if err != nil {
		return 0, false
	}
	cwd, _ := os.Getwd()
	conn, err := natsio.Connect(creds, natsio.ConnectOptions{URLs: rt.URLs, WaitConnected: true, Timeout: 3 * time.Second})
	if err != nil {
		fmt.Fprintf(a.stderr, "citypass: the hub (process %d) runs on %s but cannot be reached at %s: %s\n", rt.PID, probe.dataDir, strings.Join(rt.URLs, ","), err)
		return exitError, true
	}
	defer conn.Close()
	req, _ := json.Marshal(forwardRequest{Args: fargs, Cwd: cwd})
	code, err = conn.Exec(context.Background(), req, a.stdin, a.stdout, a.stderr)
	if err != nil {
		if errors.Is(err, natsio.ErrNoHub) {
			fmt.Fprintf(a.stderr, "citypass: the hub (process %d) on %s does not answer commands: %s\n", rt.PID, probe.dataDir, err)
		} else {
			fmt.Fprintf(a.stderr, "citypass: running the command on the hub: %s\n", err)
		}
		return exitError, true
	}
	return code, true
}

// isLocal reports whether c itself is marked local (a sub-command of a
// local command, such as `hub enroll`, is not), or is help or completion.
func isLocal(c *cobra.Command) bool {
	if c.Annotations[annotLocal] == "true" {
		return true
	}
	for ; c != nil; c = c.Parent() {
		if c.Name() == "help" || c.Name() == "completion" {
			return true
		}
	}
	return false
}

// processAlive reports whether process pid exists.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// forwardArgs rebuilds the command line for the hub: the command path, the
// flags that were set (paths made absolute; --data dropped, the hub uses its
// own) and the positional arguments (made absolute for commands whose
// arguments are paths).
func forwardArgs(c *cobra.Command, rest []string) ([]string, error) {
	path := strings.Fields(c.CommandPath())[1:]
	out := append([]string(nil), path...)
	var ferr error
	c.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "data" {
			return
		}
		vals := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		for _, v := range vals {
			if isPathFlag(f) && v != "" && v != "-" {
				abs, err := filepath.Abs(v)
				if err != nil {
					ferr = err
				}
				v = abs
			}
			out = append(out, "--"+f.Name+"="+v)
		}
	})
	pos := c.Flags().Args()
	for i, p := range pos {
		if p != "-" && (c.Annotations[annotFileArgs] == "true" || argIsPath(c, i)) {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			pos[i] = abs
		}
	}
	out = append(out, "--")
	return append(out, pos...), ferr
}

// isPathFlag reports whether a flag names a file or directory: marked so
// for shell completion, or documented with a FILE or DIR placeholder
// (“--out `DIR`”), the convention of every command's help.
func isPathFlag(f *pflag.Flag) bool {
	_, file := f.Annotations[cobra.BashCompFilenameExt]
	_, dir := f.Annotations[cobra.BashCompSubdirsInDir]
	name, _ := pflag.UnquoteUsage(f)
	return file || dir || name == "FILE" || name == "DIR"
}

// argIsPath reports whether c's i-th positional argument is a path: its
// placeholder in c.Use names a FILE or DIR ("replay FILE.csv", "verify DIR").
func argIsPath(c *cobra.Command, i int) bool {
	var args []string
	for _, w := range strings.Fields(c.Use)[1:] {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "(") {
			break
		}
		args = append(args, w)
	}
	return i < len(args) && (strings.Contains(args[i], "FILE") || strings.Contains(args[i], "DIR"))
}

// serveForwarded runs a forwarded command inside the running hub p.
func serveForwarded(p func() *app) natsio.ExecHandler {
	return func(ctx context.Context, req []byte, stdin io.Reader, stdout, stderr io.Writer) int {
		var r forwardRequest
		if err := json.Unmarshal(req, &r); err != nil {
			fmt.Fprintf(stderr, "citypass: the hub could not read the command: %s\n", err)
			return exitError
		}
		a := p()
		a.stdin, a.stdout, a.stderr = stdin, stdout, stderr
		// The hub's own data dir, whatever the client named (the same one,
		// found through the runtime file).
		return a.execute(append([]string{"--data", a.dataDir}, r.Args...))
	}
}
