package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/citypass/citypass/engine"
)

// A small engine-like workload shared by the crash, fault, kill and bench
// tests: wlCards cards each carry one pass; a tap is decided from the pass's
// usage (entries per venue under wlLimit are accepted), journaled, counted
// into usage, and an accepted tap posts its revenue: one transaction, one
// atomic batch.

const (
	wlCards = 8
	wlLimit = 1 << 30 // effectively unlimited unless a test lowers it
)

var wlEpoch = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func wlCard(i int) string { return fmt.Sprintf("04A1%04X", i) }
func wlPass(i int) string { return fmt.Sprintf("P%04d", i) }

// wlSetup sells one pass onto each of n cards.
func wlSetup(ctx context.Context, l *Ledger, n int) error {
	return l.Update(ctx, func(tx engine.Txn) error {
		for i := 0; i < n; i++ {
			p := engine.Pass{ID: wlPass(i), TariffVersion: "v1", Product: "cp24-adult", Card: wlCard(i),
				Cards: []string{wlCard(i)}, SoldAt: wlEpoch, PriceMinor: 3200, Currency: "EUR", Channel: "test"}
			if err := tx.PutPass(p); err != nil {
				return err
			}
			if err := tx.PutCard(engine.Card{UID: wlCard(i), Passes: []string{p.ID}}); err != nil {
				return err
			}
			if err := tx.PutPosting(engine.Posting{ID: "sale/" + p.ID, At: wlEpoch, Kind: "sale", Ref: p.ID, Lines: []engine.PostingLine{
				{Account: engine.AccountSalesClearing, DebitMinor: 3200}, {Account: engine.AccountDeferredRevenue, CreditMinor: 3200}}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// wlTap is the deterministic content of tap (device, seq) over cards
// [cardLo, cardLo+cardN).
func wlTap(device string, seq uint64, cardLo, cardN int) engine.Tap {
	h := seq*0x9E3779B97F4A7C15 ^ uint64(len(device))*0xBF58476D1CE4E5B9
	for _, c := range []byte(device) {
		h = (h ^ uint64(c)) * 0x100000001B3
	}
	venue := []string{"MUSEUM", "TOWER", "ZOO"}[h%3]
	dir := engine.Entry
	if h>>8%5 == 0 {
		dir = engine.Exit
	}
	return engine.Tap{
		ID:        engine.TapID{Device: device, Seq: seq},
		Card:      wlCard(cardLo + int(h>>16%uint64(cardN))),
		Gate:      venue + "/G" + fmt.Sprint(h>>24%3),
		Direction: dir,
		At:        wlEpoch.Add(time.Duration(seq) * time.Second),
		Counter:   uint32(seq),
	}
}

var errWLConflict = errors.New("workload: same tap id, different content")

func sameTap(a, b engine.Tap) bool {
	return a.ID == b.ID && a.Card == b.Card && a.Gate == b.Gate && a.Direction == b.Direction &&
		a.At.Equal(b.At) && a.Counter == b.Counter && a.HasCounter == b.HasCounter && a.ProofFailed == b.ProofFailed
}

// wlResult is what a tap transaction produced.
type wlResult struct {
	Rec engine.TapRecord
	Dup bool
}

// wlTxn decides and journals tap like the engine would. limit bounds accepted
// entries per pass and venue.
func wlTxn(tap engine.Tap, limit int, out *wlResult) func(tx engine.Txn) error {
	return func(tx engine.Txn) error {
		if rec, ok, err := tx.Tap(tap.ID); err != nil {
			return err
		} else if ok {
			if !sameTap(rec.Tap, tap) {
				return fmt.Errorf("%w: %s", errWLConflict, tap.ID)
			}
			*out = wlResult{Rec: rec, Dup: true}
			return nil
		}
		card, ok, err := tx.Card(tap.Card)
		if err != nil {
			return err
		}
		rec := engine.TapRecord{Tap: tap, Venue: tap.Gate[:len(tap.Gate)-3]}
		if !ok || len(card.Passes) == 0 {
			rec.Decision = engine.Decision{Reason: engine.ReasonInvalid}
			if err := tx.PutTap(&rec); err != nil {
				return err
			}
			*out = wlResult{Rec: rec}
			return nil
		}
		pass, ok, err := tx.Pass(card.Passes[len(card.Passes)-1])
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("workload: pass of card %s missing", card.UID)
		}
		u, err := tx.Usage(pass.ID)
		if err != nil {
			return err
		}
		rec.Pass, rec.Product, rec.TariffVersion = pass.ID, pass.Product, pass.TariffVersion
		rec.Decision = engine.Decision{Accept: true, Pass: pass.ID, Product: pass.Product}
		entry := tap.Direction == engine.Entry
		if entry {
			if u.VenueEntries(rec.Venue) >= limit {
				rec.Decision = engine.Decision{Reason: engine.ReasonAlreadyRedeemed, Pass: pass.ID, Product: pass.Product}
			}
		}
		if err := tx.PutTap(&rec); err != nil {
			return err
		}
		card.LastCounter, card.HasCounter = tap.Counter, true
		if err := tx.PutCard(card); err != nil {
			return err
		}
		if entry && rec.Decision.Accept {
			eff := engine.Effects{CountEntry: true, Visit: engine.Visit{Tap: tap.ID, At: tap.At, Venue: rec.Venue, Gate: tap.Gate}}
			eff.Apply(nil, nil, &u)
			if err := tx.PutUsage(pass.ID, u); err != nil {
				return err
			}
			if err := tx.PutPosting(wlPosting(rec)); err != nil {
				return err
			}
		}
		*out = wlResult{Rec: rec}
		return nil
	}
}

func wlPostingID(id engine.TapID) string { return fmt.Sprintf("tap/%s/%d", id.Device, id.Seq) }

func wlPosting(rec engine.TapRecord) engine.Posting {
	return engine.Posting{ID: wlPostingID(rec.ID), At: rec.At, Kind: "pass_revenue", Ref: rec.Pass, Lines: []engine.PostingLine{
		{Account: engine.AccountDeferredRevenue, DebitMinor: 100}, {Account: engine.AccountPassRevenue, CreditMinor: 100}}}
}

// wlVerify checks what the workload guarantees about a reopened ledger: every
// acknowledged tap is present with its decision; no journaled tap outside
// allowed (ids the workload attempted and did not abandon); an accepted entry
// and its posting exist together; Check finds nothing.
func wlVerify(l *Ledger, acked map[engine.TapID]engine.TapRecord, allowed func(engine.TapID) bool) error {
	ctx := context.Background()
	for id, want := range acked {
		var got engine.TapRecord
		var ok bool
		if err := l.View(ctx, func(r engine.Reader) (err error) { got, ok, err = r.Tap(id); return err }); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("acknowledged tap %s lost", id)
		}
		if got.Decision != want.Decision && !(got.Decision.Accept == want.Decision.Accept && got.Decision.Reason == want.Decision.Reason && got.Decision.Pass == want.Decision.Pass) {
			return fmt.Errorf("tap %s: decision %+v, acknowledged %+v", id, got.Decision, want.Decision)
		}
		if got.JournalSeq != want.JournalSeq {
			return fmt.Errorf("tap %s: journal seq %d, acknowledged %d", id, got.JournalSeq, want.JournalSeq)
		}
	}
	postings := map[string]bool{}
	if err := l.Postings(ctx, func(p *engine.Posting) error { postings[p.ID] = true; return nil }); err != nil {
		return err
	}
	if err := l.Journal(ctx, 0, func(rec *engine.TapRecord) error {
		if allowed != nil && !allowed(rec.ID) {
			return fmt.Errorf("tap %s journaled but never committed by the workload", rec.ID)
		}
		pid := wlPostingID(rec.ID)
		want := rec.Decision.Accept && rec.Direction == engine.Entry && rec.Pass != ""
		if want != postings[pid] {
			return fmt.Errorf("half batch: tap %s accepted entry=%v, posting present=%v", rec.ID, want, postings[pid])
		}
		delete(postings, pid)
		return nil
	}); err != nil {
		return err
	}
	for id := range postings {
		if len(id) > 4 && id[:4] == "tap/" {
			return fmt.Errorf("half batch: posting %s without its tap", id)
		}
	}
	rep, err := Check(l)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("check: %d problems, first %s", rep.ProblemsTotal, rep.Problems[0])
	}
	return nil
}
