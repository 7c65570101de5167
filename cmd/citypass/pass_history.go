package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/web"
)

func newPassHistoryCmd(a *app) *cobra.Command {
	var card string
	c := &cobra.Command{
		Use:   "history (PASS | --card CARD)",
		Short: "The whole story of a pass or a card: sales, activations, every tap with its decision and message, blocks, replacements, refunds",
		Long: `Tells the story of a pass, or of every pass a card carried, in time order: the sale,
the activation, every tap journaled with its decision, reason and the message the gate
showed, blocks, replacements onto another card, refunds and the end of validity. Asked by
card, the taps of the card that found no pass (an unknown or revoked card) are told too.
Times are local, with their offset from UTC. The same story is the dashboard's card page.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if (len(args) == 1) == (card != "") {
				return usageErr("pass history takes a pass id or --card CARD, not both")
			}
			query := card
			if len(args) == 1 {
				query = args[0]
			}
			return a.withReadSession(func(s *session) error {
				var h *reconcile.PassHistory
				var err error
				if card != "" {
					uid, uerr := engine.NormalizeUID(card)
					if uerr != nil {
						return usageErr("--card %q: %v", card, uerr)
					}
					h, err = reconcile.History(a.ctx(), s.Ledger, s.Catalog(), "", uid, a.now())
				} else {
					h, err = reconcile.History(a.ctx(), s.Ledger, s.Catalog(), args[0], "", a.now())
				}
				if err != nil {
					return err
				}
				v := web.BuildStory(query, h)
				if a.json {
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(v)
				}
				return writeStory(a.stdout, v)
			})
		},
	}
	c.Flags().StringVar(&card, "card", "", "the `CARD` UID, in hex")
	return c
}

// writeStory prints a story: the card's state, each pass, then the events
// as a table.
func writeStory(w io.Writer, v web.StoryView) error {
	if c := v.Card; c != nil {
		writeCardState(w, c)
	}
	for _, p := range v.Passes {
		writePassText(w, p)
	}
	t := reconcile.Table{Title: "Story", Columns: columns("time", "what", "pass", "card", "gate", "decision", "reason", "message shown", "details")}
	for _, e := range v.Events {
		reason := e.Reason
		if e.Flags != "" {
			reason += " [" + e.Flags + "]"
		}
		t.Rows = append(t.Rows, []string{e.At, e.Kind, e.Pass, e.Card, e.Gate, e.Outcome, reason, e.Message, e.Detail})
	}
	fmt.Fprintln(w)
	return reconcile.Render(w, tableOf(t), reconcile.FormatTable)
}

// writeCardState says what the ledger knows of a card: how many passes it
// carried, whether it was replaced (by which card, when) or is blocked.
func writeCardState(w io.Writer, c *web.CardState) {
	fmt.Fprintf(w, "card %s: carried %d pass(es)\n", c.UID, c.Passes)
	if c.Revoked {
		when := ""
		if c.Replaced != "" {
			when = " on " + c.Replaced
		}
		fmt.Fprintf(w, "  replaced by card %s%s: revoked for good, its taps are denied (REVOKED)\n", c.ReplacedBy, when)
	}
	if c.Blocked {
		fmt.Fprintf(w, "  blocked (%s) since %s\n", c.BlockReason, c.BlockedAt)
	}
}
