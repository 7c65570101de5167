package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/spf13/cobra"
)

func init() { registerCommand("journal", newJournalCmd) }

func newJournalCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "journal", Short: "Export the tap journal"}
	var from, to, format string
	export := &cobra.Command{
		Use:   "export [--from T] [--to T] [--format csv|jsonl]",
		Short: "Write every journaled tap, in journal order (filtered by tap time when --from/--to are given)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if format != "csv" && format != "jsonl" {
				return usageErr("--format %q: want csv or jsonl", format)
			}
			return a.withReadSession(func(s *session) error {
				var lo, hi time.Time
				var err error
				if from != "" {
					if lo, err = a.timeFlag(s, "from", from); err != nil {
						return err
					}
				}
				if to != "" {
					if hi, err = a.timeFlag(s, "to", to); err != nil {
						return err
					}
				}
				if from != "" && to != "" && !lo.Before(hi) {
					return usageErr("--from %s is not before --to %s: no tap time is in between", from, to)
				}
				return a.exportJournal(s, lo, hi, format)
			})
		},
	}
	export.Flags().StringVar(&from, "from", "", "first tap time (inclusive)")
	export.Flags().StringVar(&to, "to", "", "last tap time (exclusive)")
	export.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	c.AddCommand(export)
	return c
}

// journalColumns are the export's fields, in order (docs/formats.md, "Journal export").
var journalColumns = []string{"journal_seq", "device", "seq", "at", "recorded_at", "card", "pass", "product",
	"gate", "direction", "decision", "reason", "flags"}

func journalRow(r *engine.TapRecord, loc *time.Location) []string {
	decision := "deny"
	if r.Decision.Accept {
		decision = "accept"
	}
	return []string{strconv.FormatUint(r.JournalSeq, 10), r.ID.Device, strconv.FormatUint(r.ID.Seq, 10),
		r.At.In(loc).Format(time.RFC3339Nano), r.RecordedAt.In(loc).Format(time.RFC3339Nano), r.Card, r.Pass,
		r.Product, r.Gate, r.Direction.String(), decision, r.Decision.Reason.String(),
		strings.Join(r.Decision.Flags.Names(), "|")}
}

func (a *app) exportJournal(s *session, from, to time.Time, format string) error {
	loc := s.Location(a.now())
	bw := bufio.NewWriterSize(a.stdout, 64<<10)
	cw := csv.NewWriter(bw)
	if format == "csv" {
		if err := cw.Write(journalColumns); err != nil {
			return err
		}
	}
	err := s.Ledger.Journal(a.ctx(), 0, func(r *engine.TapRecord) error {
		if (!from.IsZero() && r.At.Before(from)) || (!to.IsZero() && !r.At.Before(to)) {
			return nil
		}
		row := journalRow(r, loc)
		if format == "csv" {
			return cw.Write(row)
		}
		obj := make(map[string]any, len(row))
		for i, k := range journalColumns {
			obj[k] = row[i]
		}
		obj["journal_seq"], obj["seq"] = r.JournalSeq, r.ID.Seq
		obj["flags"] = r.Decision.Flags.Names()
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		bw.Write(b)
		return bw.WriteByte('\n')
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}
