package engine_test

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/citypass/citypass/tariff"
)

// The fixture tariffs of the scenario files. "paris" has service days from
// midnight; "paris-0430" has service days from 04:30. Both are in
// Europe/Paris. Every product and venue is listed below so that a scenario
// reads with this file beside it.

// fixtureVenues: mucem, vieux-port (museums), chateau-if (attraction), zoo
// (attraction, in no product), rtm-metro and rtm-bus (transit, zone
// marseille), airport-shuttle (transit, zone airport).
func fixtureVenues() []tariff.Venue {
	return []tariff.Venue{
		{ID: "mucem", Partner: "mucem", Kind: tariff.KindMuseum, Name: "MuCEM", GatePrice: decimal.RequireFromString("11.00")},
		{ID: "vieux-port", Partner: "musees", Kind: tariff.KindMuseum, Name: "Musée du Vieux-Port"},
		{ID: "chateau-if", Partner: "cmn", Kind: tariff.KindAttraction, Name: "Château d'If"},
		{ID: "zoo", Partner: "zoo", Kind: tariff.KindAttraction, Name: "Zoo"},
		{ID: "rtm-metro", Partner: "rtm", Kind: tariff.KindTransit, Zone: "marseille"},
		{ID: "rtm-bus", Partner: "rtm", Kind: tariff.KindTransit, Zone: "marseille"},
		{ID: "airport-shuttle", Partner: "rtm", Kind: tariff.KindTransit, Zone: "airport"},
	}
}

var (
	sites     = []string{"mucem", "vieux-port", "chateau-if"}
	once      = tariff.Limit{Kind: tariff.LimitOnce, N: 1}
	perDay    = tariff.Limit{Kind: tariff.LimitOncePerDay, N: 1}
	unlimited = tariff.Limit{Kind: tariff.LimitUnlimited}
)

// transit: every marseille-zone transit venue, unlimited, 18 min passback.
func transit(scope tariff.PassbackScope, mode tariff.PassbackMode) tariff.Include {
	return tariff.Include{Kinds: []tariff.VenueKind{tariff.KindTransit}, Zones: []string{"marseille"},
		Limit: unlimited, Passback: 18 * time.Minute, PassbackScope: scope, PassbackMode: mode}
}

func product(id, category string, clock tariff.Clock, dur time.Duration, days int, act tariff.Activation, incs ...tariff.Include) tariff.Product {
	return tariff.Product{ID: id, Name: id, Category: category, Price: decimal.RequireFromString("32.00"),
		VATRate: decimal.RequireFromString("10"), Clock: clock, Duration: dur, Days: days, Activation: act,
		ActivateWithin: 365 * 24 * time.Hour, Refund: tariff.RefundUnused, Includes: incs}
}

// fixtureProducts (all priced 32.00, refund unused, activate within 365 d
// unless said otherwise):
//
//	cp24-adult   elapsed 24h, first_use; sites once; transit 18m venue hard
//	cp24-child   as cp24-adult, category child
//	cp72-adult   elapsed 72h, first_use; sites once; transit 18m venue hard
//	cd4-adult    calendar_days 4, first_use; sites once
//	cd3-adult    calendar_days 3, first_use; sites once
//	venue48      elapsed 48h, first_venue; sites once; transit 18m venue hard
//	daily3       calendar_days 3, first_use; sites once_per_day
//	multi        elapsed 72h, first_use; mucem "3"; chateau-if unlimited
//	soft-gate    elapsed 24h, first_use; transit 18m gate soft
//	hard-gate    elapsed 24h, first_use; transit 18m gate hard
//	system       elapsed 24h, first_use; sites once with 30m system passback; transit 18m system hard
//	atsale24     elapsed 24h, at_sale; sites once
//	fixed48      fixed 48h, fixed_start; sites once
//	short        elapsed 24h, first_use, activate within 2d; sites once
//	norefund     elapsed 24h, first_use, refund none; sites once
//	free         as cp24-adult, price 0.00
func fixtureProducts() []tariff.Product {
	venueHard := transit(tariff.ScopeVenue, tariff.ModeHard)
	sitesOnce := tariff.Include{Venues: sites, Limit: once}
	ps := []tariff.Product{
		product("cp24-adult", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse, sitesOnce, venueHard),
		product("cp24-child", "child", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse, sitesOnce, venueHard),
		product("cp72-adult", "adult", tariff.ClockElapsed, 72*time.Hour, 0, tariff.ActivationFirstUse, sitesOnce, venueHard),
		product("cd4-adult", "adult", tariff.ClockCalendarDays, 0, 4, tariff.ActivationFirstUse, sitesOnce),
		product("cd3-adult", "adult", tariff.ClockCalendarDays, 0, 3, tariff.ActivationFirstUse, sitesOnce),
		product("venue48", "adult", tariff.ClockElapsed, 48*time.Hour, 0, tariff.ActivationFirstVenue, sitesOnce, venueHard),
		product("daily3", "adult", tariff.ClockCalendarDays, 0, 3, tariff.ActivationFirstUse, tariff.Include{Venues: sites, Limit: perDay}),
		product("multi", "adult", tariff.ClockElapsed, 72*time.Hour, 0, tariff.ActivationFirstUse,
			tariff.Include{Venues: []string{"mucem"}, Limit: tariff.Limit{Kind: tariff.LimitN, N: 3}},
			tariff.Include{Venues: []string{"chateau-if"}, Limit: unlimited}),
		product("soft-gate", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse, transit(tariff.ScopeGate, tariff.ModeSoft)),
		product("hard-gate", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse, transit(tariff.ScopeGate, tariff.ModeHard)),
		product("system", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse,
			tariff.Include{Venues: sites, Limit: once, Passback: 30 * time.Minute, PassbackScope: tariff.ScopeSystem, PassbackMode: tariff.ModeHard},
			transit(tariff.ScopeSystem, tariff.ModeHard)),
		product("atsale24", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationAtSale, sitesOnce),
		product("fixed48", "adult", tariff.ClockFixed, 48*time.Hour, 0, tariff.ActivationFixedStart, sitesOnce),
		product("short", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse, sitesOnce),
		product("norefund", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse, sitesOnce),
		product("free", "adult", tariff.ClockElapsed, 24*time.Hour, 0, tariff.ActivationFirstUse, sitesOnce, venueHard),
	}
	for i := range ps {
		switch ps[i].ID {
		case "short":
			ps[i].ActivateWithin = 48 * time.Hour
		case "norefund":
			ps[i].Refund = tariff.RefundNone
		case "free":
			ps[i].Price = decimal.Zero
		}
	}
	return ps
}

func fixtureTariff(name string) *tariff.Tariff {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	t := &tariff.Tariff{Schema: 1, ID: name, EffectiveFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, loc),
		Currency: "EUR", Location: loc, Venues: fixtureVenues(), Products: fixtureProducts(),
		Partners: []tariff.Partner{{ID: "mucem"}, {ID: "musees"}, {ID: "cmn"}, {ID: "zoo"}, {ID: "rtm"}}}
	switch name {
	case "paris":
	case "paris-0430":
		t.ServiceDayStart = 4*time.Hour + 30*time.Minute
	default:
		panic("unknown fixture tariff " + name)
	}
	return t
}
