package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/citypass/citypass/tariff"
)

// tapJSON is the `tap --json` object (docs/semantics.md, "Command line").
type tapJSON struct {
	Decision   string   `json:"decision"`
	Reason     string   `json:"reason"`
	Flags      []string `json:"flags"`
	Pass       string   `json:"pass"`
	Product    string   `json:"product"`
	ValidUntil *string  `json:"valid_until"`
	Device     string   `json:"device"`
	Seq        uint64   `json:"seq"`
	Duplicate  bool     `json:"duplicate"`
	Message    string   `json:"message"`
	RetryAt    *string  `json:"retry_at"`
}

// MarshalJSON writes the `tap --json` object. valid_until is RFC 3339 in the
// tariff's zone, or null when the pass has no validity end yet.
func (r Result) MarshalJSON() ([]byte, error) {
	o := tapJSON{Decision: "deny", Reason: r.Decision.Reason.String(), Flags: r.Decision.Flags.Names(),
		Pass: r.Decision.Pass, Product: r.Decision.Product, Device: r.Tap.Device, Seq: r.Tap.Seq,
		Duplicate: r.Duplicate, Message: r.Message}
	if r.Decision.Accept {
		o.Decision = "accept"
	}
	if !r.Decision.ValidUntil.IsZero() {
		s := r.Decision.ValidUntil.Format(time.RFC3339)
		o.ValidUntil = &s
	}
	if !r.RetryAt.IsZero() {
		s := r.RetryAt.Format(time.RFC3339)
		o.RetryAt = &s
	}
	return json.Marshal(o)
}

// FormatMinor formats minor units as a decimal string with 2 places ("32.00").
func FormatMinor(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

// PassView is a pass as shown to an operator (`pass show`): its state at an
// instant, validity and per-venue usage. Its fields marshal to JSON as is.
type PassView struct {
	Pass          string   `json:"pass"`
	Card          string   `json:"card"`
	Cards         []string `json:"cards"`
	Product       string   `json:"product"`
	Category      string   `json:"category"`
	TariffVersion string   `json:"tariff_version"`
	// Status: sold | active | expired | refunded (at the instant of the view).
	Status      string      `json:"status"`
	Live        bool        `json:"live"`
	Blocked     bool        `json:"blocked"`
	BlockReason string      `json:"block_reason,omitempty"`
	Price       string      `json:"price"`
	Currency    string      `json:"currency"`
	Channel     string      `json:"channel,omitempty"`
	SoldAt      string      `json:"sold_at"`
	ActivatedAt string      `json:"activated_at,omitempty"`
	ValidFrom   string      `json:"valid_from,omitempty"`
	ValidUntil  string      `json:"valid_until,omitempty"`
	ActivateBy  string      `json:"activate_by,omitempty"`
	RefundedAt  string      `json:"refunded_at,omitempty"`
	Entries     int         `json:"entries"`
	Usage       []VenueView `json:"usage"`
	// ReplacedCard is set by ShowCard when the card asked for was replaced:
	// the view is then of the pass it carried, now on another card.
	ReplacedCard *ReplacedCardView `json:"replaced_card,omitempty"`
}

// ReplacedCardView is a card that was replaced by another (revoked for good).
type ReplacedCardView struct {
	Card       string `json:"card"`
	ReplacedBy string `json:"replaced_by"`
	// ReplacedAt is RFC 3339 in the tariff's zone; empty when the ledger did
	// not record it (a replacement stored by an earlier release).
	ReplacedAt  string `json:"replaced_at,omitempty"`
	Blocked     bool   `json:"blocked"`
	BlockReason string `json:"block_reason,omitempty"`
}

// VenueView is a pass's usage at one venue.
type VenueView struct {
	Venue     string         `json:"venue"`
	Entries   int            `json:"entries"`
	Days      map[string]int `json:"days"`
	LastEntry string         `json:"last_entry"`
}

// NewPassView describes pass p with its usage and current card at instant at,
// times and service days in the zone of tariff version t (nil: times as
// stored, days by UTC date).
func NewPassView(p *Pass, u *Usage, c *Card, at time.Time, t *tariff.Tariff) PassView {
	var loc *time.Location
	if t != nil {
		loc = t.Location
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		if loc != nil {
			t = t.In(loc)
		}
		return t.Format(time.RFC3339)
	}
	v := PassView{
		Pass: p.ID, Card: p.Card, Cards: append([]string{}, p.Cards...), Product: p.Product,
		Category: p.Category, TariffVersion: p.TariffVersion, Status: p.Status.String(),
		Live: p.Live(at), Price: FormatMinor(p.PriceMinor), Currency: p.Currency, Channel: p.Channel,
		SoldAt: ts(p.SoldAt), ActivatedAt: ts(p.ActivatedAt), ValidFrom: ts(p.FixedStart),
		ValidUntil: ts(p.ValidUntil), ActivateBy: ts(p.ActivateBy), RefundedAt: ts(p.RefundedAt),
		Usage: []VenueView{},
	}
	if p.Status != PassRefunded && !v.Live {
		v.Status = "expired"
	}
	if c != nil {
		v.Blocked, v.BlockReason = c.Blocked, c.BlockReason
	}
	if u != nil {
		v.Entries = u.TotalEntries()
		byVenue := map[string]*VenueView{}
		for _, e := range u.Visits {
			vv := byVenue[e.Venue]
			if vv == nil {
				vv = &VenueView{Venue: e.Venue, Days: map[string]int{}}
				byVenue[e.Venue] = vv
			}
			vv.Entries++
			day := tariff.DateOf(e.At.UTC())
			if t != nil {
				day = t.ServiceDay(e.At)
			}
			vv.Days[day.String()]++
			vv.LastEntry = ts(e.At) // visits are in time order
		}
		for _, vv := range byVenue {
			v.Usage = append(v.Usage, *vv)
		}
		sort.Slice(v.Usage, func(i, j int) bool { return v.Usage[i].Venue < v.Usage[j].Venue })
	}
	return v
}
