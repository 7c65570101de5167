package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
	"github.com/citypass/citypass/web"
)

func init() { registerCommand("serve", newServeCmd) }

type serveFlags struct {
	listen, tokenFile, tlsCert, tlsKey, clientCA string
	// hub: the flags are hub's --dashboard and --dashboard-token-file.
	hub bool
}

func newServeCmd(a *app) *cobra.Command {
	var f serveFlags
	c := localCmd(&cobra.Command{
		Use:   "serve [--listen 127.0.0.1:8080]",
		Short: "Serve the read-only web dashboard: today, charts, a card's story",
		Long: `Serves the operators' dashboard until SIGTERM or SIGINT: today at a glance, charts
(visits per venue per hour, revenue per day, payables per partner, denials), and the whole
story of a card or pass. It only reads; it opens the data dir for each page and closes it
again, so taps and sales go on between.

On 127.0.0.1 (the default) it needs nothing else. Beyond loopback it needs an access token
(--token-file FILE: the first line is the token; give people http://HOST:PORT/?token=TOKEN)
or TLS with client certificates (--tls-cert, --tls-key, --client-ca).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.runServe(ctx, f, nil)
		},
	})
	c.Flags().StringVar(&f.listen, "listen", "127.0.0.1:8080", "`HOST:PORT` to listen on")
	c.Flags().StringVar(&f.tokenFile, "token-file", "", "`FILE` whose first line is the access token (required beyond loopback without --client-ca)")
	c.Flags().StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate `FILE` (PEM)")
	c.Flags().StringVar(&f.tlsKey, "tls-key", "", "TLS private key `FILE` (PEM)")
	c.Flags().StringVar(&f.clientCA, "client-ca", "", "CA `FILE` (PEM) that signs the client certificates browsers must present (needs --tls-cert)")
	return c
}

// dataDirSource reads a standalone data dir: it opens it for each page and
// closes it after, one page at a time, so that other commands (which wait
// for the ledger a few seconds) and gates get it between pages.
func (a *app) dataDirSource() web.Source {
	var mu sync.Mutex
	return func(ctx context.Context, fn func(*ledger.Ledger, *tariff.Catalog) error) error {
		mu.Lock()
		defer mu.Unlock()
		d, err := datadir.Open(ctx, a.dataDir, a.dataOptions(false))
		if err != nil {
			return a.dataHint(err)
		}
		defer d.Close()
		return fn(d.Ledger, d.Catalog())
	}
}

// check validates the flags before anything is opened and returns the
// access token (empty without --token-file).
func (f serveFlags) check() (string, error) {
	tokenFlag := "token-file"
	if f.hub {
		tokenFlag = "dashboard-token-file"
	}
	var token string
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", tokenFlag, err)
		}
		token, _, _ = strings.Cut(string(b), "\n")
		token = strings.TrimSpace(token)
		if len(token) < 16 {
			return "", usageErr("--%s %s: the token must be at least 16 characters", tokenFlag, f.tokenFile)
		}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return "", usageErr("--tls-cert and --tls-key go together")
	}
	if f.clientCA != "" && f.tlsCert == "" {
		return "", usageErr("--client-ca needs --tls-cert and --tls-key")
	}
	if web.Exposed(f.listen) && token == "" && f.clientCA == "" {
		if f.hub {
			return "", usageErr("--dashboard %s reaches beyond this computer: give --dashboard-token-file FILE", f.listen)
		}
		return "", usageErr("--listen %s reaches beyond this computer: give --token-file FILE or --client-ca FILE (with --tls-cert and --tls-key)", f.listen)
	}
	return token, nil
}

// runServe serves the data dir's dashboard until ctx ends. On a hub's data
// dir (while no hub runs on it: a running hub holds the ledger and serves
// its own dashboard, hub --dashboard) it has the fleet page too. ready,
// when set, receives the address listened on (tests listen on port 0).
func (a *app) runServe(ctx context.Context, f serveFlags, ready chan<- string) error {
	token, err := f.check()
	if err != nil {
		return err
	}
	src := a.dataDirSource()
	var nodes web.FleetStatus
	var role fleet.Role
	// A data dir that cannot be read now gets no fleet page; each page
	// says what is wrong with it.
	if src(ctx, func(l *ledger.Ledger, _ *tariff.Catalog) error {
		id, err := datadir.ReadIdentity(l)
		role = id.Role
		return err
	}) == nil && role == fleet.Hub {
		nodes = hubFleetPage(src, a.now)
	}
	return a.serveDashboard(ctx, f, token, src, nodes, ready)
}

// hubFleetPage is the dashboard's fleet page on a hub's ledger read
// through src: fleet status, as `citypass fleet status` shows it.
func hubFleetPage(src web.Source, now func() time.Time) web.FleetStatus {
	return func(ctx context.Context) ([]web.FleetNode, error) {
		var rows []web.FleetNode
		err := src(ctx, func(l *ledger.Ledger, _ *tariff.Catalog) error {
			st, err := readFleetStatus(ctx, l, now())
			rows = web.FleetNodes(st)
			return err
		})
		return rows, err
	}
}

// serveDashboard serves the dashboard over src (and nodes, on a hub) as f
// says (checked: f.check gave token) until ctx ends. ready, when set,
// receives the address listened on.
func (a *app) serveDashboard(ctx context.Context, f serveFlags, token string, src web.Source, nodes web.FleetStatus, ready chan<- string) error {
	log := slog.New(slog.NewJSONHandler(a.stderr, nil))
	srv, err := web.New(web.Options{Source: src, Fleet: nodes, Token: token, Now: a.now, Logger: log})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		if f.hub {
			return fmt.Errorf("--dashboard %s: %w", f.listen, err)
		}
		return fmt.Errorf("--listen %s: %w", f.listen, err)
	}
	scheme := "http"
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if f.clientCA != "" {
			pem, err := os.ReadFile(f.clientCA)
			if err != nil {
				ln.Close()
				return fmt.Errorf("--client-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				ln.Close()
				return fmt.Errorf("--client-ca %s: no PEM certificate in it", f.clientCA)
			}
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		ln, scheme = tls.NewListener(ln, cfg), "https"
	}
	addr := ln.Addr().String()
	if !f.hub { // the hub says it in its own line
		fmt.Fprintf(a.stdout, "citypass dashboard on %s://%s/\n", scheme, addr)
	}
	if ready != nil {
		ready <- addr
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
