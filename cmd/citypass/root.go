package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/explain"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/tariff"
	"github.com/spf13/cobra"
)

// Exit codes (docs/semantics.md, "Command line").
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitDenied      = 3 // tap denied
	exitDiscrepancy = 4 // reconcile match found discrepancies
)

// app carries what every command shares: global flags and the process's
// streams and clock, injected so that tests run commands in-process.
type app struct {
	dataDir string
	json    bool
	// lockWait is how long a command waits for another process to release
	// the ledger; zero means datadir.DefaultLockWait.
	lockWait time.Duration

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	// exit ends the process after a fatal storage error (see onFatal);
	// nil: os.Exit.
	exit func(code int)

	// shared is the running hub's data dir while the hub serves a forwarded
	// command (forward.go); hubProc the hub itself.
	shared  *session
	hubProc *hub.Process
}

// exitErr is an error with the exit code it should produce.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitErr) Unwrap() error { return e.err }

// withCode wraps err so that run exits with code. A nil err with a non-zero
// code exits silently (the command already printed its result).
func withCode(code int, err error) error { return &exitErr{code: code, err: err} }

// usageErr marks a usage error (exit 2).
func usageErr(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

// commandFactories holds one constructor per command group; each command file
// registers its own in init, so adding a command touches one file.
var commandFactories = map[string]func(a *app) *cobra.Command{}

func registerCommand(name string, f func(a *app) *cobra.Command) { commandFactories[name] = f }

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "citypass",
		Short:         "Contactless city-pass transaction engine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := os.Getenv("CITYPASS_DATA")
	if def == "" {
		def = "./citypass-data"
	}
	root.PersistentFlags().StringVar(&a.dataDir, "data", def, "the data `DIR`: ledger, keys, tariffs (default: $CITYPASS_DATA, else ./citypass-data)")
	// The usage says the default and where it comes from; pflag would add
	// the value found again ("(default "./citypass-data")").
	root.PersistentFlags().Lookup("data").DefValue = ""
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print results as JSON")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(exitUsage, err) })
	names := make([]string, 0, len(commandFactories))
	for n := range commandFactories {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		root.AddCommand(commandFactories[n](a))
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	typeUsageErrors(root)
	return root
}

// run executes the command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	return a.execute(args)
}

func (a *app) execute(args []string) int {
	if a.shared == nil {
		if code, forwarded := a.forward(args); forwarded {
			return code
		}
	}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitError
	var ee *exitErr
	if errors.As(err, &ee) {
		code = ee.code
		err = ee.err
	} else if isBadRequest(err) {
		code = exitUsage
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "citypass: %s\n", explain.Sentence(err))
	}
	return code
}

// isBadRequest recognizes the library's errors for a malformed request: a
// bad argument of the command line (a card UID that is not hex, a time out
// of range, a period label that does not parse, text over its limits) is a
// usage error (exit 2).
func isBadRequest(err error) bool {
	return errors.Is(err, engine.ErrBadRequest) || errors.Is(err, tariff.ErrOutOfRange) || errors.Is(err, tariff.ErrBadText)
}
