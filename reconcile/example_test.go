package reconcile_test

import (
	"fmt"
	"os"

	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// A partner checks a manifest's signature by hand: the signed bytes are the
// manifest without "signature", keys sorted, no whitespace.
func ExampleCanonicalBytes() {
	manifest := []byte(`{"statement": "mucem-2026-11", "net": "20.00", "signature": "…", "data_as_of": {"recorded_at": "2026-12-01T09:00:01Z", "journal_seq": 7}}`)
	canon, err := reconcile.CanonicalBytes(manifest)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(canon))
	// Output: {"data_as_of":{"journal_seq":7,"recorded_at":"2026-12-01T09:00:01Z"},"net":"20.00","statement":"mucem-2026-11"}
}

// Reports print as tables for people, CSV or JSON for tools. The CSV holds
// the data rows only; RenderTotals prints the totals apart.
func ExampleRender() {
	rep := &reconcile.PayablesReport{
		Options: reconcile.ReportOptions{From: tariff.Date{Year: 2026, Month: 11, Day: 1}, To: tariff.Date{Year: 2026, Month: 11, Day: 30}},
		Rows: []reconcile.PayablesRow{{Partner: "mucem", PartnerName: "MuCEM", Accrued: decimal.RequireFromString("20"),
			Paid: decimal.Zero, Outstanding: decimal.RequireFromString("20")}},
		Total: reconcile.PayablesRow{Partner: "TOTAL", Accrued: decimal.RequireFromString("20"),
			Paid: decimal.Zero, Outstanding: decimal.RequireFromString("20")},
	}
	if err := reconcile.Render(os.Stdout, rep, reconcile.FormatTable); err != nil {
		panic(err)
	}
	if err := reconcile.Render(os.Stdout, rep, reconcile.FormatCSV); err != nil {
		panic(err)
	}
	if err := reconcile.RenderTotals(os.Stdout, rep, reconcile.FormatCSV); err != nil {
		panic(err)
	}
	// Output:
	// Payables 2026-11-01 .. 2026-11-30
	// partner  partner_name  accrued  paid  outstanding
	// -------  ------------  -------  ----  -----------
	// mucem    MuCEM           20.00  0.00        20.00
	// -------  ------------  -------  ----  -----------
	// TOTAL                    20.00  0.00        20.00
	// partner,partner_name,accrued,paid,outstanding
	// mucem,MuCEM,20.00,0.00,20.00
	// partner,partner_name,accrued,paid,outstanding
	// TOTAL,,20.00,0.00,20.00
}
