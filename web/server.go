package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/explain"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

//go:embed templates
var assets embed.FS

var (
	css   = mustRead("templates/style.css")
	pages = func() map[string]*template.Template {
		funcs := template.FuncMap{
			"join": strings.Join,
			"draw": func(c Chart) (template.HTML, error) { return c.Draw() },
		}
		base := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/chart.html"))
		out := map[string]*template.Template{}
		for _, p := range []string{"today", "charts", "story", "fleet", "message"} {
			out[p] = template.Must(template.Must(base.Clone()).ParseFS(assets, "templates/"+p+".html"))
		}
		return out
	}()
)

func mustRead(name string) template.CSS {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return template.CSS(b)
}

// Source gives the pages the ledger and its tariff catalog for the time of
// fn. It returns fn's error, or its own when the data cannot be read.
type Source func(ctx context.Context, fn func(l *ledger.Ledger, cat *tariff.Catalog) error) error

// Options configure a Server. Source is required; the zero value of every
// other field is safe.
type Options struct {
	// Source reads the data dir.
	Source Source
	// Fleet, when set (on a hub), adds the fleet page.
	Fleet FleetStatus
	// Token, when set, is required on every request: as "Authorization:
	// Bearer TOKEN", or as ?token=TOKEN once (the server then sets a cookie
	// and redirects to the same page without it). Required beyond loopback
	// unless TLS client certificates guard the listener (Exposed).
	Token string
	// Now is the clock that picks "today". Default time.Now.
	Now func() time.Time
	// Logger receives one line per failed request. Default: discarded.
	Logger *slog.Logger
}

// Server serves the dashboard. Safe for concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux
	// zone is the zone of the tariff in force when a page last read the
	// catalog: the footer's time is written in it (the process's zone
	// until then).
	zone atomic.Pointer[time.Location]
}

// read runs the Source and notes the tariff's zone for the footer.
func (s *Server) read(ctx context.Context, fn func(l *ledger.Ledger, cat *tariff.Catalog) error) error {
	return s.opts.Source(ctx, func(l *ledger.Ledger, cat *tariff.Catalog) error {
		if t, ok := cat.At(s.opts.Now()); ok {
			s.zone.Store(t.Location)
		}
		return fn(l, cat)
	})
}

// tokenCookie carries the token after a ?token= visit.
const tokenCookie = "citypass_token"

// New returns a dashboard server.
func New(opts Options) (*Server, error) {
	if opts.Source == nil {
		return nil, errors.New("web: no Source")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.today)
	s.mux.HandleFunc("GET /charts", s.charts)
	s.mux.HandleFunc("GET /card", s.card)
	s.mux.HandleFunc("GET /fleet", s.fleet)
	return s, nil
}

// Exposed reports whether a listen address reaches beyond loopback: an
// empty host, 0.0.0.0, ::, a name other than localhost, or a non-loopback
// address.
func Exposed(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// ServeHTTP checks the token, then serves the page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Nothing but the page itself: no script, no remote style or image.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if s.opts.Token != "" && !s.authorized(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authorized checks the request's token; when it is missing or wrong it
// answers 401 and returns false.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if q := r.URL.Query().Get("token"); q != "" && s.tokenOK(q) {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		u := *r.URL
		v := u.Query()
		v.Del("token")
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.tokenOK(tok) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && s.tokenOK(c.Value) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="citypass"`)
	s.render(w, http.StatusUnauthorized, "message", page{Title: "Access token needed",
		Data: "This dashboard needs its access token. Open the address the operator gave you, which ends in ?token=…"})
	return false
}

func (s *Server) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.opts.Token)) == 1
}

// page is what the layout renders.
type page struct {
	Title  string
	Page   string
	Nav    bool
	Fleet  bool
	Query  string
	CSS    template.CSS
	Data   any
	Footer string
}

func (s *Server) page(title, name string, data any) page {
	return page{Title: title, Page: name, Nav: true, Fleet: s.opts.Fleet != nil, Data: data,
		Footer: "citypass dashboard — read-only; figures from the ledger at " + tariff.FormatTime(s.opts.Now(), s.zone.Load())}
}

func (s *Server) render(w http.ResponseWriter, code int, name string, p page) {
	p.CSS = css
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.opts.Logger.Error("rendering page", "page", name, "err", err)
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// fail answers an error as a page that says it in words.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	s.opts.Logger.Warn("request failed", "path", r.URL.Path, "err", err)
	p := s.page("Not available", "message", explain.Sentence(err))
	s.render(w, code, "message", p)
}

// dayParam reads a YYYY-MM-DD query parameter, or def when absent.
func dayParam(r *http.Request, name string, def tariff.Date) (tariff.Date, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	d, err := tariff.ParseDate(v)
	if err != nil {
		return d, fmt.Errorf("%s %q: want a date like 2026-05-31", name, v)
	}
	return d, nil
}

// serviceDay is the service day of now under the tariff in force.
func serviceDay(cat *tariff.Catalog, now time.Time) tariff.Date {
	if t, ok := cat.At(now); ok {
		return t.ServiceDay(now)
	}
	return tariff.DateOf(now)
}

func (s *Server) today(w http.ResponseWriter, r *http.Request) {
	var v TodayView
	err := s.read(r.Context(), func(l *ledger.Ledger, cat *tariff.Catalog) error {
		day, err := dayParam(r, "day", serviceDay(cat, s.opts.Now()))
		if err != nil {
			return badRequest{err}
		}
		sum, err := reconcile.Today(r.Context(), l, cat, day)
		if err != nil {
			return err
		}
		v = BuildToday(sum, cat)
		return nil
	})
	if err != nil {
		s.fail(w, r, statusOf(err), err)
		return
	}
	s.render(w, http.StatusOK, "today", s.page("Today "+v.Day, "today", v))
}

// DefaultChartDays is the charts page's (and the dashboard file's) default
// range: the week ending on the day asked for, or today.
const DefaultChartDays = 7

// CheckRange checks a range of service days the charts draw: from on or
// before to, and at most a year (366 days) apart.
func CheckRange(from, to tariff.Date) error {
	if to.Before(from) {
		return fmt.Errorf("from %s is after to %s", from, to)
	}
	if from.AddDays(maxChartDays).Before(to) {
		return fmt.Errorf("from %s to %s is more than %d days", from, to, maxChartDays)
	}
	return nil
}

// ServiceDay is the service day of now under the tariff in force (the
// calendar date of now when none is): the pages' "today".
func ServiceDay(cat *tariff.Catalog, now time.Time) tariff.Date { return serviceDay(cat, now) }

func (s *Server) charts(w http.ResponseWriter, r *http.Request) {
	var v ChartsView
	err := s.read(r.Context(), func(l *ledger.Ledger, cat *tariff.Catalog) error {
		today := serviceDay(cat, s.opts.Now())
		to, err := dayParam(r, "to", today)
		if err != nil {
			return badRequest{err}
		}
		from, err := dayParam(r, "from", to.AddDays(1-DefaultChartDays))
		if err != nil {
			return badRequest{err}
		}
		if err := CheckRange(from, to); err != nil {
			return badRequest{err}
		}
		in, err := LoadCharts(r.Context(), l, cat, from, to)
		if err != nil {
			return err
		}
		v = BuildCharts(in, cat)
		return nil
	})
	if err != nil {
		s.fail(w, r, statusOf(err), err)
		return
	}
	s.render(w, http.StatusOK, "charts", s.page("Charts", "charts", v))
}

func (s *Server) card(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v := StoryView{Query: q}
	if q != "" {
		err := s.read(r.Context(), func(l *ledger.Ledger, cat *tariff.Catalog) error {
			h, err := ReadHistory(r.Context(), l, cat, q, s.opts.Now())
			if err != nil {
				return err
			}
			v = BuildStory(q, h)
			return nil
		})
		if err != nil {
			s.fail(w, r, statusOf(err), err)
			return
		}
	}
	p := s.page("Card or pass "+q, "card", v)
	p.Query = q
	s.render(w, http.StatusOK, "story", p)
}

// ReadHistory tells the story of a pass id ("P-…") or a card UID.
func ReadHistory(ctx context.Context, l *ledger.Ledger, cat *tariff.Catalog, q string, now time.Time) (*reconcile.PassHistory, error) {
	if strings.HasPrefix(strings.ToUpper(q), "P-") {
		return reconcile.History(ctx, l, cat, strings.ToUpper(q), "", now)
	}
	uid, err := engine.NormalizeUID(q)
	if err != nil {
		return nil, badRequest{fmt.Errorf("%q is neither a pass id (P-…) nor a card UID (hex)", q)}
	}
	return reconcile.History(ctx, l, cat, "", uid, now)
}

func (s *Server) fleet(w http.ResponseWriter, r *http.Request) {
	if s.opts.Fleet == nil {
		s.fail(w, r, http.StatusNotFound, errors.New("this ledger is not a hub: it has no fleet"))
		return
	}
	nodes, err := s.opts.Fleet(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	loc := time.UTC
	_ = s.read(r.Context(), func(_ *ledger.Ledger, cat *tariff.Catalog) error {
		if t, ok := cat.At(s.opts.Now()); ok {
			loc = t.Location
		}
		return nil
	})
	s.render(w, http.StatusOK, "fleet", s.page("Fleet", "fleet", BuildFleet(nodes, s.opts.Now(), loc)))
}

// badRequest marks an error in the request itself (400).
type badRequest struct{ err error }

func (b badRequest) Error() string { return b.err.Error() }
func (b badRequest) Unwrap() error { return b.err }

func statusOf(err error) int {
	var br badRequest
	switch {
	case errors.As(err, &br):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrUnknownCard), errors.Is(err, engine.ErrUnknownPass):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// WriteDashboard writes the charts and tables of service days [from, to] as
// one self-contained HTML file (`citypass report dashboard`): the charts
// page without navigation, its stylesheet and SVG inline.
// The range is checked as CheckRange does; now is written in the tariff's
// zone.
func WriteDashboard(ctx context.Context, w io.Writer, l *ledger.Ledger, cat *tariff.Catalog, from, to tariff.Date, now time.Time) error {
	if err := CheckRange(from, to); err != nil {
		return err
	}
	in, err := LoadCharts(ctx, l, cat, from, to)
	if err != nil {
		return err
	}
	v := BuildCharts(in, cat)
	if t, ok := cat.At(now); ok {
		now = now.In(t.Location)
	}
	p := page{Title: fmt.Sprintf("Dashboard %s to %s", v.From, v.To), Page: "charts", CSS: css, Data: v,
		Footer: "citypass report dashboard — figures from the ledger at " + now.Format(timeLayout)}
	return pages["charts"].ExecuteTemplate(w, "layout", p)
}
