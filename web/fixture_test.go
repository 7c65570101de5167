package web_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/citypass/citypass/web"
)

// The fixture: a few passes on Sunday 31 May 2026 in Marseille (the sample
// tariff), with accepted taps, every kind of story event and denials, and
// the month's statements closed on 2 June.
const (
	cardAlice = "04A1000001" // cp24-adult: mucem, mucem again (ALREADY_REDEEMED), metro, metro (PASSBACK)
	cardBob   = "04B2000002" // cp48-adult, replaced onto cardBob2, old card tapped (REVOKED)
	cardBob2  = "04B2000003"
	cardCarl  = "04C3000004" // cp24-child, blocked (lost)
	cardDora  = "04D4000005" // cp24-adult, refunded unused
	cardEve   = "04E5000006" // never sold: INVALID
)

var fixtureDay = tariff.Date{Year: 2026, Month: time.May, Day: 31}

type fixture struct {
	dir   string
	loc   *time.Location
	alice string // pass ids
	bob   string
}

func (f *fixture) at(hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02T15:04", "2026-05-31T"+hhmm, f.loc)
	if err != nil {
		panic(err)
	}
	return t
}

// newFixture makes the fixture's data dir and closes it.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: filepath.Join(t.TempDir(), "data")}
	d, err := datadir.Init(ctx, f.dir, tariff.SampleTariff(), &datadir.InitOptions{Options: datadir.Options{Ledger: &ledger.Options{NoSync: true}}})
	require.NoError(t, err)
	defer func() { require.NoError(t, d.Close()) }()
	f.loc = d.Catalog().Versions()[0].Location
	v := d.Validator
	sell := func(product, card, at string) string {
		p, err := v.Sell(ctx, engine.SellRequest{Product: product, Card: card, At: f.at(at), Channel: "desk"})
		require.NoError(t, err)
		return p.ID
	}
	seq := uint64(0)
	tap := func(card, gate, at string) engine.Result {
		seq++
		res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "fx", Seq: seq}, Card: card, Gate: gate, At: f.at(at)})
		require.NoError(t, err)
		return res
	}
	f.alice = sell("cp24-adult", cardAlice, "09:00")
	f.bob = sell("cp48-adult", cardBob, "09:05")
	sell("cp24-child", cardCarl, "09:10")
	dora := sell("cp24-adult", cardDora, "09:15")
	tap(cardAlice, "mucem/g1", "10:00")
	tap(cardAlice, "mucem/g1", "11:00")
	tap(cardAlice, "rtm-metro/a", "12:00")
	tap(cardAlice, "rtm-metro/b", "12:05")
	tap(cardBob, "musee-histoire/g1", "10:30")
	_, err = v.Replace(ctx, f.bob, cardBob2, f.at("11:30"))
	require.NoError(t, err)
	tap(cardBob, "beaux-arts/g1", "12:30")
	tap(cardBob2, "beaux-arts/g1", "13:00")
	tap(cardCarl, "chateau-if/g1", "14:00")
	require.NoError(t, v.Block(ctx, cardCarl, engine.BlockLost, f.at("15:00")))
	tap(cardCarl, "mucem/g1", "15:30")
	_, err = v.Refund(ctx, dora, f.at("16:00"))
	require.NoError(t, err)
	tap(cardEve, "mucem/g1", "16:30")

	signer, err := d.Signer()
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "statements")
	require.NoError(t, os.MkdirAll(out, 0o700))
	closeAt := time.Date(2026, 6, 2, 10, 0, 0, 0, f.loc)
	_, err = reconcile.Close(ctx, d.Ledger, d.Catalog(), signer, reconcile.CloseOptions{Period: "2026-05", At: closeAt, OutDir: out})
	require.NoError(t, err)
	_, err = reconcile.Close(ctx, d.Ledger, d.Catalog(), signer, reconcile.CloseOptions{Period: "2026-05-31", At: closeAt, OutDir: out})
	require.NoError(t, err)
	return f
}

// source opens the fixture's data dir for each read, as `citypass serve` does.
func (f *fixture) source() web.Source {
	return func(ctx context.Context, fn func(*ledger.Ledger, *tariff.Catalog) error) error {
		d, err := datadir.Open(ctx, f.dir, nil)
		if err != nil {
			return err
		}
		defer d.Close()
		return fn(d.Ledger, d.Catalog())
	}
}

// now is 18:00 on the fixture's day.
func (f *fixture) now() time.Time { return f.at("18:00") }
