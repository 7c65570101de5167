package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var opsDebtor = Debtor{Name: "City Pass Marseille SAS <ops>", IBAN: "FR76 3000 6000 0112 3456 7890 189", BIC: "AGRIFRPP"}

// pain002 writes a hand-made pain.002.001.03 status report (after the ISO
// 20022 CustomerPaymentStatusReportV03 definition; its XSD is not in the
// repository) answering payout msgID: a group status and transactions
// (end-to-end id, status, reason).
func pain002(t *testing.T, msgID, grpSts string, txs ...[3]string) *StatusReport {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>BANK-STS-1</MsgId><CreDtTm>2027-01-06T08:00:00+01:00</CreDtTm><DbtrAgt><FinInstnId><BIC>AGRIFRPP</BIC></FinInstnId></DbtrAgt></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>` + msgID + `</OrgnlMsgId>
      <OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>`)
	if grpSts != "" {
		b.WriteString("\n      <GrpSts>" + grpSts + "</GrpSts>")
	}
	b.WriteString("\n    </OrgnlGrpInfAndSts>")
	if len(txs) > 0 {
		b.WriteString("\n    <OrgnlPmtInfAndSts>\n      <OrgnlPmtInfId>" + msgID + "</OrgnlPmtInfId>")
		for i, tx := range txs {
			fmt.Fprintf(&b, "\n      <TxInfAndSts><StsId>S%d</StsId><OrgnlEndToEndId>%s</OrgnlEndToEndId><TxSts>%s</TxSts>", i, tx[0], tx[1])
			if tx[2] != "" {
				fmt.Fprintf(&b, "<StsRsnInf><Rsn><Cd>%s</Cd></Rsn><AddtlInf>refused</AddtlInf></StsRsnInf>", tx[2])
			}
			b.WriteString("</TxInfAndSts>")
		}
		b.WriteString("\n    </OrgnlPmtInfAndSts>")
	}
	b.WriteString("\n  </CstmrPmtStsRpt>\n</Document>\n")
	rep, err := ParseStatusReport(strings.NewReader(b.String()), "status.xml")
	require.NoError(t, err)
	return rep
}

// balanced checks the books after a step: the trial balance balances, and
// each partner's payable is its statements' nets minus what live payouts
// pay of them.
func balanced(t *testing.T, l *fakeLedger) map[string]string {
	t.Helper()
	ctx := context.Background()
	tb, err := TrialBalanceReport(ctx, l, testCatalog(t), ReportOptions{})
	require.NoError(t, err)
	require.True(t, tb.Balanced)
	unpaid := map[string]int64{}
	require.NoError(t, Statements(ctx, l, func(st *Statement) error {
		if st.PaidBy == "" {
			unpaid[st.Partner] += st.NetMinor
		}
		return nil
	}))
	out := map[string]string{}
	for _, a := range tb.Accounts {
		if p, ok := strings.CutPrefix(a.Account, engine.AccountPartnerPayable+":"); ok {
			out[p] = formatMoney(a.Balance.Neg())
			assert.Equal(t, formatMoney(fromMinor(unpaid[p])), out[p], "payable of %s: the unpaid statements' nets", p)
		}
	}
	return out
}

func TestPayoutLifecycle(t *testing.T) {
	ctx := context.Background()
	l := lateLedger(t, t.TempDir())
	cat := testCatalog(t)
	dir := t.TempDir()
	at := time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC)
	opts := PayoutOptions{At: at, Out: filepath.Join(dir, "payout.xml")}

	// No debtor stored: refused, nothing written or stored.
	_, err := Payout(ctx, l, cat, opts)
	require.ErrorIs(t, err, ErrNoDebtor)
	_, err = SetPayoutDebtor(ctx, l, Debtor{Name: "x", IBAN: "FR7630006000011234567890188", BIC: "AGRIFRPP"})
	require.ErrorContains(t, err, "check digits")
	d, err := SetPayoutDebtor(ctx, l, opsDebtor)
	require.NoError(t, err)
	assert.Equal(t, Debtor{Name: "City Pass Marseille SAS .ops.", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"}, d)
	got, err := PayoutDebtor(l)
	require.NoError(t, err)
	assert.Equal(t, d, got)

	// Issue: one transfer per partner, its statements in the remittance.
	res, err := Payout(ctx, l, cat, opts)
	require.NoError(t, err)
	require.Len(t, res.Transfers, 2)
	assert.Equal(t, []string{"mucem-2026-11", "mucem-2026-12"}, res.Transfers[0].Statements)
	assert.Equal(t, "28.00", formatMoney(res.Transfers[0].Amount))
	assert.Equal(t, "6.25", formatMoney(res.Transfers[1].Amount))
	assert.Equal(t, "34.25", formatMoney(res.Total))
	assert.Equal(t, "2027-01-05T10:00:00+01:00", res.CreatedAt, "local time with its offset")
	assert.Equal(t, PayoutIssued, res.Status)
	assert.Equal(t, 2, res.Postings)
	xmllintValidate(t, opts.Out)
	doc, err := os.ReadFile(opts.Out)
	require.NoError(t, err)
	checkGoldenFile(t, "payout/payout.xml", doc)
	assert.Contains(t, string(doc), "<CreDtTm>2027-01-05T10:00:00+01:00</CreDtTm>")
	assert.Contains(t, string(doc), "<Ustrd>citypass statements mucem-2026-11 mucem-2026-12</Ustrd>")
	assert.Equal(t, map[string]string{"mucem": "0.00", "rtm": "0.00"}, balanced(t, l))
	_, err = Payout(ctx, l, cat, PayoutOptions{At: at, Out: filepath.Join(dir, "again.xml")})
	require.ErrorIs(t, err, ErrNothingToPay)
	assert.NoFileExists(t, filepath.Join(dir, "again.xml"))

	// Re-issue: the same bytes, nothing changes in the ledger.
	postings := len(l.postings)
	re, err := ReissuePayout(l, res.ID, filepath.Join(dir, "reissued.xml"), nil)
	require.NoError(t, err)
	again, err := os.ReadFile(re.File)
	require.NoError(t, err)
	assert.Equal(t, string(doc), string(again))
	assert.Equal(t, postings, len(l.postings))

	// Cancel: the statements are unpaid again, reversed; a cancelled
	// payout can be neither cancelled nor settled.
	c, err := CancelPayout(ctx, l, res.ID, at.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, PayoutCancelled, c.Status)
	assert.Equal(t, 2, c.Postings)
	assert.Equal(t, map[string]string{"mucem": "28.00", "rtm": "6.25"}, balanced(t, l))
	_, err = CancelPayout(ctx, l, res.ID, at)
	require.ErrorIs(t, err, ErrPayoutState)
	_, err = SettlePayout(ctx, l, res.ID, at)
	require.ErrorIs(t, err, ErrPayoutState)
	_, err = CancelPayout(ctx, l, "PAYOUT-nope", at)
	require.ErrorIs(t, err, ErrNoPayout)

	// Paid again by a new payout (a new id), and the bank answers: the MuCEM's
	// transfer settled, the RTM's rejected (AC04: account closed).
	res2, err := Payout(ctx, l, cat, PayoutOptions{At: at.Add(2 * time.Hour), Out: filepath.Join(dir, "payout2.xml")})
	require.NoError(t, err)
	assert.Equal(t, res.ID+"-2", res2.ID)
	xmllintValidate(t, res2.File)
	mucemE2E, rtmE2E := res2.Transfers[0].EndToEndID, res2.Transfers[1].EndToEndID
	sts := pain002(t, res2.ID, "PART", [3]string{mucemE2E, "ACSC", ""}, [3]string{rtmE2E, "RJCT", "AC04"})
	imp, err := ImportStatusReport(ctx, l, sts, at.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, TransferAccept, imp.Transfers[0].Status)
	assert.Equal(t, TransferReject, imp.Transfers[1].Status)
	assert.Equal(t, "AC04", imp.Transfers[1].Reason)
	assert.Equal(t, PayoutIssued, imp.Status)
	assert.Equal(t, 1, imp.Postings)
	assert.Equal(t, map[string]string{"mucem": "0.00", "rtm": "6.25"}, balanced(t, l))
	// The same report again changes nothing; a contradicting one is refused.
	postings = len(l.postings)
	_, err = ImportStatusReport(ctx, l, sts, at.Add(25*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, postings, len(l.postings))
	_, err = ImportStatusReport(ctx, l, pain002(t, res2.ID, "", [3]string{rtmE2E, "ACCP", ""}), at)
	require.ErrorIs(t, err, ErrStatusConflict)
	_, err = ImportStatusReport(ctx, l, pain002(t, res2.ID, "", [3]string{"nope", "ACCP", ""}), at)
	require.ErrorContains(t, err, "nope")

	// The next payout pays the RTM's statements alone; it is settled.
	res3, err := Payout(ctx, l, cat, PayoutOptions{At: at.Add(48 * time.Hour), Out: filepath.Join(dir, "payout3.xml")})
	require.NoError(t, err)
	require.Len(t, res3.Transfers, 1)
	assert.Equal(t, "rtm", res3.Transfers[0].Partner)
	xmllintValidate(t, res3.File)
	set, err := SettlePayout(ctx, l, res3.ID, at.Add(72*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, PayoutSettled, set.Status)
	assert.Equal(t, PayoutSettled, set.Transfers[0].Status)
	_, err = CancelPayout(ctx, l, res3.ID, at)
	require.ErrorIs(t, err, ErrPayoutState)
	assert.Equal(t, map[string]string{"mucem": "0.00", "rtm": "0.00"}, balanced(t, l))

	// Every payout, listed.
	list, err := Payouts(ctx, l)
	require.NoError(t, err)
	var states []string
	for _, p := range list.Payouts {
		states = append(states, p.ID+" "+p.Status)
	}
	assert.Equal(t, []string{res.ID + " cancelled", res2.ID + " issued", res3.ID + " settled"}, states)
}

// TestStatusReportRejectsAll: a group status RJCT without transactions
// rejects every transfer, and the payout with them.
func TestStatusReportRejectsAll(t *testing.T) {
	ctx := context.Background()
	l := lateLedger(t, t.TempDir())
	at := time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC)
	res, err := Payout(ctx, l, testCatalog(t), PayoutOptions{Debtor: &opsDebtor, At: at, Out: filepath.Join(t.TempDir(), "p.xml")})
	require.NoError(t, err)
	imp, err := ImportStatusReport(ctx, l, pain002(t, res.ID, "RJCT"), at.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, PayoutRejected, imp.Status)
	assert.Equal(t, 2, imp.Postings)
	assert.Equal(t, map[string]string{"mucem": "28.00", "rtm": "6.25"}, balanced(t, l))
	// A pending answer changes nothing.
	_, err = ImportStatusReport(ctx, l, pain002(t, res.ID, "PDNG"), at)
	require.NoError(t, err)
	_, err = ImportStatusReport(ctx, l, pain002(t, "PAYOUT-none", "ACCP"), at)
	require.ErrorIs(t, err, ErrNoPayout)
}

// TestPayoutWriteFailsAfterStore: when the file cannot be written, the
// payout is stored all the same and says how to write it.
func TestPayoutWriteFailsAfterStore(t *testing.T) {
	ctx := context.Background()
	l := lateLedger(t, t.TempDir())
	_, err := Payout(ctx, l, testCatalog(t), PayoutOptions{Debtor: &opsDebtor, At: time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC),
		Out: filepath.Join(t.TempDir(), "no-such-dir", "p.xml")})
	require.ErrorContains(t, err, "reconcile payout reissue")
	list, err := Payouts(ctx, l)
	require.NoError(t, err)
	require.Len(t, list.Payouts, 1)
}

func TestParseStatusReportErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":            "hello",
		"other message":      `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>`,
		"no msg id":          `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><OrgnlGrpInfAndSts/></CstmrPmtStsRpt></Document>`,
		"unknown status":     `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><OrgnlGrpInfAndSts><OrgnlMsgId>X</OrgnlMsgId><GrpSts>OKAY</GrpSts></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`,
		"answers a pain.008": `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><OrgnlGrpInfAndSts><OrgnlMsgId>X</OrgnlMsgId><OrgnlMsgNmId>pain.008.001.02</OrgnlMsgNmId></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`,
		"tx without id":      `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><OrgnlGrpInfAndSts><OrgnlMsgId>X</OrgnlMsgId></OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><TxInfAndSts><TxSts>RJCT</TxSts></TxInfAndSts></OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>`,
	} {
		_, err := ParseStatusReport(strings.NewReader(doc), "f.xml")
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "f.xml", name)
	}
}

// FuzzParseStatusReport: any input is read or refused with an error, never
// a panic, and what is read names a payout.
func FuzzParseStatusReport(f *testing.F) {
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><OrgnlGrpInfAndSts><OrgnlMsgId>P</OrgnlMsgId><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><TxInfAndSts><OrgnlEndToEndId>E</OrgnlEndToEndId><TxSts>RJCT</TxSts><StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf></TxInfAndSts></OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>`))
	f.Add([]byte("<x/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseStatusReport(strings.NewReader(string(data)), "f")
		if err != nil {
			return
		}
		if rep.PayoutID == "" {
			t.Fatal("a report without a payout id was read")
		}
		for _, tx := range rep.Transactions {
			if _, ok := statusCodes[tx.Status]; !ok || tx.EndToEndID == "" {
				t.Fatalf("transaction %+v read", tx)
			}
		}
	})
}

func TestRemittanceFits(t *testing.T) {
	var ids []string
	for d := 1; d <= 30; d++ {
		ids = append(ids, fmt.Sprintf("cmn-chateau-if-2026-11-%02d", d))
	}
	r := remittance(ids)
	assert.LessOrEqual(t, len(r), 140)
	assert.Equal(t, "citypass 30 statements cmn-chateau-if-2026-11-01 .. cmn-chateau-if-2026-11-30", r)
	assert.Equal(t, "citypass statement mucem-2026-11", remittance([]string{"mucem-2026-11"}))
}
