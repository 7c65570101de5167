package reconcile

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// pain002Max bounds a payment status report read (bytes).
const pain002Max = 16 << 20

// pain002NS is the namespace of the status reports read.
const pain002NS = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"

// StatusReport is what a bank's pain.002.001.03 payment status report says
// about one payout: the group's status and each transaction's.
type StatusReport struct {
	PayoutID    string // OrgnlGrpInfAndSts/OrgnlMsgId
	GroupStatus string // GrpSts, "" when absent
	GroupReason string
	// PmtInfStatus is the status of the payment information block (our
	// file has one), "" when absent.
	PmtInfStatus string
	PmtInfReason string
	Transactions []TxStatus
}

// TxStatus is one transaction's status: TxInfAndSts.
type TxStatus struct {
	EndToEndID string // OrgnlEndToEndId
	Status     string // TxSts
	Reason     string // StsRsnInf/Rsn/Cd (or Prtry), first given
}

type p2Doc struct {
	XMLName xml.Name `xml:"Document"`
	Rpt     *struct {
		Grp *struct {
			MsgID  string  `xml:"OrgnlMsgId"`
			NmID   string  `xml:"OrgnlMsgNmId"`
			Sts    string  `xml:"GrpSts"`
			Reason []p2Rsn `xml:"StsRsnInf"`
		} `xml:"OrgnlGrpInfAndSts"`
		PmtInf []struct {
			ID     string  `xml:"OrgnlPmtInfId"`
			Sts    string  `xml:"PmtInfSts"`
			Reason []p2Rsn `xml:"StsRsnInf"`
			Txs    []struct {
				E2E    string  `xml:"OrgnlEndToEndId"`
				Sts    string  `xml:"TxSts"`
				Reason []p2Rsn `xml:"StsRsnInf"`
			} `xml:"TxInfAndSts"`
		} `xml:"OrgnlPmtInfAndSts"`
	} `xml:"CstmrPmtStsRpt"`
}

type p2Rsn struct {
	Cd    string `xml:"Rsn>Cd"`
	Prtry string `xml:"Rsn>Prtry"`
}

func reasonOf(rs []p2Rsn) string {
	for _, r := range rs {
		if r.Cd != "" {
			return r.Cd
		}
		if r.Prtry != "" {
			return r.Prtry
		}
	}
	return ""
}

// Status codes of pain.002.001.03 (TransactionGroupStatus3Code and
// TransactionIndividualStatus3Code) and what they mean for a transfer.
var statusCodes = map[string]string{
	"ACCP": TransferAccept, "ACSC": TransferAccept, "ACSP": TransferAccept, "ACTC": TransferAccept, "ACWC": TransferAccept,
	"RJCT": TransferReject, "PDNG": TransferPending, "RCVD": TransferPending, "PART": "",
}

// ParseStatusReport reads a bank's pain.002.001.03 payment status report
// (ISO 20022 CustomerPaymentStatusReportV03). It checks what the import
// relies on: the namespace, the original message id, and known status
// codes; any other content is ignored.
func ParseStatusReport(r io.Reader, name string) (*StatusReport, error) {
	data, err := io.ReadAll(io.LimitReader(r, pain002Max+1))
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading %s: %w", name, err)
	}
	if len(data) > pain002Max {
		return nil, fmt.Errorf("reconcile: %s: larger than %d MB, not a status report", name, pain002Max>>20)
	}
	var d p2Doc
	if err := xml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("reconcile: %s is not XML a bank status report can be read from: %w", name, err)
	}
	if d.XMLName.Space != pain002NS {
		return nil, fmt.Errorf("reconcile: %s: namespace %q, want %s (a pain.002.001.03 status report)", name, d.XMLName.Space, pain002NS)
	}
	if d.Rpt == nil || d.Rpt.Grp == nil || strings.TrimSpace(d.Rpt.Grp.MsgID) == "" {
		return nil, fmt.Errorf("reconcile: %s: no CstmrPmtStsRpt/OrgnlGrpInfAndSts/OrgnlMsgId: which payout it answers is not said", name)
	}
	g := d.Rpt.Grp
	if nm := strings.TrimSpace(g.NmID); nm != "" && !strings.HasPrefix(nm, "pain.001") {
		return nil, fmt.Errorf("reconcile: %s answers a %s message, not a payout file (pain.001)", name, nm)
	}
	rep := &StatusReport{PayoutID: strings.TrimSpace(g.MsgID), GroupStatus: strings.TrimSpace(g.Sts), GroupReason: reasonOf(g.Reason)}
	if err := knownStatus(name, "GrpSts", rep.GroupStatus); err != nil {
		return nil, err
	}
	if len(d.Rpt.PmtInf) > 1 {
		return nil, fmt.Errorf("reconcile: %s: %d payment information blocks; our payout files have one", name, len(d.Rpt.PmtInf))
	}
	for _, pi := range d.Rpt.PmtInf {
		rep.PmtInfStatus, rep.PmtInfReason = strings.TrimSpace(pi.Sts), reasonOf(pi.Reason)
		if err := knownStatus(name, "PmtInfSts", rep.PmtInfStatus); err != nil {
			return nil, err
		}
		for i, tx := range pi.Txs {
			ts := TxStatus{EndToEndID: strings.TrimSpace(tx.E2E), Status: strings.TrimSpace(tx.Sts), Reason: reasonOf(tx.Reason)}
			if ts.EndToEndID == "" {
				return nil, fmt.Errorf("reconcile: %s: transaction %d has no OrgnlEndToEndId", name, i+1)
			}
			if ts.Status == "" || ts.Status == "PART" {
				return nil, fmt.Errorf("reconcile: %s: transaction %s: TxSts %q is not a transaction status", name, ts.EndToEndID, ts.Status)
			}
			if err := knownStatus(name, "TxSts of "+ts.EndToEndID, ts.Status); err != nil {
				return nil, err
			}
			rep.Transactions = append(rep.Transactions, ts)
		}
	}
	return rep, nil
}

func knownStatus(name, field, code string) error {
	if code == "" {
		return nil
	}
	if _, ok := statusCodes[code]; !ok {
		return fmt.Errorf("reconcile: %s: %s %q is not a pain.002.001.03 status code", name, field, code)
	}
	return nil
}

// ErrStatusConflict: a status report contradicts what an earlier one said
// (a transfer rejected, then accepted).
var ErrStatusConflict = errors.New("reconcile: status report contradicts an earlier one")

// ImportStatusReport applies a bank's status report to the payout it
// answers, in one atomic step: a rejected transfer (RJCT) is reversed, as
// by CancelPayout, and its statements are unpaid again; an accepted one is
// marked accepted; pending ones stay. A group or payment-level status
// applies to the transactions the report does not list. When every
// transfer is rejected the payout is rejected. Importing the same report
// again changes nothing.
func ImportStatusReport(ctx context.Context, l Ledger, rep *StatusReport, at time.Time) (*PayoutResult, error) {
	return updatePayout(ctx, l, rep.PayoutID, func(rec *payoutRecord, get RecordGet, put RecordPut, post PostingPut) (int, error) {
		if rec.Status != PayoutIssued && rec.Status != PayoutRejected {
			return 0, fmt.Errorf("%w: payout %s is %s; a bank status applies to an issued payout", ErrPayoutState, rec.ID, rec.Status)
		}
		byE2E := map[string]*transferRecord{}
		for i := range rec.Transfers {
			byE2E[rec.Transfers[i].EndToEndID] = &rec.Transfers[i]
		}
		listed := map[*transferRecord]bool{}
		n := 0
		apply := func(tr *transferRecord, code, reason string) error {
			to := statusCodes[code]
			switch {
			case to == "" || to == TransferPending || to == tr.Status:
				return nil
			case tr.Status == TransferReject:
				return fmt.Errorf("%w: transfer %s of payout %s was rejected, the report says %s", ErrStatusConflict, tr.EndToEndID, rec.ID, code)
			case to == TransferReject:
				if err := reverse(rec, tr, at, get, put, post); err != nil {
					return err
				}
				n++
				tr.Status, tr.Reason = TransferReject, reason
			default:
				tr.Status = to
			}
			return nil
		}
		for _, tx := range rep.Transactions {
			tr := byE2E[tx.EndToEndID]
			if tr == nil {
				return 0, fmt.Errorf("reconcile: status report for payout %s names transaction %s, which is not in it", rec.ID, tx.EndToEndID)
			}
			listed[tr] = true
			if err := apply(tr, tx.Status, tx.Reason); err != nil {
				return n, err
			}
		}
		for _, lvl := range []struct{ code, reason string }{{rep.PmtInfStatus, rep.PmtInfReason}, {rep.GroupStatus, rep.GroupReason}} {
			if lvl.code == "" {
				continue
			}
			for i := range rec.Transfers {
				if tr := &rec.Transfers[i]; !listed[tr] {
					if err := apply(tr, lvl.code, lvl.reason); err != nil {
						return n, err
					}
				}
			}
			break // the payment level, when given, is the more precise
		}
		rejected := 0
		for _, tr := range rec.Transfers {
			if tr.Status == TransferReject {
				rejected++
			}
		}
		if rejected == len(rec.Transfers) {
			rec.Status = PayoutRejected
		}
		rec.StatusAt = at.Format(time.RFC3339)
		return n, nil
	})
}
