package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/citypass/citypass/tariff"
)

// SellRequest is a sale of a product onto a card.
type SellRequest struct {
	Product string
	Card    string    // card UID in hex
	At      time.Time // sale instant; the tariff version in force then applies
	// Start is the first service day of a fixed-clock or fixed_start product;
	// it must be nil for any other product.
	Start   *tariff.Date
	Channel string // sales channel, e.g. "desk", "web"; free text
}

// Block reasons accepted by Block.
const (
	BlockLost   = "lost"
	BlockStolen = "stolen"
	BlockFraud  = "fraud"
)

// Sell creates a pass and binds it to a card. It refuses a revoked or
// blocked card and a card that already carries a live pass (LivePassError).
// The sale is posted Dr sales_clearing / Cr deferred_revenue.
func (v *Validator) Sell(ctx context.Context, req SellRequest) (Pass, error) {
	uid, err := NormalizeUID(req.Card)
	if err != nil {
		return Pass{}, err
	}
	if err := checkInstant("sale", req.At); err != nil {
		return Pass{}, err
	}
	if err := tariff.CheckText("sales channel", req.Channel, tariff.MaxLabelLen); err != nil {
		return Pass{}, &requestError{what: "sale", err: err}
	}
	t, ok := v.catalog.Load().At(req.At)
	if !ok {
		return Pass{}, ErrNoTariff
	}
	prod, ok := t.Product(req.Product)
	if !ok {
		return Pass{}, fmt.Errorf("product %q in tariff %s: %w", req.Product, t.ID, ErrUnknownProduct)
	}
	if req.At.Before(t.EffectiveFrom) {
		return Pass{}, fmt.Errorf("sale at %s: no tariff version in force (the oldest, %s, is effective from %s): %w",
			t.LocalTime(req.At), t.ID, t.EffectiveFrom.Format("2006-01-02"), ErrNoTariff)
	}
	priceMinor, err := tariff.MinorUnits(prod.Price)
	if err != nil {
		return Pass{}, fmt.Errorf("product %s price: %w", prod.ID, err)
	}
	if priceMinor < 0 {
		return Pass{}, fmt.Errorf("product %s has a negative price %s", prod.ID, prod.Price)
	}
	id, err := v.newPassID()
	if err != nil {
		return Pass{}, err
	}
	p := Pass{
		ID: id, TariffVersion: t.ID, Product: prod.ID, Category: prod.Category,
		Card: uid, Cards: []string{uid}, SoldAt: req.At, PriceMinor: priceMinor,
		Currency: t.Currency, Channel: req.Channel, Status: PassSold,
	}
	fixed := prod.Clock == tariff.ClockFixed || prod.Activation == tariff.ActivationFixedStart
	switch {
	case fixed:
		if req.Start == nil {
			return Pass{}, fmt.Errorf("product %s has a fixed start: a start date is required: %w", prod.ID, ErrBadRequest)
		}
		if req.Start.Before(t.ServiceDay(req.At)) {
			return Pass{}, fmt.Errorf("start %s is before the sale day %s: %w", req.Start, t.ServiceDay(req.At), ErrBadRequest)
		}
		start := t.DayStart(*req.Start)
		p.FixedStart, p.ActivatedAt, p.ValidUntil, p.Status = start, start, ValidityEnd(t, prod, start), PassActive
	case req.Start != nil:
		return Pass{}, fmt.Errorf("product %s has no fixed start: no start date allowed: %w", prod.ID, ErrBadRequest)
	case prod.Activation == tariff.ActivationAtSale:
		p.FixedStart, p.ActivatedAt, p.ValidUntil, p.Status = req.At, req.At, ValidityEnd(t, prod, req.At), PassActive
	default:
		if prod.ActivateWithin > 0 {
			p.ActivateBy = req.At.Add(prod.ActivateWithin)
		}
	}
	err = v.store.Update(ctx, func(tx Txn) error {
		c, known, err := tx.Card(uid)
		if err != nil {
			return fmt.Errorf("reading card %s: %w", uid, err)
		}
		if !known {
			c = Card{UID: uid}
		}
		if c.Revoked {
			return fmt.Errorf("card %s (replaced by %s): %w", uid, c.ReplacedBy, ErrCardRevoked)
		}
		if c.Blocked {
			return fmt.Errorf("card %s (%s): %w", uid, c.BlockReason, ErrCardBlocked)
		}
		for _, pid := range c.Passes {
			q, ok, err := tx.Pass(pid)
			if err != nil {
				return fmt.Errorf("reading pass %s: %w", pid, err)
			}
			if ok && q.Live(req.At) {
				return &LivePassError{Card: uid, Pass: pid}
			}
		}
		if _, dup, err := tx.Pass(id); err != nil {
			return fmt.Errorf("reading pass %s: %w", id, err)
		} else if dup {
			return fmt.Errorf("engine: new pass id %s already used: the id source repeats", id)
		}
		c.Passes = append(append([]string(nil), c.Passes...), id)
		if err := tx.PutPass(p); err != nil {
			return fmt.Errorf("storing pass %s: %w", id, err)
		}
		if err := tx.PutCard(c); err != nil {
			return fmt.Errorf("storing card %s: %w", uid, err)
		}
		if priceMinor > 0 {
			return tx.PutPosting(Posting{ID: "sale/" + id, At: req.At, Kind: "sale", Ref: id, Lines: []PostingLine{
				{Account: AccountSalesClearing, DebitMinor: priceMinor},
				{Account: AccountDeferredRevenue, CreditMinor: priceMinor},
			}})
		}
		return nil
	})
	if err != nil {
		return Pass{}, err
	}
	return p, nil
}

// Refund refunds a pass at instant at when its product's policy allows it:
// refund = "unused" needs a live pass without any accepted entry. Later taps
// are CANCELED. The refund is posted Dr deferred_revenue / Cr refunds_payable.
func (v *Validator) Refund(ctx context.Context, passID string, at time.Time) (Pass, error) {
	if err := checkInstant("refund", at); err != nil {
		return Pass{}, err
	}
	cat := v.catalog.Load()
	var out Pass
	err := v.store.Update(ctx, func(tx Txn) error {
		p, err := readPass(tx, passID)
		if err != nil {
			return err
		}
		t, prod, err := passProduct(cat, &p)
		if err != nil {
			return err
		}
		if prod.Refund != tariff.RefundUnused {
			return fmt.Errorf("pass %s: product %s is not refundable: %w", p.ID, p.Product, ErrRefundRefused)
		}
		if p.Status == PassRefunded {
			return fmt.Errorf("pass %s was refunded at %s: %w", p.ID, t.LocalTime(p.RefundedAt), ErrRefundRefused)
		}
		if at.Before(p.SoldAt) {
			// It would be posted in a period before the sale's.
			return fmt.Errorf("pass %s: a refund at %s is before its sale at %s: %w", p.ID,
				t.LocalTime(at), t.LocalTime(p.SoldAt), ErrRefundRefused)
		}
		if !p.Live(at) {
			return fmt.Errorf("pass %s is no longer live: %w", p.ID, ErrRefundRefused)
		}
		u, err := tx.Usage(p.ID)
		if err != nil {
			return fmt.Errorf("reading usage of pass %s: %w", p.ID, err)
		}
		if n := u.TotalEntries(); n > 0 {
			return fmt.Errorf("pass %s has %d accepted entries: %w", p.ID, n, ErrRefundRefused)
		}
		p.Status, p.RefundedAt = PassRefunded, at
		if err := tx.PutPass(p); err != nil {
			return fmt.Errorf("storing pass %s: %w", p.ID, err)
		}
		if p.PriceMinor > 0 {
			if err := tx.PutPosting(Posting{ID: "refund/" + p.ID, At: at, Kind: "refund", Ref: p.ID, Lines: []PostingLine{
				{Account: AccountDeferredRevenue, DebitMinor: p.PriceMinor},
				{Account: AccountRefundsPayable, CreditMinor: p.PriceMinor},
			}}); err != nil {
				return fmt.Errorf("posting refund of pass %s: %w", p.ID, err)
			}
		}
		out = p
		return nil
	})
	return out, err
}

// Block puts a card on the block list (reason lost, stolen or fraud) from
// instant at until Unblock. Entries with it are BLOCKED; exits still pass.
func (v *Validator) Block(ctx context.Context, card, reason string, at time.Time) error {
	uid, err := NormalizeUID(card)
	if err != nil {
		return err
	}
	switch reason {
	case BlockLost, BlockStolen, BlockFraud:
	default:
		return fmt.Errorf("block reason %q: want lost, stolen or fraud: %w", reason, ErrBadRequest)
	}
	if err := checkInstant("block", at); err != nil {
		return err
	}
	return v.store.Update(ctx, func(tx Txn) error {
		c, err := readCard(tx, uid)
		if err != nil {
			return err
		}
		if c.Blocked {
			return fmt.Errorf("card %s already blocked (%s): %w", uid, c.BlockReason, ErrCardBlocked)
		}
		c.Blocked, c.BlockReason, c.BlockedAt = true, reason, at
		return tx.PutCard(c)
	})
}

// Unblock takes a card off the block list.
func (v *Validator) Unblock(ctx context.Context, card string) error {
	uid, err := NormalizeUID(card)
	if err != nil {
		return err
	}
	return v.store.Update(ctx, func(tx Txn) error {
		c, err := readCard(tx, uid)
		if err != nil {
			return err
		}
		if !c.Blocked {
			return fmt.Errorf("card %s: %w", uid, ErrCardNotBlocked)
		}
		c.Blocked, c.BlockReason, c.BlockedAt = false, "", time.Time{}
		return tx.PutCard(c)
	})
}

// Replace moves a live pass onto a new card that has never carried a pass.
// The pass keeps its activation, usage and passback history; the old card is
// revoked for good (its taps are REVOKED, no pass can be sold onto it).
func (v *Validator) Replace(ctx context.Context, passID, newCard string, at time.Time) (Pass, error) {
	uid, err := NormalizeUID(newCard)
	if err != nil {
		return Pass{}, err
	}
	if err := checkInstant("replacement", at); err != nil {
		return Pass{}, err
	}
	var out Pass
	err = v.store.Update(ctx, func(tx Txn) error {
		p, err := readPass(tx, passID)
		if err != nil {
			return err
		}
		if !p.Live(at) {
			return fmt.Errorf("pass %s: %w", p.ID, ErrNotLive)
		}
		if at.Before(p.SoldAt) {
			loc := p.SoldAt.Location()
			if t, ok := v.catalog.Load().Version(p.TariffVersion); ok {
				loc = t.Location
			}
			return fmt.Errorf("pass %s: a replacement at %s is before its sale at %s: %w", p.ID,
				tariff.FormatTime(at, loc), tariff.FormatTime(p.SoldAt, loc), ErrBadRequest)
		}
		if uid == p.Card {
			return fmt.Errorf("pass %s is already on card %s: %w", p.ID, uid, ErrCardUsed)
		}
		nc, known, err := tx.Card(uid)
		if err != nil {
			return fmt.Errorf("reading card %s: %w", uid, err)
		}
		if known && (len(nc.Passes) > 0 || nc.Revoked) {
			return fmt.Errorf("new card %s: %w", uid, ErrCardUsed)
		}
		if known && nc.Blocked {
			return fmt.Errorf("new card %s: %w", uid, ErrCardBlocked)
		}
		old, err := readCard(tx, p.Card)
		if err != nil {
			return err
		}
		old.Revoked, old.ReplacedBy, old.ReplacedAt = true, uid, at
		nc.UID, nc.Passes = uid, []string{p.ID}
		p.Card = uid
		p.Cards = append(append([]string(nil), p.Cards...), uid)
		if err := tx.PutCard(old); err != nil {
			return fmt.Errorf("storing card %s: %w", old.UID, err)
		}
		if err := tx.PutCard(nc); err != nil {
			return fmt.Errorf("storing card %s: %w", uid, err)
		}
		if err := tx.PutPass(p); err != nil {
			return fmt.Errorf("storing pass %s: %w", p.ID, err)
		}
		out = p
		return nil
	})
	return out, err
}

// ShowPass describes a pass at the Validator's clock.
func (v *Validator) ShowPass(ctx context.Context, id string) (PassView, error) {
	var view PassView
	err := v.store.View(ctx, func(r Reader) error {
		p, err := readPass(r, id)
		if err != nil {
			return err
		}
		view, err = v.view(r, &p)
		return err
	})
	return view, err
}

// ShowCard describes the pass a card resolves to: its live pass, else its
// newest.
func (v *Validator) ShowCard(ctx context.Context, card string) (PassView, error) {
	uid, err := NormalizeUID(card)
	if err != nil {
		return PassView{}, err
	}
	var view PassView
	err = v.store.View(ctx, func(r Reader) error {
		c, p, err := resolveCard(r, uid, v.now())
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("card %s: %w", uid, ErrUnknownCard)
		}
		view, err = v.view(r, p)
		if err == nil && c.Revoked {
			view.ReplacedCard = &ReplacedCardView{Card: c.UID, ReplacedBy: c.ReplacedBy,
				Blocked: c.Blocked, BlockReason: c.BlockReason}
			if !c.ReplacedAt.IsZero() {
				at := c.ReplacedAt
				if t, ok := v.catalog.Load().Version(p.TariffVersion); ok {
					at = at.In(t.Location)
				}
				view.ReplacedCard.ReplacedAt = at.Format(time.RFC3339)
			}
		}
		return err
	})
	return view, err
}

func (v *Validator) view(r Reader, p *Pass) (PassView, error) {
	u, err := r.Usage(p.ID)
	if err != nil {
		return PassView{}, fmt.Errorf("reading usage of pass %s: %w", p.ID, err)
	}
	c, _, err := r.Card(p.Card)
	if err != nil {
		return PassView{}, fmt.Errorf("reading card %s: %w", p.Card, err)
	}
	t, _ := v.catalog.Load().Version(p.TariffVersion)
	return NewPassView(p, &u, &c, v.now(), t), nil
}

func readPass(r Reader, id string) (Pass, error) {
	p, ok, err := r.Pass(id)
	if err != nil {
		return Pass{}, fmt.Errorf("reading pass %s: %w", id, err)
	}
	if !ok {
		return Pass{}, fmt.Errorf("pass %s: %w", id, ErrUnknownPass)
	}
	return p, nil
}

func readCard(r Reader, uid string) (Card, error) {
	c, ok, err := r.Card(uid)
	if err != nil {
		return Card{}, fmt.Errorf("reading card %s: %w", uid, err)
	}
	if !ok || len(c.Passes) == 0 {
		return Card{}, fmt.Errorf("card %s: %w", uid, ErrUnknownCard)
	}
	return c, nil
}

func passProduct(cat *tariff.Catalog, p *Pass) (*tariff.Tariff, *tariff.Product, error) {
	t, ok := cat.Version(p.TariffVersion)
	if !ok {
		return nil, nil, fmt.Errorf("pass %s: tariff version %q not loaded", p.ID, p.TariffVersion)
	}
	prod, ok := t.Product(p.Product)
	if !ok {
		return nil, nil, fmt.Errorf("pass %s: product %q not in version %q: %w", p.ID, p.Product, t.ID, ErrUnknownProduct)
	}
	return t, prod, nil
}
