package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/spf13/cobra"
)

func init() { registerCommand("journal", newJournalCmd) }

func newJournalCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "journal", Short: "Export the tap journal"}
	var from, to, format string
	var fromSeq uint64
	export := &cobra.Command{
		Use:   "export [--from TIME] [--to TIME] [--from-seq SEQ] [--format csv|jsonl]",
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
				return a.exportJournal(s, lo, hi, fromSeq, format)
			})
		},
	}
	export.Flags().StringVar(&from, "from", "", "first tap `TIME` (inclusive)")
	export.Flags().StringVar(&to, "to", "", "last tap `TIME` (exclusive)")
	export.Flags().StringVar(&format, "format", "csv", "output `FORMAT`: csv or jsonl")
	export.Flags().Uint64Var(&fromSeq, "from-seq", 0, "start at this journal `SEQ` (a cursor: the last exported journal_seq + 1)")
	c.AddCommand(export)
	return c
}

// journalColumns are the export's fields, in order: every field of a
// journal record, then (for a record a node uploaded to the hub) its origin
// (docs/formats.md, "Journal export").
var journalColumns = []string{"journal_seq", "device", "seq", "at", "recorded_at", "card", "pass", "product",
	"gate", "direction", "decision", "reason", "flags", "venue", "tariff_version", "category", "counter",
	"proof_failed", "valid_until", "node", "epoch", "node_seq", "uploaded_at", "clock_offset_ms"}

func journalRow(r *engine.TapRecord, o *fleet.Origin, loc *time.Location) []string {
	decision := "deny"
	if r.Decision.Accept {
		decision = "accept"
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format(time.RFC3339Nano)
	}
	counter := ""
	if r.HasCounter {
		counter = strconv.FormatUint(uint64(r.Counter), 10)
	}
	row := []string{strconv.FormatUint(r.JournalSeq, 10), r.ID.Device, strconv.FormatUint(r.ID.Seq, 10),
		ts(r.At), ts(r.RecordedAt), r.Card, r.Pass,
		r.Product, r.Gate, r.Direction.String(), decision, r.Decision.Reason.String(),
		strings.Join(r.Decision.Flags.Names(), "|"), r.Venue, r.TariffVersion, r.Category, counter,
		strconv.FormatBool(r.ProofFailed), ts(r.Decision.ValidUntil), "", "", "", "", ""}
	if o != nil {
		n := len(row)
		row[n-5], row[n-4], row[n-3], row[n-2] = o.Node, fmt.Sprintf("%016x", o.Epoch), strconv.FormatUint(o.NodeSeq, 10), ts(o.UploadedAt)
		if o.ClockKnown {
			row[n-1] = strconv.FormatInt(o.ClockOffset.Milliseconds(), 10)
		}
	}
	return row
}

func (a *app) exportJournal(s *session, from, to time.Time, fromSeq uint64, format string) error {
	loc := s.Location(a.now())
	bw := bufio.NewWriterSize(a.stdout, 64<<10)
	cw := csv.NewWriter(bw)
	if format == "csv" {
		if err := cw.Write(journalColumns); err != nil {
			return err
		}
	}
	err := s.Ledger.Journal(a.ctx(), fromSeq, func(r *engine.TapRecord) error {
		if (!from.IsZero() && r.At.Before(from)) || (!to.IsZero() && !r.At.Before(to)) {
			return nil
		}
		o, ok, err := s.Ledger.Origin(r.JournalSeq)
		if err != nil {
			return err
		}
		var op *fleet.Origin
		if ok {
			op = &o
		}
		row := journalRow(r, op, loc)
		if format == "csv" {
			return cw.Write(row)
		}
		obj := make(map[string]any, len(row))
		for i, k := range journalColumns {
			obj[k] = row[i]
		}
		obj["journal_seq"], obj["seq"] = r.JournalSeq, r.ID.Seq
		obj["flags"] = r.Decision.Flags.Names()
		obj["proof_failed"] = r.ProofFailed
		if r.HasCounter {
			obj["counter"] = r.Counter
		} else {
			delete(obj, "counter")
		}
		for _, k := range []string{"valid_until", "node", "epoch", "node_seq", "uploaded_at", "clock_offset_ms"} {
			if obj[k] == "" {
				delete(obj, k)
			}
		}
		if op != nil {
			obj["node_seq"] = op.NodeSeq
		}
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
