package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// HistorySource is what History reads: pass and card records, and the
// journal by tap time. *ledger.Ledger is one.
type HistorySource interface {
	View(ctx context.Context, fn func(r engine.Reader) error) error
	JournalBetween(ctx context.Context, from, to time.Time, fn func(*engine.TapRecord) error) error
}

// historyLookBehind is how long before a pass's sale History looks for its
// card's taps: a gate whose clock ran behind may journal a tap stamped
// before the sale.
const historyLookBehind = 24 * time.Hour

// Event kinds of a history.
const (
	EventSale        = "sale"
	EventActivation  = "activation"
	EventTap         = "tap"
	EventRefund      = "refund"
	EventBlock       = "block"
	EventReplacement = "replacement"
	EventEnd         = "end"
)

// Event is one thing that happened to a pass or its card.
type Event struct {
	// At is when it happened, in the tariff's zone; zero when the ledger does
	// not record it (a replacement stored by a release that did not keep
	// its time: it is placed after the old card's last event).
	At   time.Time
	Kind string // EventSale, EventTap, …
	Pass string
	Card string
	// Taps only.
	Tap       engine.TapID
	Gate      string
	Direction string
	Accept    bool
	Reason    string // "OK" or the denial code
	Flags     []string
	Message   string // what the gate showed, in the tariff's gate language
	// Detail says the rest in words: the price of a sale, a refund's amount,
	// a block's reason, a replacement's new card.
	Detail string

	order time.Time // where the event sorts
}

// PassHistory is a pass's or a card's whole story.
type PassHistory struct {
	// Card is set when the history was asked for by card: its record.
	Card *engine.Card
	// Passes are the passes told, oldest first, as `pass show` describes them.
	Passes []engine.PassView
	// Events of every pass and card, by time.
	Events []Event
	// Location is the zone the story's times are told in: the tariff's of
	// the newest pass told, else of the version in force at now (UTC when
	// none is).
	Location *time.Location
}

// History tells the story of pass passID, or (passID empty) of card uid:
// every pass it carried, their sales, activations, refunds, replacements
// and blocks, and every journaled tap of theirs with its decision, reason
// and message. now describes the passes (live or expired). A card's taps
// that resolved to no pass are included when asked by card.
func History(ctx context.Context, src HistorySource, cat *tariff.Catalog, passID, uid string, now time.Time) (*PassHistory, error) {
	h := &PassHistory{Location: time.UTC}
	if t, ok := cat.At(now); ok {
		h.Location = t.Location
	}
	var passes []engine.Pass
	cards := map[string]engine.Card{}
	usages := map[string]*engine.Usage{}
	err := src.View(ctx, func(r engine.Reader) error {
		ids := []string{passID}
		if passID == "" {
			c, ok, err := r.Card(uid)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("card %s: %w", uid, engine.ErrUnknownCard)
			}
			h.Card, ids = &c, c.Passes
		}
		for _, id := range ids {
			p, ok, err := r.Pass(id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("pass %s: %w", id, engine.ErrUnknownPass)
			}
			passes = append(passes, p)
			for _, cu := range p.Cards {
				if _, seen := cards[cu]; seen {
					continue
				}
				c, ok, err := r.Card(cu)
				if err != nil {
					return err
				}
				if ok {
					cards[cu] = c
				}
			}
		}
		for _, p := range passes {
			u, err := r.Usage(p.ID)
			if err != nil {
				return err
			}
			usages[p.ID] = &u
			c := cards[p.Card]
			t, ok := cat.Version(p.TariffVersion)
			if ok {
				h.Location = t.Location
			}
			h.Passes = append(h.Passes, engine.NewPassView(&p, &u, &c, now, t))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(passes) == 0 && h.Card == nil {
		return nil, errors.New("history: nothing to tell")
	}

	want := map[string]bool{}
	cardsOf := map[string]bool{}
	from := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range passes {
		p := &passes[i]
		want[p.ID] = true
		for _, c := range p.Cards {
			cardsOf[c] = true
		}
		if p.SoldAt.Before(from) {
			from = p.SoldAt
		}
		h.Events = append(h.Events, passEvents(cat, p, cards, now)...)
	}
	if h.Card != nil {
		cardsOf[h.Card.UID] = true
	}
	if len(passes) == 0 {
		from = time.Unix(0, 0)
	}
	to := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	err = src.JournalBetween(ctx, from.Add(-historyLookBehind), to, func(rec *engine.TapRecord) error {
		if !want[rec.Pass] && !(h.Card != nil && rec.Pass == "" && cardsOf[rec.Card]) {
			return nil
		}
		loc, lang := time.UTC, engine.English
		if t, ok := cat.Version(rec.TariffVersion); ok {
			loc, lang = t.Location, engine.TariffLanguage(t)
		} else if t, ok := cat.At(rec.At); ok {
			loc, lang = t.Location, engine.TariffLanguage(t)
		}
		at := rec.At.In(loc)
		var wait time.Duration
		if rec.Decision.Reason == engine.ReasonPassback {
			wait = engine.PassbackWait(passbackEnd(cat, rec, usages[rec.Pass]), rec.At)
		}
		h.Events = append(h.Events, Event{At: at, order: at, Kind: EventTap, Pass: rec.Pass, Card: rec.Card,
			Tap: rec.ID, Gate: rec.Gate, Direction: rec.Direction.String(), Accept: rec.Decision.Accept,
			Reason: rec.Decision.Reason.String(), Flags: rec.Decision.Flags.Names(),
			Message: engine.MessageIn(lang, rec.Decision, rec.Direction, wait, loc)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: reading the journal: %w", err)
	}
	placeReplacements(h.Events)
	sort.SliceStable(h.Events, func(i, j int) bool { return h.Events[i].order.Before(h.Events[j].order) })
	return h, nil
}

// passbackEnd is when the anti-passback window that denied rec ended, as
// the gate computed it (engine.PassbackEnd over the pass's visits before
// the tap), so that the story repeats the wait the gate showed; zero when
// it cannot be told.
func passbackEnd(cat *tariff.Catalog, rec *engine.TapRecord, u *engine.Usage) time.Time {
	t, prod, err := cat.ProductAsSold(rec.TariffVersion, rec.Product)
	if err != nil || u == nil {
		return time.Time{}
	}
	v, _, ok := cat.FindVenue(rec.Venue, rec.At, t)
	if !ok {
		return time.Time{}
	}
	return engine.PassbackEnd(&engine.Input{Tap: &rec.Tap, Tariff: t, Product: prod, Venue: v, Usage: u})
}

// passEvents are a pass's lifecycle events (not its taps).
func passEvents(cat *tariff.Catalog, p *engine.Pass, cards map[string]engine.Card, now time.Time) []Event {
	loc := time.UTC
	if t, ok := cat.Version(p.TariffVersion); ok {
		loc = t.Location
	}
	ev := func(at time.Time, kind, card, detail string) Event {
		at = at.In(loc)
		return Event{At: at, order: at, Kind: kind, Pass: p.ID, Card: card, Detail: detail}
	}
	first := p.Card
	if len(p.Cards) > 0 {
		first = p.Cards[0]
	}
	sale := fmt.Sprintf("%s sold for %s", p.Product, tariff.FormatMinorAmount(p.PriceMinor, p.Currency))
	if p.Channel != "" {
		sale += " at " + p.Channel
	}
	out := []Event{ev(p.SoldAt, EventSale, first, sale)}
	if !p.ActivatedAt.IsZero() {
		a := ev(p.ActivatedAt, EventActivation, "", "valid until "+p.ValidUntil.In(loc).Format("2006-01-02 15:04 -07:00"))
		a.order = a.order.Add(time.Nanosecond) // after the tap that activated it
		out = append(out, a)
	}
	if p.Status == engine.PassRefunded {
		out = append(out, ev(p.RefundedAt, EventRefund, "", "refunded "+tariff.FormatMinorAmount(p.PriceMinor, p.Currency)))
	}
	for i := 1; i < len(p.Cards); i++ {
		detail := fmt.Sprintf("moved from card %s to card %s; the old card is revoked", p.Cards[i-1], p.Cards[i])
		if c, ok := cards[p.Cards[i-1]]; ok && !c.ReplacedAt.IsZero() {
			out = append(out, ev(c.ReplacedAt, EventReplacement, p.Cards[i-1], detail))
			continue
		}
		out = append(out, Event{Kind: EventReplacement, Pass: p.ID, Card: p.Cards[i-1], Detail: detail})
	}
	for _, uid := range p.Cards {
		if c, ok := cards[uid]; ok && c.Blocked {
			out = append(out, ev(c.BlockedAt, EventBlock, uid, fmt.Sprintf("card %s blocked (%s)", uid, c.BlockReason)))
		}
	}
	switch {
	case p.Status == engine.PassRefunded:
	case !p.ValidUntil.IsZero() && !now.Before(p.ValidUntil):
		out = append(out, ev(p.ValidUntil, EventEnd, "", "end of validity"))
	case p.ValidUntil.IsZero() && !p.ActivateBy.IsZero() && !now.Before(p.ActivateBy):
		out = append(out, ev(p.ActivateBy, EventEnd, "", "activation deadline (never activated)"))
	}
	return out
}

// placeReplacements gives each replacement whose time the ledger did not
// keep the place right after the last event of its old card while it still
// carried the pass (its REVOKED taps come after), or after the sale.
func placeReplacements(events []Event) {
	for i := range events {
		e := &events[i]
		if e.Kind != EventReplacement || !e.At.IsZero() {
			continue
		}
		for _, o := range events {
			if o.Kind == EventReplacement || o.Kind == EventEnd || o.Pass != e.Pass && o.Card != e.Card ||
				o.Kind == EventTap && o.Reason == engine.ReasonRevoked.String() {
				continue
			}
			if (o.Card == e.Card || o.Kind == EventSale) && o.order.After(e.order) {
				e.order = o.order.Add(time.Nanosecond)
			}
		}
	}
}
