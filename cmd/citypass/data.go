package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// Data directory layout:
//
//	<data>/ledger/         the Pebble ledger (passes, cards, taps, postings, statements, tariffs)
//	<data>/keys/cards.key  card master keys (cardio, mode 0600)
//	<data>/keys/           the statement signing key (reconcile, mode 0600)
const (
	keysDirName  = "keys"
	cardKeysName = "cards.key"
)

func (a *app) keysDir() string      { return filepath.Join(a.dataDir, keysDirName) }
func (a *app) cardKeysPath() string { return filepath.Join(a.keysDir(), cardKeysName) }

// lockWait is how long a command waits for another process to release the
// ledger before it says which process holds it.
var lockWait = 3 * time.Second

// openLedger opens the data dir's existing ledger, waiting briefly when another
// process holds it.
func (a *app) openLedger() (*ledger.Ledger, error) {
	dir := ledger.DirIn(a.dataDir)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data dir %s has no ledger: run `citypass init --data %s` first", a.dataDir, a.dataDir)
	}
	deadline := time.Now().Add(lockWait)
	for {
		l, err := ledger.Open(dir, &ledger.Options{MustExist: true})
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ledger.ErrLocked) || time.Now().After(deadline) {
			return nil, fmt.Errorf("opening ledger: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadCatalog reads every tariff version stored in the ledger.
func loadCatalog(l *ledger.Ledger) (*tariff.Catalog, error) {
	stored, err := l.Tariffs()
	if err != nil {
		return nil, fmt.Errorf("reading tariffs: %w", err)
	}
	if len(stored) == 0 {
		return nil, errors.New("the ledger holds no tariff: run `citypass tariff load FILE`")
	}
	versions := make([]*tariff.Tariff, 0, len(stored))
	for _, s := range stored {
		t, err := tariff.Load("tariff "+s.ID, s.TOML)
		if err != nil {
			return nil, fmt.Errorf("stored tariff %s no longer loads: %w", s.ID, err)
		}
		versions = append(versions, t)
	}
	return tariff.NewCatalog(versions...)
}

// session is an open data dir: ledger, catalog and validator.
type session struct {
	ledger    *ledger.Ledger
	catalog   *tariff.Catalog
	validator *engine.Validator
}

func (a *app) openSession() (*session, error) {
	l, err := a.openLedger()
	if err != nil {
		return nil, err
	}
	cat, err := loadCatalog(l)
	if err != nil {
		l.Close()
		return nil, err
	}
	v, err := engine.New(l, cat, &engine.Options{Now: a.now})
	if err != nil {
		l.Close()
		return nil, err
	}
	return &session{ledger: l, catalog: cat, validator: v}, nil
}

func (s *session) Close() error { return s.ledger.Close() }

// zone is the time zone local times are read in: the tariff in force now.
func (s *session) zone(now time.Time) *time.Location {
	if t, ok := s.catalog.At(now); ok {
		return t.Location
	}
	return time.UTC
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
	return parseTime(name, value, s.zone(now), now)
}

// ctx returns the context commands run under.
func (a *app) ctx() context.Context { return context.Background() }

// oneLine folds an error message onto one line for stderr.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
