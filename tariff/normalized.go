package tariff

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// NormalizedJSON returns the loaded tariff as indented JSON with every
// default filled in and every value in one canonical spelling: amounts with 2
// places, durations as "18m" / "24h" / "365d", IBANs without spaces, keys in
// a fixed order. Two files that mean the same tariff give the same bytes, so
// it is what a reviewer diffs between versions (and the sample's golden file).
func (t *Tariff) NormalizedJSON() ([]byte, error) {
	n := normTariff{
		Schema:           t.Schema,
		ID:               t.ID,
		EffectiveFrom:    t.EffectiveFrom.Format(time.RFC3339),
		Currency:         t.Currency,
		Timezone:         t.Location.String(),
		ServiceDayStarts: fmt.Sprintf("%02d:%02d", int(t.ServiceDayStart/time.Hour), int(t.ServiceDayStart%time.Hour/time.Minute)),
		GateLanguage:     t.GateLanguage,
		Partners:         []normPartner{},
		Venues:           []normVenue{},
		Products:         []normProduct{},
		Contracts:        []normContract{},
	}
	for _, p := range t.Partners {
		n.Partners = append(n.Partners, normPartner(p))
	}
	for _, v := range t.Venues {
		nv := normVenue{ID: v.ID, Partner: v.Partner, Kind: string(v.Kind), Name: v.Name, Zone: v.Zone}
		if !v.GatePrice.IsZero() {
			nv.GatePrice = v.GatePrice.StringFixed(moneyPlaces)
		}
		n.Venues = append(n.Venues, nv)
	}
	for _, p := range t.Products {
		np := normProduct{ID: p.ID, Name: p.Name, Category: p.Category,
			Price: p.Price.StringFixed(moneyPlaces), VATRate: p.VATRate.String(),
			Clock: string(p.Clock), Activation: string(p.Activation), Refund: string(p.Refund),
			Includes: []normInclude{},
			Offline:  normOffline{MaxStaleness: FormatDuration(p.Offline.Max()), WhenStale: string(StaleAccept)}}
		if p.Offline.Deny() {
			np.Offline.WhenStale = string(StaleDeny)
		}
		if p.Clock == ClockCalendarDays {
			np.Duration = fmt.Sprintf("%dd", p.Days)
			np.Days = p.Days
		} else {
			np.Duration = FormatDuration(p.Duration)
		}
		if p.ActivateWithin > 0 {
			np.ActivateWithin = FormatDuration(p.ActivateWithin)
		}
		for _, in := range p.Includes {
			ni := normInclude{Venues: in.Venues, Zones: in.Zones, Limit: string(in.Limit.Kind), LimitN: in.Limit.N,
				PassbackScope: string(in.PassbackScope), PassbackMode: string(in.PassbackMode)}
			for _, k := range in.Kinds {
				ni.Kinds = append(ni.Kinds, string(k))
			}
			if in.Passback > 0 {
				ni.Passback = FormatDuration(in.Passback)
			}
			np.Includes = append(np.Includes, ni)
		}
		n.Products = append(n.Products, np)
	}
	for _, c := range t.Contracts {
		nc := normContract{Partner: c.Partner, Model: string(c.Model), Period: string(c.Period)}
		if len(c.Rates) > 0 {
			cats := make([]string, 0, len(c.Rates))
			for k := range c.Rates {
				cats = append(cats, k)
			}
			sort.Strings(cats)
			for _, k := range cats {
				nc.Rates = append(nc.Rates, normRate{Category: k, Amount: c.Rates[k].StringFixed(moneyPlaces)})
			}
		}
		if c.Model == ModelPercentOfGate {
			nc.Percent = c.Percent.String()
		}
		if c.Model == ModelFlat {
			nc.Amount = c.Amount.StringFixed(moneyPlaces)
		}
		if c.HasCap {
			nc.Cap = c.Cap.StringFixed(moneyPlaces)
		}
		n.Contracts = append(n.Contracts, nc)
	}
	return json.MarshalIndent(n, "", "  ")
}

type normTariff struct {
	Schema           int            `json:"schema"`
	ID               string         `json:"id"`
	EffectiveFrom    string         `json:"effective_from"`
	Currency         string         `json:"currency"`
	Timezone         string         `json:"timezone"`
	ServiceDayStarts string         `json:"service_day_starts"`
	GateLanguage     string         `json:"gate_language"`
	Partners         []normPartner  `json:"partners"`
	Venues           []normVenue    `json:"venues"`
	Products         []normProduct  `json:"products"`
	Contracts        []normContract `json:"contracts"`
}

type normPartner struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	IBAN string `json:"iban"`
	BIC  string `json:"bic"`
}

type normVenue struct {
	ID        string `json:"id"`
	Partner   string `json:"partner"`
	Kind      string `json:"kind"`
	Name      string `json:"name,omitempty"`
	Zone      string `json:"zone,omitempty"`
	GatePrice string `json:"gate_price,omitempty"`
}

type normProduct struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	Category       string        `json:"category"`
	Price          string        `json:"price"`
	VATRate        string        `json:"vat_rate"`
	Clock          string        `json:"clock"`
	Duration       string        `json:"duration"`
	Days           int           `json:"days,omitempty"`
	Activation     string        `json:"activation"`
	ActivateWithin string        `json:"activate_within,omitempty"`
	Refund         string        `json:"refund"`
	Includes       []normInclude `json:"includes"`
	Offline        normOffline   `json:"offline"`
}

type normOffline struct {
	MaxStaleness string `json:"max_staleness"`
	WhenStale    string `json:"when_stale"`
}

type normInclude struct {
	Venues        []string `json:"venues,omitempty"`
	Kinds         []string `json:"kinds,omitempty"`
	Zones         []string `json:"zones,omitempty"`
	Limit         string   `json:"limit"`
	LimitN        int      `json:"limit_n,omitempty"`
	Passback      string   `json:"passback,omitempty"`
	PassbackScope string   `json:"passback_scope"`
	PassbackMode  string   `json:"passback_mode"`
}

type normContract struct {
	Partner string     `json:"partner"`
	Model   string     `json:"model"`
	Rates   []normRate `json:"rates,omitempty"`
	Percent string     `json:"percent,omitempty"`
	Amount  string     `json:"amount,omitempty"`
	Period  string     `json:"period"`
	Cap     string     `json:"cap,omitempty"`
}

type normRate struct {
	Category string `json:"category"`
	Amount   string `json:"amount"`
}
