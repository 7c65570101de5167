package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/citypass/citypass/internal/atomicfile"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// The demo operator's bank account, debited by the payout (fictitious, with
// valid check digits).
const (
	debtorName = "Marseille City Pass (demo operator)"
	debtorIBAN = "FR7630006000011234567890189"
	debtorBIC  = "AGRIFRPP"
)

// closeBooks runs the month end the next morning, through the demo day
// (every partner's periods that ended by then: the day, its week and its
// month, and the earlier ones not closed yet), verifies the statements,
// pays them out and gathers the finance figures.
func (d *day) closeBooks(ctx context.Context, dayDate tariff.Date) error {
	start := time.Now()
	l := d.ledger
	var err error
	if d.sum.JournalTaps, err = l.LastJournalSeq(); err != nil {
		return err
	}
	// 06:00 on the next day: the service day ended at 04:30, and with it
	// the ISO week and the month.
	next := dayDate.AddDays(1)
	closeAt := d.tariff.DayStart(next).Add(90 * time.Minute)
	d.sum.CloseAt = closeAt
	d.clock.Store(closeAt.UnixNano())
	stDir := filepath.Join(d.dir, "statements")
	if err := os.MkdirAll(stDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	me, err := reconcile.MonthEnd(ctx, l, d.catalog, d.signer, reconcile.MonthEndOptions{
		CloseOptions: reconcile.CloseOptions{Through: dayDate, At: closeAt, OutDir: stDir}})
	if err != nil {
		return fmt.Errorf("demo: month end through %s: %w", dayDate, err)
	}
	for _, st := range me.Close.Statements {
		d.sum.Statements = append(d.sum.Statements, st)
		d.sum.Files = append(d.sum.Files, st.CSVPath, st.ManifestPath)
	}
	vr, err := reconcile.Verify(stDir, d.signer.PublicKey())
	if err != nil {
		return fmt.Errorf("demo: the statements do not verify: %w", err)
	}
	d.sum.StatementsVerified = vr.Statements

	payDir := filepath.Join(d.dir, "payouts")
	if err := os.MkdirAll(payDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := reconcile.SetPayoutDebtor(ctx, l, reconcile.Debtor{Name: debtorName, IBAN: debtorIBAN, BIC: debtorBIC}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	pay, err := reconcile.Payout(ctx, l, d.catalog, reconcile.PayoutOptions{
		Date: next, At: closeAt.Add(time.Hour),
		Out: filepath.Join(payDir, "pain001-"+next.String()+".xml"),
	})
	if err != nil {
		return fmt.Errorf("demo: payout: %w", err)
	}
	d.sum.Payout = pay
	d.sum.Files = append(d.sum.Files, pay.File)

	day := reconcile.ReportOptions{From: dayDate, To: dayDate}
	sales, err := reconcile.Sales(ctx, l, d.catalog, day)
	if err != nil {
		return err
	}
	d.sum.Sales, d.sum.SalesGross, d.sum.SalesVAT = sales.Total.Count, sales.Total.Gross, sales.Total.VAT
	for _, r := range sales.Rows {
		d.sum.SalesByProd[r.Product] += r.Count
	}
	if d.sum.Today, err = reconcile.Today(ctx, l, d.catalog, dayDate); err != nil {
		return err
	}
	visits, err := reconcile.Visits(ctx, l, d.catalog, day)
	if err != nil {
		return err
	}
	for _, r := range visits.Rows {
		d.sum.VisitsByVenue[r.Venue] += r.Count
	}
	if d.sum.TrialBalance, err = reconcile.TrialBalanceReport(ctx, l, d.catalog, reconcile.ReportOptions{}); err != nil {
		return err
	}
	repDir := filepath.Join(d.dir, "reports")
	for name, r := range map[string]reconcile.Tabler{"sales": sales, "visits": visits, "trial-balance": d.sum.TrialBalance} {
		path := filepath.Join(repDir, name+"-"+demoDay+".csv")
		if err := writeReport(path, r); err != nil {
			return err
		}
		d.sum.Files = append(d.sum.Files, path)
	}
	rep, err := ledger.Check(l)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("demo: ledger check found problems: %s: %v", rep.Summary(), rep.Problems)
	}
	d.sum.LedgerCheck = rep.SummaryIn(d.tariff.Currency)
	d.sum.CloseTime = time.Since(start)
	sort.Strings(d.sum.Files[3:])
	return nil
}

// writeReport writes a report as CSV, atomically.
func writeReport(path string, r reconcile.Tabler) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var buf bytes.Buffer
	if err := reconcile.Render(&buf, r, reconcile.FormatCSV); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// printSummary prints the finance summary.
func printSummary(w io.Writer, s *Summary) error {
	ew := &errWriter{w: w}
	p := func(format string, args ...any) { fmt.Fprintf(ew, format, args...) }
	p("citypass demo: a day in Marseille, Sunday %s (seed %d)\n\n", s.Day, s.Seed)
	p("Cards      %s NTAG 424 DNA personalized in %s, %s DESFire EV2, %s cards of other systems\n",
		reconcile.Thousands(s.NTAGCards), s.Personalize.Round(time.Millisecond), reconcile.Thousands(s.DESFireCards), reconcile.Thousands(s.ForeignCards))
	p("Desk       %s passes sold, %d refunded unused, %d cards blocked, %d passes moved to a new card\n",
		reconcile.Thousands(s.Sales), s.Refunds, s.Blocks, s.Replaced)
	p("Gates      %s taps through %d concurrent gates in %s: %s taps/s, each journaled durably before the gate opens\n",
		reconcile.Thousands(s.Taps), s.Gates, s.DayTime.Round(time.Millisecond), reconcile.Thousands(int(s.TapsPerSec+0.5)))
	if s.WALSyncs > 0 {
		p("           group commit: %s transactions (taps and desk operations) made durable by %s fsyncs, %.1f per fsync;\n",
			reconcile.Thousands(s.Transactions), reconcile.Thousands(s.WALSyncs), float64(s.Transactions)/float64(s.WALSyncs))
		p("           one durable commit alone takes %s here\n", s.CommitLatency.Round(10*time.Microsecond))
	}
	if s.PCSCD != "" {
		p("           %s taps read over PC/SC through a private %s (%d presented again):\n", reconcile.Thousands(s.PCSCTaps), s.PCSCD, s.PCSCRetries)
		for _, r := range s.PCSCReaders {
			p("             %s\n", r)
		}
	}
	if s.Undecided > 0 {
		p("           %d presentations without a decision (card gone or unreadable)\n", s.Undecided)
	}
	if s.Today != nil {
		p("\nThe day in the ledger, as `citypass --data %s today --day %s` prints it:\n", s.DataDir, s.Day)
		if ew.err == nil {
			ew.err = s.Today.WriteText(ew)
		}
	}
	p("\nStatements closed %s, verified (%d statements, Ed25519 key %s):\n", s.CloseAt.Format("Mon 2 Jan 2006 15:04 -07:00"), s.StatementsVerified, s.SigningKey)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  statement\tperiod\tvisits\tgross\tcap\tnet EUR\t")
	net := decimal.Zero
	for _, st := range s.Statements {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t\n", st.ID, st.Period, reconcile.Thousands(st.Visits), tariff.FormatMoney(st.Gross), tariff.FormatMoney(st.CapReduction.Neg()), tariff.FormatMoney(st.Net))
		net = net.Add(st.Net)
	}
	fmt.Fprintf(tw, "  total\t\t\t\t\t%s\t\n", tariff.FormatMoney(net))
	tw.Flush()
	if s.Payout != nil {
		p("Payout     %s: %d SEPA credit transfers, EUR %s (pain.001.001.03)\n", s.Payout.ID, len(s.Payout.Transfers), tariff.FormatMoney(s.Payout.Total))
	}
	if tb := s.TrialBalance; tb != nil {
		state := "balanced"
		if !tb.Balanced {
			state = "NOT BALANCED"
		}
		p("Trial balance  debits EUR %s = credits EUR %s: %s\n", tariff.FormatMoney(tb.Debits), tariff.FormatMoney(tb.Credits), state)
		zero := 0
		for _, a := range tb.Accounts {
			if a.Balance.IsZero() {
				zero++
				continue
			}
			p("           %-36s %14s\n", a.Account, tariff.FormatMoney(a.Balance))
		}
		if zero > 0 {
			p("           (%d accounts at zero, the partner payables all paid out)\n", zero)
		}
	}
	p("Ledger check   %s\n", s.LedgerCheck)
	p("Time       cards %s, the day %s, closing the books %s\n\n",
		s.Personalize.Round(time.Millisecond), s.DayTime.Round(time.Millisecond), s.CloseTime.Round(time.Millisecond))
	p("Files written (data dir: reuse with --data %s):\n", s.DataDir)
	for _, f := range s.Files {
		p("  %s\n", f)
	}
	p("\nVerify the statements again with:\n  citypass --data %s reconcile verify %s\n", s.DataDir, filepath.Join(s.DataDir, "statements"))
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}
