package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/demo"
	"github.com/citypass/citypass/fleet/sim"
)

func init() { registerCommand("demo", newDemoCmd) }

// newDemoCmd binds `citypass demo [--seed N] [--passes N] [--keep DIR] [--pcsc]`
// to demo.Run: the live tally on stderr, the finance summary (or with --json
// one object) on stdout.
func newDemoCmd(a *app) *cobra.Command {
	var cfg demo.Config
	cmd := localCmd(&cobra.Command{
		Use:   "demo",
		Short: "A day in the city: sell passes, tap virtual cards at gates, close, verify and pay the statements; then a fleet day",
		Long: "Plays Sunday 31 May 2026 in Marseille on the built-in sample tariff: about 2,000 passes sold onto\n" +
			"freshly personalized virtual NTAG 424 DNA (and DESFire) cards, their holders' taps read by the real\n" +
			"card code at 22 concurrent gates, decided by the engine and journaled durably in the ledger; then\n" +
			"the statements of every partner closed, verified and paid out (pain.001), and a finance summary.\n" +
			"The data dir is laid out as `citypass init` makes it and is kept, so every other command works on\n" +
			"it with --data. The same --seed gives the same decisions and byte-identical statements.\n" +
			"Then a fleet day (" + strconv.Itoa(demo.FleetHours) + " simulated hours): a hub and " + strconv.Itoa(demo.FleetNodes) + " nodes at " + strconv.Itoa(demo.FleetSites) + " sites on loopback, each node deciding taps\n" +
			"on its own ledger, one site cut off and healed, the month closed at the hub and checked against a\n" +
			"standalone ledger fed the same taps (citypass sim has the whole city).\n" +
			"With --pcsc a private pcscd is started and a museum gate and a bus validator each get a turnstile\n" +
			"with a real PC/SC reader: about " + strconv.Itoa(demo.PCSCTapsPerReader) + " of each one's taps are read by inserting the visitor's virtual\n" +
			"card through vpcd, as the production gate reads it (about 0.8 s a tap: pcscd polls every 400 ms).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Passes < 1 || cfg.Passes > demo.PassesMax {
				return usageErr("--passes %d: want 1 to %d", cfg.Passes, demo.PassesMax)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.Progress = a.stderr
			cfg.Out = a.stdout
			if a.json {
				cfg.Out = io.Discard
			}
			s, err := demo.Run(ctx, cfg)
			if errors.Is(err, demo.ErrPCSCUnavailable) {
				return withCode(exitError, err)
			}
			if err != nil {
				return err
			}
			// Then the fleet: a hub and a few sites, a partition healed.
			fleet, err := demo.FleetDay(ctx, cfg.Seed, a.stderr)
			if fleet != nil && !a.json {
				if werr := demo.WriteFleetSummary(a.stdout, fleet); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil {
				return err
			}
			if a.json {
				j := demoJSON(s)
				j.Fleet = fleet
				return json.NewEncoder(a.stdout).Encode(j)
			}
			return nil
		},
	})
	f := cmd.Flags()
	f.Int64Var(&cfg.Seed, "seed", 1, "the random `SEED`: it draws the day, the card UIDs and the keys; the same seed gives the same statements")
	f.IntVar(&cfg.Passes, "passes", demo.DefaultPasses, "`N` passes sold through the day")
	f.StringVar(&cfg.DataDir, "keep", "", "create the data dir in `DIR` (new or empty) instead of a new temporary directory")
	f.BoolVar(&cfg.PCSC, "pcsc", false, "start a private pcscd and read the taps of two gates (a museum, a bus) through it and vpcd (needs pcscd, vsmartcard-vpcd, root)")
	return cmd
}

type demoStatementJSON struct {
	ID       string `json:"id"`
	Partner  string `json:"partner"`
	Period   string `json:"period"`
	Visits   int    `json:"visits"`
	Net      string `json:"net"`
	CSV      string `json:"csv"`
	Manifest string `json:"manifest"`
}

type demoSummaryJSON struct {
	Seed          int64               `json:"seed"`
	Day           string              `json:"day"`
	Data          string              `json:"data"`
	Sales         int                 `json:"sales"`
	Gross         string              `json:"gross"`
	Taps          int                 `json:"taps"`
	Accepted      int                 `json:"accepted"`
	Denied        int                 `json:"denied"`
	DeniedBy      map[string]int      `json:"denied_by"`
	Gates         int                 `json:"gates"`
	DaySeconds    float64             `json:"day_s"`
	TapsPerSecond float64             `json:"taps_per_s"`
	Visits        map[string]int      `json:"visits_by_venue"`
	Statements    []demoStatementJSON `json:"statements"`
	Verified      int                 `json:"statements_verified"`
	Payout        string              `json:"payout_file"`
	PayoutTotal   string              `json:"payout_total"`
	Balanced      bool                `json:"trial_balance_balanced"`
	Files         []string            `json:"files"`
	Fleet         *sim.Report         `json:"fleet"` // the fleet day (fleet/sim's report)
}

func demoJSON(s *demo.Summary) demoSummaryJSON {
	j := demoSummaryJSON{Seed: s.Seed, Day: s.Day, Data: s.DataDir, Sales: s.Sales, Gross: s.SalesGross.StringFixed(2),
		Taps: s.Taps, Accepted: s.Accepted, Denied: s.Denied, DeniedBy: s.DeniedBy, Gates: s.Gates,
		DaySeconds: s.DayTime.Round(time.Millisecond).Seconds(), TapsPerSecond: float64(int(s.TapsPerSec)),
		Visits: s.VisitsByVenue, Verified: s.StatementsVerified, Files: s.Files,
		Statements: []demoStatementJSON{}}
	for _, st := range s.Statements {
		j.Statements = append(j.Statements, demoStatementJSON{ID: st.ID, Partner: st.Partner, Period: st.Period,
			Visits: st.Visits, Net: st.Net.StringFixed(2), CSV: st.CSVPath, Manifest: st.ManifestPath})
	}
	if s.Payout != nil {
		j.Payout, j.PayoutTotal = s.Payout.File, s.Payout.Total.StringFixed(2)
	}
	if s.TrialBalance != nil {
		j.Balanced = s.TrialBalance.Balanced
	}
	return j
}
