package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/citypass/citypass/web"
)

// secrets is the key material of a data dir, each secret in every spelling
// it could leak in.
type secrets map[string]string // spelling → what it is

func (s secrets) add(what string, b []byte) {
	s[string(b)] = what + " (raw)"
	s[hex.EncodeToString(b)] = what + " (hex)"
	s[strings.ToUpper(hex.EncodeToString(b))] = what + " (HEX)"
	s[base64.StdEncoding.EncodeToString(b)] = what + " (base64)"
	s[base64.RawStdEncoding.EncodeToString(b)] = what + " (base64, no padding)"
	s[base64.URLEncoding.EncodeToString(b)] = what + " (base64url)"
	s[base64.RawURLEncoding.EncodeToString(b)] = what + " (base64url, no padding)"
}

// readSecrets reads every secret of the data dir's keys/: the card master
// keys, the statement signing key and the fleet credentials (node and
// operator NKey seeds), and each key file whole.
func readSecrets(t *testing.T, dir string) secrets {
	t.Helper()
	s := secrets{}
	s.addDataKeys(t, dir)
	for _, path := range []string{datadir.NodeCredsPath(dir), datadir.OperatorCredsPath(dir)} {
		s.addCreds(t, path)
	}
	s.addKeyFiles(t, dir)
	s.check(t)
	return s
}

// addDataKeys adds the card master keys and the statement signing key of
// data dir dir.
func (s secrets) addDataKeys(t *testing.T, dir string) {
	t.Helper()
	keys, err := cardio.LoadKeys(datadir.CardKeysPath(dir))
	require.NoError(t, err)
	for name, k := range map[string]cardio.Key{"ntag-app": keys.NTAGApp, "sun-meta": keys.SUNMeta,
		"sun-file-read": keys.SUNFileRead, "desfire-app": keys.DESFireApp} {
		s.add("card master key "+name, k[:])
	}
	b, err := os.ReadFile(datadir.SigningKeyPath(dir))
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	s.add("statement signing key (PKCS #8)", block.Bytes)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	ed := priv.(ed25519.PrivateKey)
	s.add("statement signing key seed", ed.Seed())
	s.add("statement signing private key", ed)
}

// addCreds adds the NKey seed of the fleet credentials file at path.
func (s secrets) addCreds(t *testing.T, path string) {
	t.Helper()
	c, err := natsio.LoadCredentials(path)
	require.NoError(t, err)
	s[c.Seed] = filepath.Base(path) + " NKey seed"
	s.add(filepath.Base(path)+" NKey seed", []byte(c.Seed))
}

// addKeyFiles adds each key and credentials file of dir's keys/ whole.
func (s secrets) addKeyFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(datadir.KeysDir(dir))
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".key") || strings.HasSuffix(e.Name(), ".creds") {
			b, err := os.ReadFile(filepath.Join(datadir.KeysDir(dir), e.Name()))
			require.NoError(t, err)
			s[strings.TrimSpace(string(b))] = "the file keys/" + e.Name()
		}
	}
}

// check fails when a spelling is too short to search for.
func (s secrets) check(t *testing.T) {
	t.Helper()
	for k := range s {
		require.GreaterOrEqual(t, len(k), 16, "a secret spelling too short to search for: %s", s[k])
	}
}

// assertNone fails for each secret that appears in text, which is what
// name shows or writes.
func (s secrets) assertNone(t *testing.T, name, text string) {
	t.Helper()
	require.NotEmpty(t, text, name)
	for spelling, what := range s {
		if strings.Contains(text, spelling) {
			t.Errorf("%s appears in %s", what, name)
		}
	}
}

// TestNoKeyMaterialAnywhere makes a data dir with every kind of key (the
// demo's, plus a node's and an operator's fleet credentials), then reads
// everything citypass shows or writes: the demo's output and progress log,
// every page of the dashboard and its log, every report in every format,
// the dashboard file, the statements, payouts and reports on disk, the
// ledger's own files, the other commands' output and the gate's log. No
// key, in any spelling, may appear in any of them.
func TestNoKeyMaterialAnywhere(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	record := func(name, stdout, stderr string) {
		fmt.Fprintf(&out, "==> %s\n%s\n%s\n", name, stdout, stderr)
	}
	stdout, stderr, code := cli(t, dir, "demo", "--passes", "60", "--seed", "3", "--keep", dir)
	require.Equal(t, 0, code, stderr)
	record("demo", stdout, stderr)
	for _, c := range []struct{ node, path string }{{"gate-7", datadir.NodeCredsPath(dir)}, {"", datadir.OperatorCredsPath(dir)}} {
		creds, _, err := natsio.NewCredentials(c.node, []string{"nats://127.0.0.1:4222"}, "")
		require.NoError(t, err)
		require.NoError(t, creds.Save(c.path))
	}
	sec := readSecrets(t, dir)

	// A card and a pass of the demo's day, for their stories.
	var card, pass string
	{
		l, err := ledger.Open(datadir.LedgerDir(dir), &ledger.Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, l.Journal(context.Background(), 0, func(r *engine.TapRecord) error {
			if pass == "" && r.Pass != "" {
				card, pass = r.Card, r.Pass
			}
			return nil
		}))
		require.NoError(t, l.Close())
	}
	require.NotEmpty(t, pass)

	run := func(args ...string) {
		stdout, stderr, _ := cli(t, dir, args...)
		record(strings.Join(args, " "), stdout, stderr)
	}
	dash := filepath.Join(t.TempDir(), "dashboard.html")
	for _, args := range [][]string{
		{"today", "--day", "2026-05-31"}, {"--json", "today", "--day", "2026-05-31"},
		{"tariff", "show"}, {"--json", "tariff", "show"},
		{"pass", "show", pass}, {"--json", "pass", "show", pass}, {"pass", "show", "--card", card},
		{"pass", "history", pass}, {"--json", "pass", "history", "--card", card},
		{"ledger", "check"}, {"--json", "ledger", "check"},
		{"journal", "export"}, {"journal", "export", "--format", "jsonl"},
		{"reconcile", "verify", filepath.Join(dir, "statements")}, {"reconcile", "pubkey"},
		{"reconcile", "payout", "list"}, {"--json", "reconcile", "payout", "list"},
		{"report", "dashboard", "--from", "2026-05-25", "--to", "2026-05-31", "--out", dash},
		{"card", "sun-verify", "--sun", "picc_data=00&cmac=00"},
		{"tap", "--card", card, "--gate", "mucem/g1", "--at", "2026-05-31T18:00", "--json"},
		{"init"}, {"version"},
	} {
		run(args...)
	}
	for _, name := range reconcile.ReportNames {
		for _, f := range []string{"table", "csv", "csv-fr", "json"} {
			run("report", name, "--from", "2026-05-01", "--to", "2026-05-31", "--format", f)
		}
	}

	// The dashboard's pages, as a browser would ask for them, and its log.
	var logBuf bytes.Buffer
	srv, err := web.New(web.Options{
		Source: func(ctx context.Context, fn func(*ledger.Ledger, *tariff.Catalog) error) error {
			d, err := datadir.Open(ctx, dir, &datadir.Options{Ledger: &ledger.Options{ReadOnly: true}})
			if err != nil {
				return err
			}
			defer d.Close()
			return fn(d.Ledger, d.Catalog())
		},
		Token:  "a-token-for-the-test-0123456789",
		Now:    func() time.Time { return time.Date(2026, 5, 31, 20, 0, 0, 0, time.UTC) },
		Logger: slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	pages := 0
	for _, path := range []string{"/", "/?day=2026-05-30", "/?day=bad", "/charts", "/charts?from=2026-05-01&to=2026-05-31",
		"/card", "/card?q=" + card, "/card?q=" + pass, "/card?q=04FFFFFFFFFFFF", "/card?q=nonsense", "/fleet", "/nothing"} {
		for _, authorized := range []bool{true, false} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if authorized {
				req.Header.Set("Authorization", "Bearer a-token-for-the-test-0123456789")
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			record("GET "+path, rec.Body.String(), fmt.Sprint(rec.Header()))
			pages++
		}
	}
	record("dashboard log", logBuf.String(), "")

	// A gate's log and lines: a card whose proof fails, an unreadable card,
	// a known card.
	var gateLog bytes.Buffer
	d, err := datadir.Open(context.Background(), dir, nil)
	require.NoError(t, err)
	reads := []func() (cardio.Credential, error){
		func() (cardio.Credential, error) {
			return cardio.Credential{}, &cardio.ProofError{UID: card, Err: cardio.ErrProofFailed}
		},
		func() (cardio.Credential, error) {
			return cardio.Credential{}, fmt.Errorf("reading: %w", cardio.ErrMalformed)
		},
		func() (cardio.Credential, error) { return cardio.Credential{UID: card}, nil },
	}
	g, err := gate.New(gate.Config{Gate: "mucem/g9", Logger: slog.New(slog.NewJSONHandler(&gateLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Read: func(context.Context, cardio.Transmitter, []byte) (cardio.Credential, error) {
			r := reads[0]
			reads = reads[1:]
			return r()
		},
		Validate:  d.Validator.Validate,
		Now:       func() time.Time { return time.Date(2026, 5, 31, 19, 0, 0, 0, time.UTC) },
		OnOutcome: func(o gate.Outcome) { record("gate", outcomeLine(o), "") },
	})
	require.NoError(t, err)
	events := make(chan gate.Event, 8)
	for range 3 {
		events <- gate.Event{Kind: gate.CardPresent, Presentation: gate.Presentation{Reader: "R 00 00"}}
	}
	close(events)
	require.NoError(t, g.Run(context.Background(), events))
	require.NoError(t, d.Close())
	record("gate log", gateLog.String(), "")

	// What the demo and the commands wrote to disk, and the ledger itself.
	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if filepath.Dir(path) == datadir.KeysDir(dir) {
			return nil // the key files themselves
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		record("file "+path, string(b), "")
		files++
		return nil
	}))
	b, err := os.ReadFile(dash)
	require.NoError(t, err)
	record("file "+dash, string(b), "")

	all := out.String()
	require.Greater(t, pages, 20)
	require.Greater(t, files, 20, "statements, payouts, reports and ledger files read")
	require.Contains(t, all, "<svg", "the dashboard was drawn")
	require.Contains(t, all, "Trial balance", "the demo's summary was read")
	for spelling, what := range sec {
		if i := strings.Index(all, spelling); i >= 0 {
			start := strings.LastIndex(all[:i], "==> ")
			t.Errorf("%s appears in %s", what, strings.SplitN(all[start+4:], "\n", 2)[0])
		}
	}
	// The test finds what it looks for: a page with a key on it fails it.
	leak := all + "\n" + hex.EncodeToString(func() []byte { k, _ := cardio.LoadKeys(datadir.CardKeysPath(dir)); return k.SUNMeta[:] }())
	found := false
	for spelling := range sec {
		found = found || strings.Contains(leak, spelling)
	}
	assert.True(t, found)
}
