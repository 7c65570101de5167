package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/explain"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/gate/pcscgate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

func init() { registerCommand("gate", newGateCmd) }

type gateFlags struct {
	readers           []string
	gate, device      string
	exit, insecureUID bool
	onAccept, onDeny  string
	hookTimeout       time.Duration
	metrics           string
	logLevel          string
	lang              string
}

// gateLong is `gate --help`'s text, with the hook variables from
// gate's own list.
func gateLong() string {
	var b strings.Builder
	b.WriteString(`Runs until SIGTERM or SIGINT. One line per decision on stdout; structured JSON logs on
stderr. --on-accept / --on-deny run a shell command (sh -c) with the decision in these
environment variables, killed after --hook-timeout:

`)
	for _, v := range gate.HookVars {
		fmt.Fprintf(&b, "  %-22s %s\n", v.Name, v.Meaning)
	}
	b.WriteString(`
--lang chooses the language of the messages the gate shows (en or fr; default: the
tariff's gate_language). --metrics ADDR serves Prometheus metrics on http://ADDR/metrics.

On a fleet node (` + "`citypass init --node`" + `) the gate also syncs with its hub in the same
process, as ` + "`citypass sync`" + ` does: taps are decided and journaled locally and uploaded
in the background, and the hub's tariffs, passes and cards come down. A tap never waits
on the network. The node needs the hub's card keys (keys/cards.key, mode 0600).`)
	return b.String()
}

func newGateCmd(a *app) *cobra.Command {
	var f gateFlags
	c := localCmd(&cobra.Command{
		Use:   "gate --reader NAME|auto --gate VENUE/GATE [--device ID]",
		Short: "Run a gate: read cards on PC/SC readers, decide, journal, drive the actuator hooks",
		Long:  gateLong(),
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return a.runGate(ctx, f)
		},
	})
	c.Flags().StringSliceVar(&f.readers, "reader", nil, "reader `NAME` or prefix (repeatable), or auto for every reader (required)")
	c.Flags().StringVar(&f.gate, "gate", "", "gate id `VENUE/GATE` (required)")
	c.Flags().StringVar(&f.device, "device", "", "device `ID` in tap ids; default: the gate id")
	c.Flags().BoolVar(&f.exit, "exit", false, "an exit gate: every tap is an exit")
	c.Flags().BoolVar(&f.insecureUID, "insecure-uid", false, "accept cards without cryptographic proof by UID alone (cloneable!)")
	c.Flags().StringVar(&f.onAccept, "on-accept", "", "shell `COMMAND` run after an accept (opens the gate)")
	c.Flags().StringVar(&f.onDeny, "on-deny", "", "shell `COMMAND` run after a deny or an unreadable card")
	c.Flags().DurationVar(&f.hookTimeout, "hook-timeout", 2*time.Second, "longest run time of a hook (a `DURATION`)")
	c.Flags().StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9464)")
	logLevelFlag(c, &f.logLevel, "info")
	c.Flags().StringVar(&f.lang, "lang", "", "language of the gate's messages, `LANG` en or fr (default: the tariff's)")
	_ = c.MarkFlagRequired("reader")
	_ = c.MarkFlagRequired("gate")
	return c
}

// gateEvents opens the source of a gate's reader events; stop releases it.
type gateEvents func(ctx context.Context, f gateFlags, log *slog.Logger) (events <-chan gate.Event, stop func(), err error)

// pcscEvents watches the PC/SC readers of --reader.
func pcscEvents(ctx context.Context, f gateFlags, log *slog.Logger) (<-chan gate.Event, func(), error) {
	mon, err := pcsc.Open(ctx, pcsc.Options{Readers: f.readers, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return pcscgate.Events(ctx, mon.Events()), func() { mon.Close() }, nil
}

func (a *app) runGate(ctx context.Context, f gateFlags) error {
	return a.runGateOn(ctx, f, pcscEvents)
}

// runGateOn runs the gate on the events of open; on a fleet node it syncs
// with the hub in the same process until the gate stops.
func (a *app) runGateOn(ctx context.Context, f gateFlags, open gateEvents) error {
	if f.logLevel == "" {
		f.logLevel = "info"
	}
	log, err := newLog(a.stderr, f.logLevel)
	if err != nil {
		return err
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := datadir.ReadIdentity(s.Ledger)
	if err != nil {
		return err
	}
	// A gate of a venue the tariff does not know is a configuration error,
	// found now rather than at the first tap.
	if t, ok := s.Catalog().At(a.now()); ok {
		if _, err := t.VenueOfGate(f.gate); err != nil {
			return err
		}
	}
	var lang engine.Language
	if f.lang != "" {
		if lang, err = engine.ParseLanguage(f.lang); err != nil {
			return usageErr("--lang %q: want en or fr", f.lang)
		}
	} else if t, ok := s.Catalog().At(a.now()); ok {
		lang = engine.TariffLanguage(t)
	}
	keys, err := cardio.LoadKeys(datadir.CardKeysPath(a.dataDir))
	if err != nil {
		if id.Role == fleet.Node && errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("card keys: %w: node %s reads cards with its hub's keys; copy the hub's %s to %s (mode 0600)",
				err, id.Node, filepath.Join(datadir.KeysDirName, datadir.CardKeysFile), datadir.CardKeysPath(a.dataDir))
		}
		return fmt.Errorf("card keys: %w", err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := gate.NewMetrics(reg)
	if err != nil {
		return err
	}
	if id.Role == fleet.Node {
		stopSync, err := a.startGateSync(ctx, s, reg, log)
		if err != nil {
			return err
		}
		defer stopSync()
	}
	if f.metrics != "" {
		stopMetrics, err := serveMetrics(f.metrics, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	dir := engine.Entry
	if f.exit {
		dir = engine.Exit
	}
	reader := &cardio.Reader{Keys: keys, Options: cardio.ReadOptions{InsecureUID: f.insecureUID}}
	g, err := gate.New(gate.Config{
		Gate: f.gate, Device: f.device, Direction: dir,
		Read: reader.Read, Validate: s.Validator.Validate,
		OnAccept: f.onAccept, OnDeny: f.onDeny, HookTimeout: f.hookTimeout,
		Metrics: metrics, Logger: log, Language: lang,
		OnOutcome: func(o gate.Outcome) { fmt.Fprintln(a.stdout, outcomeLine(o)) },
	})
	if err != nil {
		return err
	}
	events, stopEvents, err := open(ctx, f, log)
	if err != nil {
		return err
	}
	defer stopEvents()
	log.Info("gate running", "gate", f.gate, "readers", f.readers)
	err = g.Run(ctx, events)
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		log.Info("gate stopped", "gate", f.gate)
		return nil
	}
	return err
}

// startGateSync starts a node's sync on the gate's open ledger (one process
// holds it), reloading the gate's tariffs when the hub's state brings new
// versions, and registers the sync gauges; stop ends the sync.
func (a *app) startGateSync(ctx context.Context, s *session, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	// Staleness at a tap is judged by the live state_as_of of this sync
	// (Options.Validator).
	p, err := node.OpenProcess(ctx, a.dataDir, node.Options{Ledger: s.Ledger, Validator: s.Validator, Log: log, Sync: node.Config{
		OnTariffs: func() {
			if err := s.ReloadTariffs(); err != nil {
				log.Error("reloading the tariffs from the hub", "err", err)
				return
			}
			log.Info("tariffs reloaded from the hub", "versions", len(s.Catalog().Versions()))
		},
	}})
	if err != nil {
		return nil, err
	}
	stop = func() {
		if err := p.Close(); err != nil {
			log.Error("stopping the sync", "err", err)
		}
	}
	if err := registerSyncMetrics(reg, p, a.now); err != nil {
		stop()
		return nil, err
	}
	log.Info("syncing with the hub", "node", p.Identity.Node, "hub", p.Identity.Hub)
	return stop, nil
}

// registerSyncMetrics registers the sync gauges of node process p
// (gate.NewSyncMetrics) with reg; now is the node clock.
func registerSyncMetrics(reg prometheus.Registerer, p *node.Process, now func() time.Time) error {
	n := p.Node
	return gate.NewSyncMetrics(reg, func() gate.SyncStatus {
		st := n.Status()
		return gate.SyncStatus{Acked: st.Acked, Backlog: st.Backlog(), Connected: st.Connected, StateAsOf: st.State.AsOf}
	}, now)
}

// outcomeLine is the one line per presentation printed on stdout.
func outcomeLine(o gate.Outcome) string {
	switch o.Kind {
	case gate.OutcomeDecided:
		return fmt.Sprintf("%s %s %s card %s", o.Gate, o.Reader, tapLine(o.Result), o.Credential.UID)
	default:
		msg := o.Message
		if o.Err != nil {
			msg = fmt.Sprintf("%s (%s)", msg, explain.Sentence(o.Err))
		}
		return fmt.Sprintf("%s %s %s %s", o.Gate, o.Reader, o.DecisionName(), msg)
	}
}

// serveMetrics serves /metrics on addr until the returned function is called.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
