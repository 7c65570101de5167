package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

func init() { registerCommand("hub", newHubCmd) }

func newHubCmd(a *app) *cobra.Command {
	var listen, natsURLs, tlsCert, tlsKey string
	var replicas int
	f := obsFlags{dashboard: serveFlags{hub: true}}
	c := localCmd(&cobra.Command{
		Use:   "hub [--listen HOST:PORT] [--nats URLS --replicas N] [--tls-cert FILE --tls-key FILE] [--dashboard HOST:PORT]",
		Short: "Run the back office of a fleet on this data dir: nodes' taps in, state down",
		Long: `Run the hub: an embedded NATS JetStream server (or an existing cluster with --nats),
the ingest of every node's taps into this ledger, and the service that runs every other
citypass command on this data dir while the hub holds it. Stops on SIGINT or SIGTERM.
Structured JSON logs on stderr (--log-level debug adds every upload applied and every
node contact); --metrics ADDR serves Prometheus metrics on http://ADDR/metrics (ingest,
per-node backlog, contact and clock, quarantined and at-risk records, the streams, the
state publisher: docs/fleet.md, "Observing the hub").

--dashboard HOST:PORT serves the read-only web dashboard (as ` + "`citypass serve`" + ` does) from
inside the hub, with the fleet page: each node's last contact, acknowledged and reported
seqs, backlog, staleness, clock offset, quarantined taps and seqs at risk. On 127.0.0.1 it
needs nothing else; beyond loopback it needs --dashboard-token-file FILE (the first line is
the token; give people http://HOST:PORT/?token=TOKEN).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return a.runHub(ctx, hub.Options{Listen: listen, NATS: hub.SplitURLs(natsURLs), Replicas: replicas, TLSCert: tlsCert, TLSKey: tlsKey}, f)
		},
	})
	c.Flags().StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9464)")
	logLevelFlag(c, &f.logLevel, "info")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:4222", "`HOST:PORT` nodes connect to; beyond loopback TLS is required")
	c.Flags().StringVar(&natsURLs, "nats", "", "use an existing NATS cluster (comma-separated `URLS`) instead of the embedded server")
	c.Flags().IntVar(&replicas, "replicas", 3, "`N` stream replicas on an existing cluster (--nats)")
	c.Flags().StringVar(&tlsCert, "tls-cert", "", "TLS certificate `FILE` (PEM) of the embedded server")
	c.Flags().StringVar(&tlsKey, "tls-key", "", "TLS private key `FILE` (PEM) of the embedded server")
	_ = c.MarkFlagFilename("tls-cert")
	_ = c.MarkFlagFilename("tls-key")
	c.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	c.Flags().StringVar(&f.dashboard.listen, "dashboard", "", "serve the web dashboard on `HOST:PORT` (e.g. 127.0.0.1:8080)")
	c.Flags().StringVar(&f.dashboard.tokenFile, "dashboard-token-file", "", "`FILE` whose first line is the dashboard's access token (required beyond loopback)")
	_ = c.MarkFlagFilename("dashboard-token-file")

	var node, out string
	enroll := &cobra.Command{
		Use:   "enroll --node ID --out FILE",
		Short: "Enroll a node: write its credentials (mode 0600) for `citypass init --node`",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.runEnroll(node, out) },
	}
	enroll.Flags().StringVar(&node, "node", "", "node `ID`: lower-case letters, digits and dashes")
	enroll.Flags().StringVar(&out, "out", "", "`FILE` to write the node's credentials to")
	_ = enroll.MarkFlagRequired("node")
	_ = enroll.MarkFlagRequired("out")
	_ = enroll.MarkFlagFilename("out")
	c.AddCommand(enroll)
	return c
}

// obsFlags are the observability flags of the hub and of sync.
type obsFlags struct {
	metrics  string // --metrics ADDR; "" serves none
	logLevel string // --log-level; "" is info
	// dashboard is the hub's --dashboard and --dashboard-token-file
	// (listen "" serves none).
	dashboard serveFlags
}

// runHub runs the hub on the data dir until ctx ends.
func (a *app) runHub(ctx context.Context, o hub.Options, f obsFlags) error {
	if f.logLevel == "" {
		f.logLevel = "info"
	}
	log, err := newLog(a.stderr, f.logLevel)
	if err != nil {
		return err
	}
	var token string
	if f.dashboard.listen != "" {
		f.dashboard.hub = true
		if token, err = f.dashboard.check(); err != nil {
			return err
		}
	}
	o.Data = a.dataOptions(false)
	o.Log = log
	p, err := hub.Open(ctx, a.dataDir, o)
	if err != nil {
		return a.dataHint(err)
	}
	defer p.Close()
	if f.metrics != "" {
		reg := prometheus.NewRegistry()
		if err := p.RegisterMetrics(reg); err != nil {
			return err
		}
		stopMetrics, err := serveMetrics(f.metrics, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	if err := p.ServeCommands(serveForwarded(func() *app {
		return &app{dataDir: a.dataDir, now: a.now, shared: p.Data, hubProc: p}
	})); err != nil {
		return err
	}
	// The dashboard reads the hub's own open ledger (the hub holds it, so
	// a separate citypass serve could not open it) and stops before the
	// hub closes it.
	var dashURL string
	var dashDone chan error
	if f.dashboard.listen != "" {
		src := func(_ context.Context, fn func(*ledger.Ledger, *tariff.Catalog) error) error {
			return fn(p.Data.Ledger, p.Data.Catalog())
		}
		ready := make(chan string, 1)
		dashDone = make(chan error, 1)
		go func() { dashDone <- a.serveDashboard(ctx, f.dashboard, token, src, hubFleetPage(src, a.now), ready) }()
		select {
		case addr := <-ready:
			dashURL = "http://" + addr + "/"
		case err := <-dashDone:
			return err
		}
	}
	if a.json {
		out := map[string]any{"hub": a.dataDir, "urls": p.URLs, "epoch": p.Data.Ledger.Epoch()}
		if dashURL != "" {
			out["dashboard"] = dashURL
		}
		_ = json.NewEncoder(a.stdout).Encode(out)
	} else {
		fmt.Fprintf(a.stdout, "hub on %s listening at %v (ledger epoch %016x); Ctrl-C stops it\n", a.dataDir, p.URLs, p.Data.Ledger.Epoch())
		if dashURL != "" {
			fmt.Fprintf(a.stdout, "citypass dashboard on %s\n", dashURL)
		}
	}
	select {
	case <-ctx.Done():
	case err := <-dashDone: // a nil channel without a dashboard
		return fmt.Errorf("the dashboard stopped: %w", err)
	}
	fmt.Fprintln(a.stdout, "hub stopping")
	if dashDone != nil {
		if err := <-dashDone; err != nil {
			return fmt.Errorf("stopping the dashboard: %w", err)
		}
	}
	return nil
}

func (a *app) runEnroll(node, out string) error {
	if err := fleet.CheckNodeID(node); err != nil {
		return usageErr("--node %q: want lower-case letters, digits and dashes (at most 63), starting with a letter or digit", node)
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.Close()
	var p *hub.Process
	if a.hubProc != nil {
		p = a.hubProc
	}
	creds, err := hub.Enroll(a.ctx(), s, p.EmbeddedServer(), node, a.now())
	if err != nil {
		return err
	}
	if err := creds.Save(out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(map[string]any{"node": node, "credentials": out, "hub": creds.Hub})
	}
	fmt.Fprintf(a.stdout, "enrolled node %s: credentials in %s (mode 0600; carry them to the node: `citypass init --node %s --hub %s --creds FILE`)\n",
		node, out, node, creds.Hub[0])
	return nil
}

// refuseOnNode fails a lifecycle command run on a node's data dir, naming
// its hub: sales, refunds, blocks and tariffs are the hub's.
func (a *app) refuseOnNode(l *ledger.Ledger, what string) error {
	id, err := datadir.ReadIdentity(l)
	if err != nil {
		return err
	}
	if id.Role == fleet.Node {
		return fmt.Errorf("%s runs at the hub: this data dir is node %s of the hub at %v", what, id.Node, id.Hub)
	}
	return nil
}
