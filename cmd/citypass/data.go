package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
)

// session is an open data dir: ledger, catalog and validator.
type session = datadir.DataDir

// dataOptions are the options every command opens the data dir with.
func (a *app) dataOptions() *datadir.Options {
	return &datadir.Options{LockWait: a.lockWait, Engine: &engine.Options{Now: a.now}}
}

// openSession opens the data dir: ledger, stored tariffs, validator.
func (a *app) openSession() (*session, error) {
	s, err := datadir.Open(a.ctx(), a.dataDir, a.dataOptions())
	return s, a.dataHint(err)
}

// openLedger opens the data dir's ledger alone.
func (a *app) openLedger() (*ledger.Ledger, error) {
	l, err := datadir.OpenLedger(a.ctx(), a.dataDir, a.dataOptions())
	return l, a.dataHint(err)
}

// dataHint adds to err the command that fixes it, if there is one.
func (a *app) dataHint(err error) error {
	switch {
	case errors.Is(err, datadir.ErrNotInitialized):
		return fmt.Errorf("%w: run `citypass init --data %s` first", err, a.dataDir)
	case errors.Is(err, datadir.ErrNoTariff):
		return fmt.Errorf("%w: run `citypass tariff load FILE`", err)
	}
	return err
}

// parseTime reads a --at style time: RFC 3339, or a local date-time without
// offset in loc ("2026-11-27T10:00", "2026-11-27 10:00:00"). Empty means now.
func parseTime(flag, s string, loc *time.Location, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErr("--%s %q: want RFC 3339 (2026-11-27T10:00:00+01:00) or a local date-time (2026-11-27T10:00)", flag, s)
}

// timeFlag reads a time flag in the zone of the tariff in force now; an empty
// value means now.
func (a *app) timeFlag(s *session, name, value string) (time.Time, error) {
	now := a.now()
	return parseTime(name, value, s.Location(now), now)
}

// ctx returns the context commands run under.
func (a *app) ctx() context.Context { return context.Background() }

// oneLine folds an error message onto one line for stderr.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
