package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/citypass/citypass/engine"
)

// The demo day: Sunday 31 May 2026 in Marseille. It is the last day of a month
// and of ISO week 22, so every contract period of the sample tariff (day, week,
// month) has ended when the statements are closed the next morning.
const (
	demoDay   = "2026-05-31"
	demoWeek  = "2026-W22"
	demoMonth = "2026-05"
)

// gateSpec is one physical gate (or validator) of the demo city. Its id is
// also its device name in tap ids.
type gateSpec struct {
	id    string // "VENUE/GATE"
	venue string
	dir   engine.Direction
}

// The city's gates. Museums have entry turnstiles and exit readers; transit
// has validators at stations and stops, and exit readers at two metro
// stations.
var cityGates = []gateSpec{
	{"mucem/j4", "mucem", engine.Entry},
	{"mucem/fort-saint-jean", "mucem", engine.Entry},
	{"mucem/exit", "mucem", engine.Exit},
	{"musee-histoire/g1", "musee-histoire", engine.Entry},
	{"musee-histoire/exit", "musee-histoire", engine.Exit},
	{"beaux-arts/g1", "beaux-arts", engine.Entry},
	{"beaux-arts/exit", "beaux-arts", engine.Exit},
	{"chateau-if/quai", "chateau-if", engine.Entry},
	{"chateau-if/exit", "chateau-if", engine.Exit},
	{"frioul-if-boat/vieux-port", "frioul-if-boat", engine.Entry},
	{"panier-walk/guide", "panier-walk", engine.Entry},
	{"rtm-metro/vieux-port", "rtm-metro", engine.Entry},
	{"rtm-metro/saint-charles", "rtm-metro", engine.Entry},
	{"rtm-metro/castellane", "rtm-metro", engine.Entry},
	{"rtm-metro/joliette", "rtm-metro", engine.Entry},
	{"rtm-metro/noailles", "rtm-metro", engine.Entry},
	{"rtm-metro/vieux-port-exit", "rtm-metro", engine.Exit},
	{"rtm-metro/saint-charles-exit", "rtm-metro", engine.Exit},
	{"rtm-tram/republique", "rtm-tram", engine.Entry},
	{"rtm-tram/castellane", "rtm-tram", engine.Entry},
	{"rtm-bus/83-vieux-port", "rtm-bus", engine.Entry},
	{"rtm-bus/60-notre-dame", "rtm-bus", engine.Entry},
}

// product mix of the sales: weights per product of the sample tariff.
var productMix = []struct {
	id     string
	weight int
}{
	{"cp24-adult", 30}, {"cp48-adult", 20}, {"cp72-adult", 15},
	{"cp24-child", 10}, {"cp48-child", 8}, {"cp72-child", 7},
	{"museums-3days-adult", 10},
}

type evKind uint8

const (
	evSale evKind = iota
	evTap
	evBlock
	evReplace
	evRefund
	evSkim // a skimmer reads a card (no transaction): the recording feeds a clone
)

// event is one thing that happens in the day. Events run in (at, order)
// order; every event but a skim is one store transaction with a ticket.
type event struct {
	at      time.Time
	order   int
	kind    evKind
	v       *visitor // sale, block, replace, refund
	card    *card    // the card presented, sold onto, blocked, or skimmed
	newCard *card    // replace: the new card; skim: the clone it makes
	gate    int      // tap: index in cityGates
	reason  string   // block

	// Set by the run: the event's ticket, and the chain that keeps the reads
	// of one card in timeline order (wait for the card's previous tap).
	tk      *ticket
	seq     uint64 // tap: its number at its gate (the tap id's sequence)
	waitFor <-chan struct{}
	done    chan struct{}
}

// visitor is one pass holder.
type visitor struct {
	product string
	channel string
	card    *card
	passID  string // set by the desk when the pass is sold
}

// card is one physical card of the day (or a clone).
type card struct {
	uid     string
	medium  string // "ntag424", "desfire", "foreign", "clone"
	ofClone *card  // clone: the card it copies

	dev   device        // set by the run: the virtual card (or the clone's replay)
	chain chan struct{} // done channel of the card's last dispatched read
}

// plan is the whole day, drawn from the seed before anything runs.
type plan struct {
	visitors []*visitor
	cards    []*card // every card, in creation order
	events   []*event
}

type planner struct {
	r     *rand.Rand
	day   time.Time // 00:00 local of the demo day
	p     *plan
	order int
	uids  map[string]bool
}

func (pl *planner) at(h, m int) time.Time {
	return pl.day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// minutes returns a duration of lo to hi minutes, to the second.
func (pl *planner) minutes(lo, hi int) time.Duration {
	return time.Duration(lo)*time.Minute + time.Duration(pl.r.IntN((hi-lo)*60+1))*time.Second
}

func (pl *planner) chance(p float64) bool { return pl.r.Float64() < p }

func (pl *planner) add(e *event) {
	e.order = pl.order
	pl.order++
	pl.p.events = append(pl.p.events, e)
}

func (pl *planner) newCard(medium string) *card {
	for {
		// NXP 7-byte UIDs start with the manufacturer code 04.
		uid := fmt.Sprintf("04%012X", pl.r.Uint64()&0xFFFFFFFFFFFF)
		if !pl.uids[uid] {
			pl.uids[uid] = true
			c := &card{uid: uid, medium: medium}
			pl.p.cards = append(pl.p.cards, c)
			return c
		}
	}
}

func (pl *planner) tap(c *card, at time.Time, gate int) {
	pl.add(&event{at: at, kind: evTap, card: c, gate: gate})
}

// gatesOf returns the indexes of a venue's gates in one direction.
func gatesOf(venue string, dir engine.Direction) []int {
	var out []int
	for i, g := range cityGates {
		if g.venue == venue && g.dir == dir {
			out = append(out, i)
		}
	}
	return out
}

func (pl *planner) pick(gates []int) int { return gates[pl.r.IntN(len(gates))] }

var transitVenues = []string{"rtm-metro", "rtm-metro", "rtm-metro", "rtm-tram", "rtm-bus"}

// newPlan draws the day: passes sold from 08:30 to 17:00 at the desks and on
// the web, each holder's taps through the day and evening, and the incidents
// a city pass operator sees (repeated entries, a friend trying the card
// within the anti-passback window, lost and stolen cards, cloned cards,
// cards of other systems, unused passes refunded).
func newPlan(seed int64, passes int, day time.Time, desfirePct int) *plan {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(uint64(seed) >> (8 * i))
	}
	copy(s[8:], "citypass demo day")
	pl := &planner{r: rand.New(rand.NewChaCha8(s)), day: day, p: &plan{}, uids: map[string]bool{}}
	total := 0
	for _, m := range productMix {
		total += m.weight
	}
	for range passes {
		w := pl.r.IntN(total)
		prod := productMix[0].id
		for _, m := range productMix {
			if w < m.weight {
				prod = m.id
				break
			}
			w -= m.weight
		}
		medium := "ntag424"
		if pl.r.IntN(100) < desfirePct {
			medium = "desfire"
		}
		v := &visitor{product: prod, channel: "desk", card: pl.newCard(medium)}
		if pl.chance(0.3) {
			v.channel = "web"
		}
		pl.p.visitors = append(pl.p.visitors, v)
		// Sales are busiest in the morning: the later of two uniform draws
		// is skewed late, so take the earlier.
		span := int((8*time.Hour + 30*time.Minute) / time.Second)
		sold := pl.at(8, 30).Add(time.Duration(min(pl.r.IntN(span), pl.r.IntN(span))) * time.Second)
		pl.add(&event{at: sold, kind: evSale, v: v, card: v.card})
		pl.itinerary(v, sold)
	}
	// Cards of nobody: blank stock cards of ours that never carried a pass,
	// and cards of other systems whose SUN our keys do not verify.
	for i := range max(2, passes/200) {
		c := pl.newCard("ntag424")
		if i%2 == 1 {
			c.medium = "foreign"
		}
		at := pl.at(9, 0).Add(pl.minutes(0, 11*60))
		for range 1 + pl.r.IntN(2) {
			pl.tap(c, at, pl.pick(gatesOf(transitVenues[pl.r.IntN(len(transitVenues))], engine.Entry)))
			at = at.Add(pl.minutes(1, 5))
		}
	}
	slices.SortStableFunc(pl.p.events, func(a, b *event) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.order - b.order
	})
	return pl.p
}

// itinerary draws one pass holder's day from the sale on.
func (pl *planner) itinerary(v *visitor, sold time.Time) {
	if pl.chance(0.03) {
		// Bought and never used; some are brought back.
		if pl.chance(0.5) {
			pl.add(&event{at: sold.Add(pl.minutes(30, 180)), kind: evRefund, v: v})
		}
		return
	}
	museumPass := v.product == "museums-3days-adult"
	sights := []string{"mucem", "musee-histoire", "beaux-arts", "chateau-if", "panier-walk"}
	if museumPass {
		sights = []string{"mucem", "musee-histoire", "beaux-arts"}
		if pl.chance(0.1) {
			sights = append(sights, "chateau-if") // not in the product: PRODUCT
		}
	}
	pl.r.Shuffle(len(sights), func(i, j int) { sights[i], sights[j] = sights[j], sights[i] })
	n := 1 + pl.r.IntN(min(3, len(sights)))
	t := sold.Add(pl.minutes(3, 40))
	c := v.card
	lost := pl.chance(0.006)
	stolen := !lost && pl.chance(0.004)
	cloned := !lost && !stolen && c.medium == "ntag424" && pl.chance(0.004)
	for i, sight := range sights[:n] {
		if t.After(pl.at(18, 30)) {
			break
		}
		if pl.chance(0.75) {
			t = pl.ride(c, t)
		}
		t = pl.visit(c, sight, t)
		if cloned {
			// A skimmer reads the card in a crowd; its copy is tried later,
			// after the genuine card has been tapped again: REPLAYED.
			clone := &card{uid: c.uid, medium: "clone", ofClone: c}
			pl.add(&event{at: t.Add(pl.minutes(1, 5)), kind: evSkim, card: c, newCard: clone})
			t = pl.ride(c, t.Add(pl.minutes(6, 10)))
			pl.tap(clone, t.Add(pl.minutes(5, 60)), pl.pick(gatesOf("rtm-metro", engine.Entry)))
			cloned = false
		}
		if (lost || stolen) && i == 0 {
			old := c
			if lost {
				// Reported lost at the desk: blocked, the pass moved to a new
				// card; whoever finds the old card is refused: REVOKED.
				pl.add(&event{at: t.Add(pl.minutes(10, 20)), kind: evBlock, v: v, card: old, reason: engine.BlockLost})
				c = pl.newCard("ntag424")
				t = t.Add(pl.minutes(25, 40))
				pl.add(&event{at: t, kind: evReplace, v: v, card: old, newCard: c})
				pl.tap(old, t.Add(pl.minutes(30, 120)), pl.pick(gatesOf("rtm-metro", engine.Entry)))
			} else {
				// Stolen: blocked; the thief tries the metro: BLOCKED. The
				// holder's day ends here.
				pl.add(&event{at: t.Add(pl.minutes(10, 20)), kind: evBlock, v: v, card: old, reason: engine.BlockStolen})
				pl.tap(old, t.Add(pl.minutes(40, 120)), pl.pick(gatesOf("rtm-metro", engine.Entry)))
				return
			}
		}
		if pl.chance(0.4) {
			t = t.Add(pl.minutes(40, 90)) // lunch, a walk, the beach
		}
	}
	if pl.chance(0.6) {
		t = pl.ride(c, t.Add(pl.minutes(5, 30))) // back to the hotel
	}
	if pl.chance(0.3) {
		// An evening out: the last rides run past midnight, still in the
		// service day (it starts at 04:30).
		t = later(t, pl.at(20, 0)).Add(pl.minutes(0, 200))
		pl.ride(c, t)
		if pl.chance(0.8) {
			pl.ride(c, t.Add(pl.minutes(60, 150)))
		}
	}
}

// ride is one transit trip starting at t; it returns the arrival time.
func (pl *planner) ride(c *card, t time.Time) time.Time {
	venue := transitVenues[pl.r.IntN(len(transitVenues))]
	pl.tap(c, t, pl.pick(gatesOf(venue, engine.Entry)))
	if pl.chance(0.04) {
		// A friend tries the same card at the same station: PASSBACK.
		pl.tap(c, t.Add(pl.minutes(1, 12)), pl.pick(gatesOf(venue, engine.Entry)))
	}
	arrive := t.Add(pl.minutes(8, 25))
	if venue == "rtm-metro" && pl.chance(0.3) {
		pl.tap(c, arrive, pl.pick(gatesOf(venue, engine.Exit)))
	}
	return arrive.Add(pl.minutes(2, 10))
}

// visit is one sight starting at t; it returns when the holder leaves.
func (pl *planner) visit(c *card, sight string, t time.Time) time.Time {
	t = later(t, pl.at(9, 30)) // opening time
	if sight == "chateau-if" {
		pl.tap(c, t, pl.pick(gatesOf("frioul-if-boat", engine.Entry)))
		t = t.Add(pl.minutes(20, 30))
	}
	pl.tap(c, t, pl.pick(gatesOf(sight, engine.Entry)))
	stay := pl.minutes(45, 150)
	if exits := gatesOf(sight, engine.Exit); len(exits) > 0 && pl.chance(0.85) {
		pl.tap(c, t.Add(stay), pl.pick(exits))
	}
	if sight != "panier-walk" && pl.chance(0.04) {
		// Back after lunch for the part they missed: ALREADY_REDEEMED
		// (museums-3days allows one entry per museum per day).
		pl.tap(c, t.Add(stay+pl.minutes(30, 120)), pl.pick(gatesOf(sight, engine.Entry)))
	}
	if sight == "chateau-if" {
		stay += pl.minutes(20, 30) // the boat back
	}
	return t.Add(stay)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
