package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/citypass/citypass/tariff"
)

// Profile names a fault mix.
type Profile string

// Fault profiles.
const (
	FaultsNone    Profile = "none"    // load only: sales, taps, blocks and the close
	FaultsDefault Profile = "default" // a day of a real network (see Plan)
	FaultsHarsh   Profile = "harsh"   // three times the faults, longer outages
	// FaultsPartition cuts one site off for a while, then heals it: the
	// demo's fleet day.
	FaultsPartition Profile = "partition"
)

// Config sizes a simulated day. The zero value of a field takes the
// default given.
type Config struct {
	Seed  uint64
	Nodes int // default 500; at most NodesMax
	Sites int // default 20; at most Nodes
	// Hours of simulated service from Start; default 24, at most 72.
	Hours  int
	Faults Profile // default FaultsDefault
	// Start is the first simulated instant; default Monday 30 November
	// 2026, 08:00 in Marseille (the month's last service day, so the
	// month-end close runs after it).
	Start time.Time
	// Tick is the simulated step: taps of a tick are decided, then every
	// node with a link catches up with the hub before the next tick;
	// default 5 minutes.
	Tick time.Duration
}

// Bounds of a Config.
const (
	NodesMax = 5000
	HoursMax = 72
)

// ErrConfig reports a Config out of its bounds.
var ErrConfig = errors.New("sim: bad configuration")

// DefaultStart is Config.Start's default.
var DefaultStart = time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC) // 08:00 in Marseille

// WithDefaults returns c with its defaults filled in, or an error naming
// the field out of bounds.
func (c Config) WithDefaults() (Config, error) {
	if c.Nodes == 0 {
		c.Nodes = 500
	}
	if c.Sites == 0 {
		c.Sites = min(20, c.Nodes)
	}
	if c.Hours == 0 {
		c.Hours = 24
	}
	if c.Faults == "" {
		c.Faults = FaultsDefault
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Tick == 0 {
		c.Tick = 5 * time.Minute
	}
	switch {
	case c.Nodes < 1 || c.Nodes > NodesMax:
		return c, fmt.Errorf("%w: %d nodes: want 1 to %d", ErrConfig, c.Nodes, NodesMax)
	case c.Sites < 1 || c.Sites > c.Nodes:
		return c, fmt.Errorf("%w: %d sites: want 1 to the number of nodes (%d)", ErrConfig, c.Sites, c.Nodes)
	case c.Hours < 1 || c.Hours > HoursMax:
		return c, fmt.Errorf("%w: %d hours: want 1 to %d", ErrConfig, c.Hours, HoursMax)
	case c.Faults != FaultsNone && c.Faults != FaultsDefault && c.Faults != FaultsHarsh && c.Faults != FaultsPartition:
		return c, fmt.Errorf("%w: faults %q: want none, default, harsh or partition", ErrConfig, c.Faults)
	case c.Tick < time.Minute || c.Tick > time.Hour:
		return c, fmt.Errorf("%w: tick %s: want 1m to 1h", ErrConfig, c.Tick)
	}
	return c, nil
}

// Kind is what an event does.
type Kind uint8

// Event kinds, in the order they apply at one instant.
const (
	HubDown  Kind = iota + 1 // the hub process dies (its disk stays)
	HubUp                    // the hub restarts on the same disk and port
	LinkDown                 // a node's link to the hub is cut (Outage names why)
	LinkUp                   // the link is back
	Crash                    // a node loses power and restarts (what was not synced is lost)
	Wipe                     // a node's disk dies: it reports its last seq, then restarts empty
	Skew                     // a node's clock is set off by Skew
	Sell                     // a pass is sold at the hub's desk
	Block                    // a card is blocked at the hub (stolen)
	Tap                      // a card taps at a node's gate
)

var kindNames = map[Kind]string{HubDown: "hub down", HubUp: "hub up", LinkDown: "link down", LinkUp: "link up",
	Crash: "crash", Wipe: "wipe", Skew: "clock skew", Sell: "sale", Block: "block", Tap: "tap"}

func (k Kind) String() string { return kindNames[k] }

// Event is one planned step. Node and Card index Plan's Nodes and Cards.
type Event struct {
	At   time.Time
	Kind Kind
	Node int
	Card int
	// Skew is a Skew event's clock offset (node clock − true time).
	Skew time.Duration
	// Fault is the index in Plan.Faults of the fault the event belongs to
	// (-1: none).
	Fault int
}

// NodeSpec is a simulated node: a gate, validator or bus at a site.
type NodeSpec struct {
	ID    string
	Site  int
	Venue string
	Gate  string // "VENUE/GATE"
}

// CardSpec is a pass sold onto a card.
type CardSpec struct {
	UID     string
	Product string
	SoldAt  time.Time
}

// FaultSpec is one planned fault, for the report.
type FaultSpec struct {
	Kind   string // "outage", "partition", "crash", "wipe", "hub restart", "skew", "block"
	At     time.Time
	Until  time.Time // end of an outage, partition or hub restart; zero otherwise
	Nodes  []int
	Card   int // block: the card; -1 otherwise
	Detail string
}

// Plan is a simulated day: every event, in the order it applies.
type Plan struct {
	Config Config
	Nodes  []NodeSpec
	Cards  []CardSpec
	Faults []FaultSpec
	Events []Event
	// End is the instant after the last event; CloseAt when the month-end
	// close runs (after the service day of Start has ended and every node
	// is back), through the service day of Start.
	End     time.Time
	CloseAt time.Time
}

// siteVenues are the sample tariff's venues a site stands at, in turn.
var siteVenues = []string{"rtm-bus", "mucem", "rtm-metro", "chateau-if", "rtm-bus", "musee-histoire", "rtm-tram",
	"beaux-arts", "rtm-bus", "frioul-if-boat", "rtm-metro", "panier-walk"}

var products = []string{"cp24-adult", "cp24-adult", "cp48-adult", "cp72-adult", "cp24-child"}

// cardGap is the least time between two taps of one card: more than a
// tick and twice the largest clock skew, so that a card's taps reach
// every node in their time order unless a node is cut off.
const cardGap = 20 * time.Minute

// maxSkew bounds the clock skews drawn (whole seconds, so that the hub's
// measure of them, within a millisecond, rounds to the same figure).
const maxSkew = 90 * time.Second

// NewPlan draws a day from c.Seed: a pure function of the Config.
//
// The load: sites of one venue each (buses, metro and tram stations,
// museums, boats), nodes spread over them; about eight passes sold per
// node at the hub's desk, most in the morning; each card taps three to
// ten times at random nodes, at times drawn from a day with a morning and
// an afternoon peak, at least 20 minutes apart, never in the tick it was
// sold or blocked in (a node hears of a sale or a block at the next tick).
//
// The default faults: one bus in 25 offline for hours (one of them for 6
// hours when the day is long enough), one site partitioned for up to 90
// minutes, one node in 50 crashing, one node whose disk dies after it
// reported taps the hub never received, the hub restarted once (down one
// tick), one node in 10 with its clock off by up to 90 s, one card in 200
// blocked mid-day. Harsh triples the counts and doubles the partition.
func NewPlan(c Config) (*Plan, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x5117))
	p := &Plan{Config: c, End: c.Start.Add(time.Duration(c.Hours) * time.Hour)}
	span := p.End.Sub(c.Start)
	// Round times to the second: the report and the replay print them.
	at := func(from time.Time, d time.Duration) time.Time {
		if d <= 0 {
			return from
		}
		return from.Add(time.Duration(rng.Int64N(int64(d)))).Truncate(time.Second)
	}
	for i := range c.Nodes {
		site := i % c.Sites
		venue := siteVenues[site%len(siteVenues)]
		id := fmt.Sprintf("s%02d-n%04d", site, i)
		p.Nodes = append(p.Nodes, NodeSpec{ID: id, Site: site, Venue: venue, Gate: venue + "/" + id})
	}
	type ev = Event
	var evs []ev
	add := func(e ev) { evs = append(evs, e) }

	// Faults first: taps are then planned around the blocks.
	times := 1
	if c.Faults == FaultsHarsh {
		times = 3
	}
	fault := func(f FaultSpec) int { p.Faults = append(p.Faults, f); return len(p.Faults) - 1 }
	nodesAt := func(pred func(NodeSpec) bool) []int {
		var out []int
		for i, n := range p.Nodes {
			if pred(n) {
				out = append(out, i)
			}
		}
		return out
	}
	taken := map[int]bool{} // nodes with an outage, partition or wipe: one link fault each
	pick := func(from []int) (int, bool) {
		var free []int
		for _, i := range from {
			if !taken[i] {
				free = append(free, i)
			}
		}
		if len(free) == 0 {
			return 0, false
		}
		i := free[rng.IntN(len(free))]
		taken[i] = true
		return i, true
	}
	all := nodesAt(func(NodeSpec) bool { return true })
	tickAt := func(from time.Time, d time.Duration) time.Time { // a tick boundary in [from, from+d)
		t := at(from, d)
		return c.Start.Add(t.Sub(c.Start).Truncate(c.Tick))
	}
	full := c.Faults == FaultsDefault || c.Faults == FaultsHarsh
	if full {
		buses := nodesAt(func(n NodeSpec) bool { return n.Venue == "rtm-bus" })
		outages := times * max(1, c.Nodes/25)
		for k := range outages {
			i, ok := pick(buses)
			if !ok {
				break
			}
			d := time.Duration(1+rng.IntN(4)) * time.Hour
			if k == 0 {
				d = 6 * time.Hour
			}
			if c.Faults == FaultsHarsh {
				d += time.Duration(rng.IntN(4)) * time.Hour
			}
			d = min(d, span*2/3).Truncate(c.Tick)
			from := tickAt(c.Start.Add(c.Tick), span-d-c.Tick)
			f := fault(FaultSpec{Kind: "outage", At: from, Until: from.Add(d), Nodes: []int{i}, Card: -1,
				Detail: fmt.Sprintf("bus %s offline for %s", p.Nodes[i].ID, fmtDur(d))})
			add(ev{At: from, Kind: LinkDown, Node: i, Fault: f})
			add(ev{At: from.Add(d), Kind: LinkUp, Node: i, Fault: f})
		}
	}
	if full || c.Faults == FaultsPartition {
		for range times {
			site := rng.IntN(c.Sites)
			nodes := nodesAt(func(n NodeSpec) bool { return n.Site == site && !taken[nodesIndex(p, n)] })
			if len(nodes) == 0 {
				continue
			}
			d := time.Duration(30+rng.IntN(61)) * time.Minute
			if c.Faults == FaultsHarsh {
				d *= 2
			}
			d = max(c.Tick, min(d, span/3).Truncate(c.Tick))
			from := tickAt(c.Start.Add(c.Tick), span-d-c.Tick)
			f := fault(FaultSpec{Kind: "partition", At: from, Until: from.Add(d), Nodes: nodes, Card: -1,
				Detail: fmt.Sprintf("site %d (%s, %d nodes) cut off for %s", site, p.Nodes[nodes[0]].Venue, len(nodes), fmtDur(d))})
			for _, i := range nodes {
				taken[i] = true
				add(ev{At: from, Kind: LinkDown, Node: i, Fault: f})
				add(ev{At: from.Add(d), Kind: LinkUp, Node: i, Fault: f})
			}
		}
	}
	if full {
		for range times {
			// The wiped node: cut off, it taps, reports its last seq on a
			// link that works once more, and its disk dies before the taps
			// went up; it comes back empty.
			i, ok := pick(all)
			if !ok {
				break
			}
			d := 4 * c.Tick
			from := tickAt(c.Start.Add(c.Tick), span-d-c.Tick)
			f := fault(FaultSpec{Kind: "wipe", At: from, Until: from.Add(d), Nodes: []int{i}, Card: -1,
				Detail: fmt.Sprintf("%s cut off, its disk dies %s later, back empty", p.Nodes[i].ID, fmtDur(d))})
			add(ev{At: from, Kind: LinkDown, Node: i, Fault: f})
			add(ev{At: from.Add(d), Kind: Wipe, Node: i, Fault: f})
			add(ev{At: from.Add(d), Kind: LinkUp, Node: i, Fault: f})
		}
		for range times * max(1, c.Nodes/50) {
			i := rng.IntN(c.Nodes)
			t := tickAt(c.Start.Add(c.Tick), span-c.Tick)
			f := fault(FaultSpec{Kind: "crash", At: t, Nodes: []int{i}, Card: -1, Detail: fmt.Sprintf("%s loses power and restarts", p.Nodes[i].ID)})
			add(ev{At: t, Kind: Crash, Node: i, Fault: f})
		}
		for range times {
			t := tickAt(c.Start.Add(c.Tick), span-2*c.Tick)
			f := fault(FaultSpec{Kind: "hub restart", At: t, Until: t.Add(c.Tick), Card: -1, Detail: fmt.Sprintf("the hub is down for %s", fmtDur(c.Tick))})
			add(ev{At: t, Kind: HubDown, Fault: f})
			add(ev{At: t.Add(c.Tick), Kind: HubUp, Fault: f})
		}
		for range times * max(1, c.Nodes/10) {
			i := rng.IntN(c.Nodes)
			s := time.Duration(rng.Int64N(int64(2*maxSkew))) - maxSkew
			s = s.Truncate(time.Second)
			t := tickAt(c.Start, span)
			f := fault(FaultSpec{Kind: "skew", At: t, Nodes: []int{i}, Card: -1, Detail: fmt.Sprintf("%s's clock off by %s", p.Nodes[i].ID, s)})
			add(ev{At: t, Kind: Skew, Node: i, Skew: s, Fault: f})
		}
	}

	// Sales: about eight passes per node, most of them before noon.
	nCards := 8 * c.Nodes
	for i := range nCards {
		var sold time.Time
		if rng.IntN(3) > 0 {
			sold = at(c.Start, min(span, 4*time.Hour))
		} else {
			sold = at(c.Start, span)
		}
		p.Cards = append(p.Cards, CardSpec{UID: fmt.Sprintf("04%012X", i+1), Product: products[rng.IntN(len(products))], SoldAt: sold})
		add(ev{At: sold, Kind: Sell, Card: i, Fault: -1})
	}
	blocked := map[int]time.Time{}
	if full {
		for range times * max(1, nCards/200) {
			i := rng.IntN(nCards)
			if _, ok := blocked[i]; ok {
				continue
			}
			t := at(p.Cards[i].SoldAt.Add(time.Hour), p.End.Sub(p.Cards[i].SoldAt.Add(time.Hour)))
			if !t.Before(p.End) {
				continue
			}
			blocked[i] = t
			f := fault(FaultSpec{Kind: "block", At: t, Card: i, Detail: fmt.Sprintf("card %s blocked (stolen)", p.Cards[i].UID)})
			add(ev{At: t, Kind: Block, Card: i, Fault: f})
		}
	}
	tickOf := func(t time.Time) int64 { return int64(t.Sub(c.Start) / c.Tick) }
	for i, card := range p.Cards {
		n := 3 + rng.IntN(8)
		var ts []time.Time
		for range n {
			ts = append(ts, dayShaped(rng, card.SoldAt.Add(c.Tick), p.End))
		}
		sort.Slice(ts, func(a, b int) bool { return ts[a].Before(ts[b]) })
		var last time.Time
		for _, t := range ts {
			if !t.Before(p.End) || tickOf(t) <= tickOf(card.SoldAt) || (!last.IsZero() && t.Sub(last) < cardGap) {
				continue
			}
			if b, ok := blocked[i]; ok && tickOf(t) == tickOf(b) {
				continue
			}
			last = t
			add(ev{At: t, Kind: Tap, Node: rng.IntN(c.Nodes), Card: i, Fault: -1})
		}
	}
	sort.SliceStable(evs, func(a, b int) bool {
		if !evs[a].At.Equal(evs[b].At) {
			return evs[a].At.Before(evs[b].At)
		}
		return evs[a].Kind < evs[b].Kind
	})
	p.Events = evs
	p.CloseAt = p.End
	if d := sample.DayEnd(ServiceDay(c.Start)); p.CloseAt.Before(d) {
		p.CloseAt = d
	}
	p.CloseAt = p.CloseAt.Add(time.Hour)
	return p, nil
}

func nodesIndex(p *Plan, n NodeSpec) int {
	for i := range p.Nodes {
		if p.Nodes[i].ID == n.ID {
			return i
		}
	}
	return -1
}

// sample is the tariff every simulated hub and node runs.
var sample = tariff.SampleTariff()

// ServiceDay is the sample tariff's service day holding t.
func ServiceDay(t time.Time) tariff.Date { return sample.ServiceDay(t) }

// dayShaped draws an instant in [from, to) from a day with a morning peak
// (09:00–11:00) and an afternoon one (14:00–17:00), quiet at night.
func dayShaped(rng *rand.Rand, from, to time.Time) time.Time {
	if !from.Before(to) {
		return to
	}
	for range 64 {
		t := from.Add(time.Duration(rng.Int64N(int64(to.Sub(from))))).Truncate(time.Second)
		if rng.Float64() < dayWeight(t.In(sample.Location).Hour()) {
			return t
		}
	}
	return from.Add(time.Duration(rng.Int64N(int64(to.Sub(from))))).Truncate(time.Second)
}

// dayWeight is the relative load of an hour of the day (1 at the peaks).
func dayWeight(h int) float64 {
	switch {
	case h >= 9 && h < 11, h >= 14 && h < 17:
		return 1
	case h >= 7 && h < 20:
		return 0.5
	case h >= 5 && h < 23:
		return 0.15
	default:
		return 0.02
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d > time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
