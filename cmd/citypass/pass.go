package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/citypass/citypass/web"
)

func init() { registerCommand("pass", newPassCmd) }

func newPassCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "pass", Short: "Sell, show, refund, block, unblock and replace passes"}
	c.AddCommand(newPassSellCmd(a), newPassShowCmd(a), newPassHistoryCmd(a), newPassRefundCmd(a),
		newPassBlockCmd(a), newPassUnblockCmd(a), newPassReplaceCmd(a))
	return c
}

// withSession opens the data dir, runs fn and closes it again.
func (a *app) withSession(fn func(s *session) error) error {
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// withReadSession is withSession for a command that only reads: the
// ledger is opened read-only.
func (a *app) withReadSession(fn func(s *session) error) error {
	s, err := a.openReadSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// withLifecycle is withSession for a command that changes a pass or card:
// those run at the hub, never on a node (docs/fleet.md, "State down").
func (a *app) withLifecycle(what string, fn func(s *session) error) error {
	return a.withSession(func(s *session) error {
		if err := a.refuseOnNode(s.Ledger, what); err != nil {
			return err
		}
		return fn(s)
	})
}

// printPass prints a pass view as JSON or as a short human summary.
func (a *app) printPass(v engine.PassView) error {
	if a.json {
		return json.NewEncoder(a.stdout).Encode(v)
	}
	writePassText(a.stdout, v)
	return nil
}

func writePassText(w io.Writer, v engine.PassView) {
	fmt.Fprintf(w, "pass %s  %s (%s, tariff %s)  card %s\n", v.Pass, v.Product, v.Category, v.TariffVersion, v.Card)
	fmt.Fprintf(w, "  status %s", v.Status)
	if v.Blocked {
		fmt.Fprintf(w, ", card blocked (%s)", v.BlockReason)
	}
	fmt.Fprintf(w, "  price %s  sold %s", amountText(v.Price, v.Currency), v.SoldAt)
	if v.Channel != "" {
		fmt.Fprintf(w, " via %s", v.Channel)
	}
	fmt.Fprintln(w)
	if v.RefundedAt != "" {
		fmt.Fprintf(w, "  refunded %s at %s\n", amountText(v.Price, v.Currency), v.RefundedAt)
	}
	if v.ValidUntil != "" {
		from := v.ValidFrom
		if from == "" {
			from = v.ActivatedAt
		}
		fmt.Fprintf(w, "  valid %s → %s (exclusive)\n", from, v.ValidUntil)
	} else if v.ActivateBy != "" {
		fmt.Fprintf(w, "  not activated; activate by %s\n", v.ActivateBy)
	}
	for _, u := range v.Usage {
		fmt.Fprintf(w, "  %-20s %d entries, last %s\n", u.Venue, u.Entries, u.LastEntry)
	}
}

// amountText writes a decimal amount of a view ("32.00") with its currency
// as people read amounts (tariff.FormatAmount).
func amountText(amount, currency string) string {
	d, err := decimal.NewFromString(amount)
	if err != nil {
		return amount + " " + currency
	}
	return tariff.FormatAmount(d, currency)
}

func newPassSellCmd(a *app) *cobra.Command {
	var product, card, reader, at, start, channel string
	var wait time.Duration
	c := &cobra.Command{
		Use:   "sell --product ID (--card CARD | --reader NAME) [--at TIME] [--start YYYY-MM-DD] [--channel CHANNEL]",
		Short: "Sell a pass onto a card; with --reader, only onto a card that proves it is ours and a genuine NXP chip",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if reader != "" {
				// Before the ledger is opened: the operator may still be
				// putting the card down.
				uid, err := a.checkCardOnReader(reader, wait)
				if err != nil {
					return err
				}
				if card != "" {
					if want, err := engine.NormalizeUID(card); err != nil {
						return usageErr("--card: %v", err)
					} else if want != uid {
						return fmt.Errorf("the card on the reader is %s, not --card %s", uid, want)
					}
				}
				card = uid
			}
			return a.withLifecycle("pass sell", func(s *session) error {
				when, err := a.timeFlag(s, "at", at)
				if err != nil {
					return err
				}
				req := engine.SellRequest{Product: product, Card: card, At: when, Channel: channel}
				if start != "" {
					d, err := tariff.ParseDate(start)
					if err != nil {
						return usageErr("--start: %v", err)
					}
					req.Start = &d
				}
				p, err := s.Validator.Sell(a.ctx(), req)
				if err != nil {
					return err
				}
				v, err := s.Validator.ShowPass(a.ctx(), p.ID)
				if err != nil {
					return err
				}
				return a.printPass(v)
			})
		},
	}
	c.Flags().StringVar(&product, "product", "", "product `ID` (required)")
	c.Flags().StringVar(&card, "card", "", "the `CARD` UID, in hex (or --reader)")
	c.Flags().StringVar(&reader, "reader", "", "sell onto the card on the PC/SC reader `NAME` (or its prefix, or auto) after checking it: "+
		"its proof with the card keys and, for NTAG 424 DNA, its NXP originality signature")
	c.Flags().DurationVar(&wait, "wait", 30*time.Second, "with --reader, how long to wait for a card (a `DURATION`)")
	c.Flags().StringVar(&at, "at", "", "sale `TIME` (RFC 3339 or local date-time); default now")
	c.Flags().StringVar(&start, "start", "", "first service day of a fixed product, `YYYY-MM-DD`")
	c.Flags().StringVar(&channel, "channel", "desk", "sales `CHANNEL`")
	_ = c.MarkFlagRequired("product")
	c.MarkFlagsOneRequired("card", "reader")
	return c
}

func newPassShowCmd(a *app) *cobra.Command {
	var card string
	c := &cobra.Command{
		Use:   "show (PASS | --card CARD)",
		Short: "Show a pass: status, validity, per-venue usage",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if (len(args) == 1) == (card != "") {
				return usageErr("pass show takes a pass id or --card CARD, not both")
			}
			return a.withReadSession(func(s *session) error {
				var v engine.PassView
				var err error
				if card != "" {
					v, err = s.Validator.ShowCard(a.ctx(), card)
				} else {
					v, err = s.Validator.ShowPass(a.ctx(), args[0])
				}
				if err != nil {
					return err
				}
				if v.ReplacedCard == nil {
					return a.printPass(v)
				}
				// The card asked for was replaced: say so, and tell its
				// story (as `pass history --card` does).
				h, err := reconcile.History(a.ctx(), s.Ledger, s.Catalog(), "", v.ReplacedCard.Card, a.now())
				if err != nil {
					return err
				}
				story := web.BuildStory(v.ReplacedCard.Card, h)
				if a.json {
					return json.NewEncoder(a.stdout).Encode(struct {
						engine.PassView
						CardHistory web.StoryView `json:"card_history"`
					}{v, story})
				}
				rc := v.ReplacedCard
				when := ""
				if rc.ReplacedAt != "" {
					when = " at " + rc.ReplacedAt
				}
				fmt.Fprintf(a.stdout, "card %s was replaced by card %s%s: it is revoked for good; its pass is now on card %s\n\n",
					rc.Card, rc.ReplacedBy, when, rc.ReplacedBy)
				return writeStory(a.stdout, story)
			})
		},
	}
	c.Flags().StringVar(&card, "card", "", "the `CARD` UID, in hex")
	return c
}

func newPassRefundCmd(a *app) *cobra.Command {
	var at string
	c := &cobra.Command{
		Use:   "refund PASS [--at TIME]",
		Short: "Refund a pass when its product's refund policy allows; print the amount and the time",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withLifecycle("pass refund", func(s *session) error {
				when, err := a.timeFlag(s, "at", at)
				if err != nil {
					return err
				}
				if _, err := s.Validator.Refund(a.ctx(), args[0], when); err != nil {
					return err
				}
				v, err := s.Validator.ShowPass(a.ctx(), args[0])
				if err != nil {
					return err
				}
				if !a.json {
					fmt.Fprintf(a.stdout, "refunded %s for pass %s at %s\n", amountText(v.Price, v.Currency), v.Pass, v.RefundedAt)
				}
				return a.printPass(v)
			})
		},
	}
	c.Flags().StringVar(&at, "at", "", "refund `TIME`; default now")
	return c
}

func newPassBlockCmd(a *app) *cobra.Command {
	var card, reason, at string
	c := &cobra.Command{
		Use:   "block --card CARD --reason lost|stolen|fraud [--at TIME]",
		Short: "Put a card on the block list",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			switch reason {
			case engine.BlockLost, engine.BlockStolen, engine.BlockFraud:
			default:
				return usageErr("--reason %q: want lost, stolen or fraud", reason)
			}
			return a.withLifecycle("pass block", func(s *session) error {
				when, err := a.timeFlag(s, "at", at)
				if err != nil {
					return err
				}
				if err := s.Validator.Block(a.ctx(), card, reason, when); err != nil {
					return err
				}
				return a.printCardState(card, "blocked", reason)
			})
		},
	}
	c.Flags().StringVar(&card, "card", "", "the `CARD` UID, in hex (required)")
	c.Flags().StringVar(&reason, "reason", "", "`REASON`: lost, stolen or fraud (required)")
	c.Flags().StringVar(&at, "at", "", "`TIME` of the block; default now")
	_ = c.MarkFlagRequired("card")
	_ = c.MarkFlagRequired("reason")
	return c
}

func newPassUnblockCmd(a *app) *cobra.Command {
	var card string
	c := &cobra.Command{
		Use:   "unblock --card CARD",
		Short: "Take a card off the block list",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withLifecycle("pass unblock", func(s *session) error {
				if err := s.Validator.Unblock(a.ctx(), card); err != nil {
					return err
				}
				return a.printCardState(card, "unblocked", "")
			})
		},
	}
	c.Flags().StringVar(&card, "card", "", "the `CARD` UID, in hex (required)")
	_ = c.MarkFlagRequired("card")
	return c
}

func (a *app) printCardState(card, state, reason string) error {
	uid, err := engine.NormalizeUID(card)
	if err != nil {
		uid = card
	}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(map[string]string{"card": uid, "state": state, "reason": reason})
	}
	if reason != "" {
		fmt.Fprintf(a.stdout, "card %s %s (%s)\n", uid, state, reason)
	} else {
		fmt.Fprintf(a.stdout, "card %s %s\n", uid, state)
	}
	return nil
}

func newPassReplaceCmd(a *app) *cobra.Command {
	var card, at string
	c := &cobra.Command{
		Use:   "replace PASS --card CARD [--at TIME]",
		Short: "Move a live pass to a new card; the old card is revoked for good, usage carries over",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withLifecycle("pass replace", func(s *session) error {
				when, err := a.timeFlag(s, "at", at)
				if err != nil {
					return err
				}
				if _, err := s.Validator.Replace(a.ctx(), args[0], card, when); err != nil {
					return err
				}
				v, err := s.Validator.ShowPass(a.ctx(), args[0])
				if err != nil {
					return err
				}
				return a.printPass(v)
			})
		},
	}
	c.Flags().StringVar(&card, "card", "", "the new `CARD` UID, in hex (required)")
	c.Flags().StringVar(&at, "at", "", "`TIME` of the replacement; default now")
	_ = c.MarkFlagRequired("card")
	return c
}
