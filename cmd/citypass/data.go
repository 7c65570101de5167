package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/explain"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// session is an open data dir: ledger, catalog and validator.
type session = datadir.DataDir

// dataOptions are the options every command opens the data dir with;
// readOnly opens its ledger read-only (ledger.Options.ReadOnly: nothing is
// written, so a backup on a read-only medium or a full disk can be
// inspected).
func (a *app) dataOptions(readOnly bool) *datadir.Options {
	return &datadir.Options{LockWait: a.lockWait, Engine: &engine.Options{Now: a.now},
		Ledger: &ledger.Options{ReadOnly: readOnly, OnFatal: a.onFatal}}
}

// onFatal is the ledger's OnFatal: after a fatal storage error (a failed
// WAL write, a full disk) the command prints the cause as one line and
// exits 1 at once, the same whichever goroutine of the ledger met it, with
// nothing acknowledged that is not durable.
func (a *app) onFatal(err error) {
	fmt.Fprintf(a.stderr, "citypass: %s\n", explain.Sentence(err))
	exit := a.exit
	if exit == nil {
		exit = os.Exit
	}
	exit(exitError)
}

// openSession opens the data dir: ledger, stored tariffs, validator. Inside
// a running hub (a forwarded command) it is the hub's own, borrowed: its
// Close leaves it open.
func (a *app) openSession() (*session, error) {
	return a.open(false)
}

// openReadSession opens the data dir for a command that only reads: its
// ledger read-only (inside a running hub: the hub's own, borrowed).
func (a *app) openReadSession() (*session, error) { return a.open(true) }

func (a *app) open(readOnly bool) (*session, error) {
	if a.shared != nil {
		return a.shared.Borrow(), nil
	}
	s, err := datadir.Open(a.ctx(), a.dataDir, a.dataOptions(readOnly))
	return s, a.dataHint(err)
}

// openLedger opens the data dir's ledger alone; release closes it (nothing
// inside a running hub).
func (a *app) openLedger() (l *ledger.Ledger, release func() error, err error) {
	return a.openLedgerAs(false)
}

// openReadLedger opens the data dir's ledger alone, read-only.
func (a *app) openReadLedger() (l *ledger.Ledger, release func() error, err error) {
	return a.openLedgerAs(true)
}

func (a *app) openLedgerAs(readOnly bool) (l *ledger.Ledger, release func() error, err error) {
	if a.shared != nil {
		return a.shared.Ledger, func() error { return nil }, nil
	}
	l, err = datadir.OpenLedger(a.ctx(), a.dataDir, a.dataOptions(readOnly))
	if err != nil {
		return nil, nil, a.dataHint(err)
	}
	return l, l.Close, nil
}

// dataHint adds to err the command that fixes it, if there is one.
func (a *app) dataHint(err error) error {
	switch {
	case errors.Is(err, datadir.ErrNotInitialized):
		return fmt.Errorf("%w: run `citypass init --data %s` first", err, a.dataDir)
	case errors.Is(err, datadir.ErrNoTariff):
		return fmt.Errorf("%w: run `citypass tariff load FILE` (on a fleet node: `citypass sync --once`, which brings the hub's tariffs)", err)
	}
	return err
}

// parseTime reads a time flag or field with tariff.ParseTime: RFC 3339,
// or a local date-time without offset in loc, between years 2000 and 2200
// (docs/semantics.md, "Instants"). Empty means now. A local time repeated
// by a daylight-saving change is read as the first of the two, with a
// warning on warn; one skipped by the change is a usage error.
func parseTime(what, s string, loc *time.Location, now time.Time, warn io.Writer) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	t, note, err := tariff.ParseTime(s, loc)
	if err != nil {
		return time.Time{}, usageErr("%s: %v", what, err)
	}
	if note != "" && warn != nil {
		fmt.Fprintf(warn, "citypass: warning: %s: %s\n", what, note)
	}
	return t, nil
}

// timeFlag reads a time flag (--name) in the zone of the tariff in force
// now; an empty value means now.
func (a *app) timeFlag(s *session, name, value string) (time.Time, error) {
	now := a.now()
	return parseTime("--"+name, value, s.Location(now), now, a.stderr)
}

// ctx returns the context commands run under.
func (a *app) ctx() context.Context { return context.Background() }

// oneLine folds an error message onto one line for stderr.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
