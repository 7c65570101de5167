// Package web is the operators' read-only dashboard (`citypass serve`) and its
// self-contained file form (`citypass report dashboard`): today at a glance,
// charts, a card's or pass's whole story, and the fleet's status on a hub.
//
// Shape, as everywhere in citypass: the figures come from library functions
// (reconcile's reports, Activity, Today and History; the ledger's
// statements), a pure view-model builder per page (BuildToday, BuildCharts,
// BuildStory, BuildFleet) turns them into what a page shows, tested without
// HTTP, and thin handlers read the data through a Source, build and render.
//
// Pages are server-rendered with html/template; the stylesheet and templates
// are embedded (embed.FS) and inlined, so a page needs nothing but its own
// response: it works without internet access and loads nothing from a CDN
// (the Content-Security-Policy forbids it).
//
// Charts are SVG drawn in Go by github.com/go-analyze/charts: a maintained
// business-chart library (line and stacked bar charts with legends and axes,
// SVG output without a browser or cgo), with few dependencies (freetype and
// x/image for text metrics). gonum.org/v1/plot draws scientific plots well
// but needs more code for legends and category axes, and pulls in a larger
// font and LaTeX stack.
//
// Security: the dashboard only reads. Listening beyond loopback needs a token
// (Options.Token: a bearer token, or ?token= once, then a cookie) or TLS
// client certificates (set up by the caller). No page shows key material:
// the data dir's card master keys and statement signing key are never read
// by this package.
//
// A Server is safe for concurrent use; its Source decides how data is read
// (a standalone data dir is opened per request, so the CLI and gates can use
// it between; a hub hands its open ledger).
package web
