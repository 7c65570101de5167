package web_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/web"
)

// These tests drive a real headless Chromium (Debian's package chromium,
// installed by `make deps`) through the DevTools protocol. One browser is
// shared by every test of the package; each test opens its own tab.

var update = flag.Bool("update", false, "write the README's dashboard screenshot to docs/dashboard.png")

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

// browserCtx starts the shared browser on first use. A missing Chromium is
// a failure, not a skip: `make test` installs it.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	browser.once.Do(func() {
		path, err := exec.LookPath("chromium")
		if err != nil {
			browser.err = fmt.Errorf("chromium not found (run `make deps`, which installs Debian's chromium): %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "citypass-chromium-*")
		if err != nil {
			browser.err = err
			return
		}
		// As root Chromium needs --no-sandbox; the network flags keep it
		// from calling home on a machine without internet.
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
			chromedp.UserDataDir(dir), chromedp.WindowSize(1280, 900))
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		if err := chromedp.Do(bctx); err != nil {
			bcancel()
			acancel()
			browser.err = fmt.Errorf("starting chromium: %w", err)
			return
		}
		browser.ctx = bctx
		browser.cancel = func() { bcancel(); acancel(); os.RemoveAll(dir) }
	})
	require.NoError(t, browser.err)
	return browser.ctx
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// tab is one browser tab and the console messages its pages wrote.
type tab struct {
	ctx  context.Context
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func newTab(t *testing.T) *tab {
	ctx, cancel := chromedp.NewContext(browserCtx(t))
	ctx, cancelT := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelT(); cancel() })
	tb := &tab{ctx: ctx}
	require.NoError(t, chromedp.Do(ctx)) // the tab exists before its console is read
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.msgs = append(tb.msgs, m)
			tb.mu.Unlock()
		}
	}()
	return tb
}

// open loads url and returns the document's HTTP status.
func (tb *tab) open(t *testing.T, url string) int64 {
	t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(url))
	require.NoError(t, err, "loading %s", url)
	require.NotNil(t, resp, "loading %s", url)
	return resp.Status
}

// errors are the console errors and exceptions so far. It makes a round
// trip to the page first, so that the messages of what came before are in.
func (tb *tab) errors(t *testing.T) []string {
	t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](`1`))
	require.NoError(t, err)
	deadline := time.Now().Add(time.Second)
	var out []string
	for {
		tb.mu.Lock()
		out = out[:0]
		for _, m := range tb.msgs {
			if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == chromedp.ConsoleWarning && m.Source == "security" {
				out = append(out, m.String())
			}
		}
		tb.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		// Messages arrive on their own goroutine: poll briefly for a late one.
		_, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](`2`))
		require.NoError(t, err)
	}
}

func eval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, "evaluating %s", js)
	return v
}

// fleetFake stands in for the fleet package: two nodes, one late.
func fleetFake(now time.Time) web.FleetStatus {
	return func(context.Context) ([]web.FleetNode, error) {
		return []web.FleetNode{
			{Node: "mucem-g1", Epoch: "7f3a", LastContact: now.Add(-4 * time.Second), Acked: 120, Reported: 124, Backlog: 4,
				StateAsOf: now.Add(-4 * time.Second), Staleness: 4 * time.Second, ClockOffset: 12 * time.Millisecond, ClockKnown: true},
			{Node: "bus-83", Epoch: "19c2", LastContact: now.Add(-40 * time.Minute), Acked: 77, Reported: 90, Backlog: 13, StateAsOf: now.Add(-40 * time.Minute), Staleness: 40 * time.Minute, AtRisk: 1},
		}, nil
	}
}

func newTestServer(t *testing.T, f *fixture, token string) *httptest.Server {
	srv, err := web.New(web.Options{Source: f.source(), Fleet: fleetFake(f.now()), Token: token, Now: f.now})
	require.NoError(t, err)
	ts := httptest.NewServer(srv) // 127.0.0.1, a random port
	t.Cleanup(ts.Close)
	return ts
}

// TestBrowserPages: every page loads with status 200 and no console error,
// its charts are SVG drawn with the expected series, and a card's story
// shows its denial with the reason and the message the gate showed.
func TestBrowserPages(t *testing.T) {
	f := newFixture(t)
	ts := newTestServer(t, f, "")
	tb := newTab(t)

	pages := []string{"/", "/?day=2026-05-30", "/charts", "/charts?from=2026-05-25&to=2026-05-31", "/card", "/card?q=" + cardAlice, "/card?q=" + f.bob, "/fleet"}
	for _, p := range pages {
		assert.EqualValues(t, http.StatusOK, tb.open(t, ts.URL+p), "page %s", p)
		assert.Empty(t, tb.errors(t), "console errors on %s", p)
		assert.Contains(t, eval[string](t, tb, `document.title`), "citypass", "page %s", p)
	}

	t.Run("charts", func(t *testing.T) {
		tb.open(t, ts.URL+"/charts?from=2026-05-25&to=2026-05-31")
		type chart struct {
			ID     string `json:"id"`
			Series string `json:"series"`
			SVG    bool   `json:"svg"`
			Text   string `json:"text"`
			Marks  int    `json:"marks"`
			Width  int    `json:"width"`
			// The legend: each item's text, its swatch's color, whether
			// that color is drawn in the SVG, and whether any two items
			// overlap on the page.
			Legend   []string `json:"legend"`
			Drawn    []bool   `json:"drawn"`
			Overlaps bool     `json:"overlaps"`
		}
		got := eval[[]chart](t, tb, `Array.from(document.querySelectorAll('figure.chart')).map(f => {
			const svg = f.querySelector('svg');
			const items = Array.from(f.querySelectorAll('ul.legend li'));
			const painted = svg ? Array.from(svg.querySelectorAll('[fill],[stroke],[style]')).map(e =>
				[e.getAttribute('fill'), e.getAttribute('stroke'), e.getAttribute('style')].join(' ')).join(' ').replace(/\s/g, '') : '';
			const boxes = items.map(li => li.getBoundingClientRect());
			let overlaps = false;
			boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
				if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps = true;
			}));
			return {id: f.id, series: f.dataset.series, svg: !!svg, text: svg ? svg.textContent : '',
				marks: svg ? svg.querySelectorAll('path').length : 0,
				width: svg ? Math.round(svg.getBoundingClientRect().width) : 0,
				legend: items.map(li => li.innerText.trim()),
				drawn: items.map(li => painted.includes(li.querySelector('.swatch').getAttribute('style').replace(/^background:\s*/, '').replace(/;$/, '').replace(/\s/g, ''))),
				overlaps: overlaps};
		})`)
		require.Len(t, got, 4)
		want := map[string][]string{
			"chart-visits-hour":     {"RTM metro M1 M2", "MuCEM, Fort Saint-Jean and J4", "Musée d'Histoire de Marseille", "Château d'If"},
			"chart-revenue-day":     {"sales (gross)", "revenue recognised", "refunds"},
			"chart-payables-period": {"mucem", "rtm"},
			"chart-denials-day":     {"ALREADY_REDEEMED", "BLOCKED", "INVALID", "PASSBACK", "REVOKED"},
		}
		for _, c := range got {
			w, ok := want[c.ID]
			require.True(t, ok, "unexpected chart %s", c.ID)
			assert.True(t, c.SVG, "chart %s is an SVG", c.ID)
			assert.Greater(t, c.Width, 300, "chart %s is drawn at a readable width", c.ID)
			assert.Greater(t, c.Marks, len(w), "chart %s draws its series", c.ID)
			for _, s := range w {
				assert.Contains(t, strings.Split(c.Series, "|"), s, "chart %s has series %s", c.ID, s)
				assert.Contains(t, c.Legend, s, "chart %s's legend names %s", c.ID, s)
			}
			assert.Equal(t, strings.Split(c.Series, "|"), c.Legend, "chart %s: a legend item per series, in order", c.ID)
			for i, drawn := range c.Drawn {
				assert.True(t, drawn, "chart %s: the legend's color of %s is drawn in the SVG", c.ID, c.Legend[i])
			}
			assert.False(t, c.Overlaps, "chart %s: legend items overlap", c.ID)
		}
	})

	t.Run("story", func(t *testing.T) {
		tb.open(t, ts.URL+"/card?q="+strings.ToLower(cardAlice))
		denials := eval[[]string](t, tb, `Array.from(document.querySelectorAll('#story tr.deny')).map(r => r.innerText)`)
		require.Len(t, denials, 2)
		assert.Contains(t, denials[0], "ALREADY_REDEEMED")
		assert.Contains(t, denials[0], "Already used here.")
		assert.Contains(t, denials[1], "PASSBACK")
		assert.Contains(t, denials[1], "used here moments ago (anti-passback)")
		assert.Contains(t, denials[1], "2026-05-31 12:05:00 +02:00")

		tb.open(t, ts.URL+"/card?q="+cardBob)
		state := eval[string](t, tb, `document.querySelector('#card-state').innerText`)
		assert.Contains(t, state, "Replaced by card "+cardBob2)
		assert.Contains(t, eval[string](t, tb, `document.querySelector('#story').innerText`), "REVOKED")
	})

	t.Run("fleet", func(t *testing.T) {
		tb.open(t, ts.URL+"/fleet")
		rows := eval[[]string](t, tb, `Array.from(document.querySelectorAll('#fleet tr')).slice(1).map(r => r.className + ' ' + r.innerText)`)
		require.Len(t, rows, 2)
		assert.True(t, strings.HasPrefix(rows[0], "deny "), "bus-83 is late: %q", rows[0])
		assert.Contains(t, rows[1], "mucem-g1")
		assert.Contains(t, rows[1], "4s (as of", "the node's staleness and its state_as_of")
	})

	t.Run("unknown card", func(t *testing.T) {
		assert.EqualValues(t, http.StatusNotFound, tb.open(t, ts.URL+"/card?q=04FFFFFFFF"))
		assert.Contains(t, eval[string](t, tb, `document.body.innerText`), "Card 04FFFFFFFF: this card has never carried a pass.")
	})
}

// TestBrowserToken: a server with a token (as beyond loopback) answers 401
// without it, takes it once in the address, and keeps it in a cookie.
func TestBrowserToken(t *testing.T) {
	f := newFixture(t)
	const token = "s3cret-token-for-the-test"
	ts := newTestServer(t, f, token)
	tb := newTab(t)

	assert.EqualValues(t, http.StatusUnauthorized, tb.open(t, ts.URL+"/"))
	assert.Contains(t, eval[string](t, tb, `document.body.innerText`), "needs its access token")
	assert.EqualValues(t, http.StatusUnauthorized, tb.open(t, ts.URL+"/charts?token=wrong"))
	refused := len(tb.errors(t)) // the browser logs each 401 as a console error

	assert.EqualValues(t, http.StatusOK, tb.open(t, ts.URL+"/charts?token="+token))
	assert.Equal(t, ts.URL+"/charts", eval[string](t, tb, `location.href`), "the token leaves the address")
	assert.EqualValues(t, http.StatusOK, tb.open(t, ts.URL+"/card?q="+cardAlice), "the cookie carries it")
	assert.Len(t, tb.errors(t), refused, "no console error once in")

	// Without the browser's cookie: a bearer token works, nothing else does.
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestBrowserScreenshot takes the README's picture of the dashboard; with
// -update it writes docs/dashboard.png.
func TestBrowserScreenshot(t *testing.T) {
	f := newFixture(t)
	ts := newTestServer(t, f, "")
	tb := newTab(t)
	tb.open(t, ts.URL+"/")
	shot, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err, "the screenshot is a PNG")
	assert.Greater(t, img.Bounds().Dy(), 600)
	if *update {
		require.NoError(t, os.WriteFile("../docs/dashboard.png", shot, 0o644))
	}
}
