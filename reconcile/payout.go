package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/reconcile/stmtfile"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// Errors of the payout lifecycle.
var (
	// ErrNothingToPay: no closed statement is unpaid with a positive net;
	// nothing is written or stored.
	ErrNothingToPay = errors.New("reconcile: no closed, unpaid statement with a positive net: no payout file written")
	// ErrNoDebtor: no debtor account is configured (SetPayoutDebtor).
	ErrNoDebtor = errors.New("reconcile: no debtor account configured for payouts")
	// ErrNoPayout: no payout has the id given.
	ErrNoPayout = errors.New("reconcile: no such payout")
	// ErrPayoutState: the payout is not in a state that allows the step
	// (cancelling a settled payout, settling a cancelled one, …).
	ErrPayoutState = errors.New("reconcile: payout state does not allow this")
)

// Payout and transfer states. Persisted in payout records.
const (
	PayoutIssued    = "issued"    // file written; the bank has not answered
	PayoutCancelled = "cancelled" // withdrawn: its statements are unpaid again
	PayoutRejected  = "rejected"  // every transfer rejected by the bank
	PayoutSettled   = "settled"   // the money left the account
	TransferPending = "pending"   // issued, no status from the bank
	TransferAccept  = "accepted"  // accepted by the bank (pain.002 ACCP, ACSC, ACTC, ACWC)
	TransferReject  = "rejected"  // rejected by the bank (pain.002 RJCT): its statements are unpaid again
)

// Debtor is the operator's account that payouts debit.
type Debtor struct {
	Name string `json:"name"` // account holder: at most 70 characters, none a control character (refused, never cut)
	IBAN string `json:"iban"` // checked (ISO 13616 mod-97)
	BIC  string `json:"bic"`
}

// check normalises and validates the debtor.
func (d Debtor) check() (Debtor, error) {
	// The name is the operator's: refused, not cut, beyond what a SEPA
	// file holds (sepaNameMax characters, after folding to its character
	// set).
	if err := tariff.CheckText("debtor name", d.Name, sepaNameMax); err != nil {
		return Debtor{}, fmt.Errorf("reconcile: payout: %w", err)
	}
	out := Debtor{Name: sepaText(d.Name, 2*len(d.Name))}
	if err := tariff.CheckText("debtor name in the SEPA character set", out.Name, sepaNameMax); err != nil {
		return Debtor{}, fmt.Errorf("reconcile: payout: %w", err)
	}
	if out.Name == "" {
		return Debtor{}, fmt.Errorf("reconcile: payout: no debtor name given")
	}
	var err error
	if out.IBAN, err = checkIBAN(d.IBAN); err != nil {
		return Debtor{}, fmt.Errorf("reconcile: payout: debtor %w", err)
	}
	if out.BIC, err = checkBIC(d.BIC); err != nil {
		return Debtor{}, fmt.Errorf("reconcile: payout: debtor %w", err)
	}
	return out, nil
}

const configDebtor = "payout-debtor"

// SetPayoutDebtor validates and stores the debtor account payouts debit.
func SetPayoutDebtor(ctx context.Context, l Ledger, d Debtor) (Debtor, error) {
	d, err := d.check()
	if err != nil {
		return Debtor{}, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return Debtor{}, err
	}
	err = l.UpdateRecords(ctx, func(_ RecordGet, put RecordPut, _ PostingPut) error { return put(tableConfig, configDebtor, b) })
	if err != nil {
		return Debtor{}, fmt.Errorf("reconcile: storing the payout debtor: %w", err)
	}
	return d, nil
}

// PayoutDebtor returns the stored debtor account (ErrNoDebtor when none).
func PayoutDebtor(l Ledger) (Debtor, error) {
	b, ok, err := l.Record(tableConfig, configDebtor)
	if err != nil {
		return Debtor{}, fmt.Errorf("reconcile: reading the payout debtor: %w", err)
	}
	if !ok {
		return Debtor{}, ErrNoDebtor
	}
	var d Debtor
	if err := json.Unmarshal(b, &d); err != nil {
		return Debtor{}, fmt.Errorf("reconcile: stored payout debtor: %w", err)
	}
	return d, nil
}

// PayoutOptions says when and where a payout is issued.
type PayoutOptions struct {
	// Debtor overrides the stored debtor account (SetPayoutDebtor) when set.
	Debtor *Debtor
	// Date is the requested execution date. Zero: At's date in the
	// tariff's zone.
	Date tariff.Date
	// At is the file's creation time (GrpHdr/CreDtTm, written in the
	// tariff's zone with its offset). Zero: now.
	At time.Time
	// Out is the pain.001 file to write (atomically).
	Out string
	// FS writes the file; nil: stmtfile.OS.
	FS stmtfile.FS
}

// PayoutTransfer is one credit transfer: everything due to one partner.
type PayoutTransfer struct {
	Partner    string
	Name       string
	IBAN       string
	BIC        string
	Amount     decimal.Decimal
	Currency   string
	Statements []string // the statements it pays, oldest first
	EndToEndID string
	Status     string // TransferPending, TransferAccept, TransferReject, or the payout's when it ended
	Reason     string // the bank's reason code of a rejection
}

// PayoutResult describes a payout: its file, transfers and state.
type PayoutResult struct {
	ID        string // the payout id = MsgId and PmtInfId
	File      string // the file written, when one was
	Date      tariff.Date
	CreatedAt string // GrpHdr/CreDtTm, RFC 3339 with the zone's offset
	Debtor    Debtor
	Status    string
	Transfers []PayoutTransfer
	Total     decimal.Decimal
	Currency  string
	// Postings counts the postings this step stored.
	Postings int
}

// payoutRecord is a payout as stored. Persisted: fields are added, never
// renamed. The file is regenerated from it, byte for byte.
type payoutRecord struct {
	V         int              `json:"v"` // 1
	ID        string           `json:"id"`
	CreatedAt string           `json:"created_at"`
	Date      string           `json:"date"`
	Debtor    Debtor           `json:"debtor"`
	Currency  string           `json:"currency"`
	Status    string           `json:"status"`
	StatusAt  string           `json:"status_at,omitempty"`
	Transfers []transferRecord `json:"transfers"`
}

type transferRecord struct {
	Partner     string   `json:"partner"`
	Name        string   `json:"name"`
	IBAN        string   `json:"iban"`
	BIC         string   `json:"bic"`
	AmountMinor int64    `json:"amount_minor"`
	Statements  []string `json:"statements"`
	EndToEndID  string   `json:"end_to_end_id"`
	Status      string   `json:"status"`
	Reason      string   `json:"reason,omitempty"`
}

func (p *payoutRecord) result() *PayoutResult {
	d, _ := tariff.ParseDate(p.Date)
	res := &PayoutResult{ID: p.ID, Date: d, CreatedAt: p.CreatedAt, Debtor: p.Debtor, Status: p.Status, Currency: p.Currency}
	var total int64
	for _, t := range p.Transfers {
		total += t.AmountMinor
		res.Transfers = append(res.Transfers, PayoutTransfer{Partner: t.Partner, Name: t.Name, IBAN: t.IBAN, BIC: t.BIC,
			Amount: fromMinor(t.AmountMinor), Currency: p.Currency, Statements: append([]string(nil), t.Statements...),
			EndToEndID: t.EndToEndID, Status: t.Status, Reason: t.Reason})
	}
	res.Total = fromMinor(total)
	return res
}

func loadPayout(l Ledger, id string) (*payoutRecord, error) {
	b, ok, err := l.Record(tablePayout, id)
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading payout %s: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoPayout, id)
	}
	return decodePayout(id, b)
}

func decodePayout(id string, b []byte) (*payoutRecord, error) {
	var p payoutRecord
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reconcile: payout %s: stored record: %w", id, err)
	}
	if p.V != 1 || p.ID != id {
		return nil, fmt.Errorf("reconcile: payout %s: stored record version %d, id %q", id, p.V, p.ID)
	}
	return &p, nil
}

var (
	bicRe  = regexp.MustCompile(`^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$`)
	ibanRe = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$`)
)

func checkIBAN(s string) (string, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if !ibanRe.MatchString(s) {
		return "", fmt.Errorf("IBAN %q: malformed", s)
	}
	var digits strings.Builder
	for _, c := range s[4:] + s[:4] {
		if c >= 'A' && c <= 'Z' {
			fmt.Fprintf(&digits, "%d", c-'A'+10)
		} else {
			digits.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(digits.String(), 10)
	if new(big.Int).Mod(n, big.NewInt(97)).Int64() != 1 {
		return "", fmt.Errorf("IBAN %q: check digits wrong", s)
	}
	return s, nil
}

func checkBIC(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !bicRe.MatchString(s) {
		return "", fmt.Errorf("BIC %q: malformed", s)
	}
	return s, nil
}

// sepaNameMax is the most characters of a name in a SEPA file (Nm).
const sepaNameMax = 70

// sepaText fits free text into the EPC's SEPA Latin character set
// (a-z A-Z 0-9 / - ? : ( ) . , ' + space), which many banks enforce beyond
// the XSD: common accented letters lose their accent, "&" becomes "+", any
// other character becomes "."; then it is cut to max characters.
func sepaText(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("/-?:().,'+ ", r):
			b.WriteRune(r)
		case r == '&':
			b.WriteRune('+')
		case r == '\u2013' || r == '\u2014':
			b.WriteRune('-')
		case r == '\u2019' || r == '`':
			b.WriteRune('\'')
		case r < 0x20 || r == 0x7f:
			b.WriteRune(' ')
		default:
			if t, ok := sepaFold[r]; ok {
				b.WriteString(t)
			} else {
				b.WriteRune('.')
			}
		}
	}
	out := b.String()
	if len(out) > max { // ASCII only now: bytes are characters
		out = out[:max]
	}
	return strings.TrimSpace(out)
}

var sepaFold = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'Æ': "AE", 'œ': "oe", 'Œ': "OE", 'ø': "o", 'Ø': "O", 'ł': "l", 'Ł': "L"}
	for base, accented := range map[string]string{
		"a": "àáâãäåā", "A": "ÀÁÂÃÄÅĀ", "c": "çćč", "C": "ÇĆČ", "e": "èéêëēė", "E": "ÈÉÊËĒĖ",
		"i": "ìíîïī", "I": "ÌÍÎÏĪ", "n": "ñń", "N": "ÑŃ", "o": "òóôõöō", "O": "ÒÓÔÕÖŌ",
		"u": "ùúûüū", "U": "ÙÚÛÜŪ", "y": "ýÿ", "Y": "ÝŸ", "s": "śš", "S": "ŚŠ", "z": "źżž", "Z": "ŹŻŽ",
	} {
		for _, r := range accented {
			m[r] = base
		}
	}
	return m
}()

// Payout issues a payout: one pain.001.001.03 SEPA credit transfer file
// with one transfer per partner, paying every closed statement that is
// unpaid with a positive net (the statements listed in the remittance
// information; creditor = the partner's name, IBAN and BIC in the newest
// tariff naming it). In one atomic step it stores the payout, marks its
// statements paid by it and posts "payout/<payout>/<partner>" (Dr
// partner_payable:<p> / Cr bank) per transfer; then it writes the file.
// Should the write fail, ReissuePayout writes the same bytes. With nothing
// to pay it returns ErrNothingToPay.
func Payout(ctx context.Context, l Ledger, cat *tariff.Catalog, opts PayoutOptions) (*PayoutResult, error) {
	if opts.Out == "" {
		return nil, fmt.Errorf("reconcile: payout: no output file given")
	}
	var debtor Debtor
	var err error
	if opts.Debtor != nil {
		debtor, err = opts.Debtor.check()
	} else if debtor, err = PayoutDebtor(l); err == nil {
		debtor, err = debtor.check()
	}
	if err != nil {
		return nil, err
	}
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	t, err := versionAt(cat, at)
	if err != nil {
		return nil, err
	}
	date := opts.Date
	if date == (tariff.Date{}) {
		date = tariff.DateOf(at.In(t.Location))
	}
	rec := &payoutRecord{V: 1, CreatedAt: at.In(t.Location).Format(time.RFC3339), Date: date.String(),
		Debtor: debtor, Status: PayoutIssued}
	byPartner := map[string]*transferRecord{}
	var ids []string
	err = Statements(ctx, l, func(st *Statement) error {
		if st.PaidBy != "" || st.NetMinor <= 0 {
			return nil
		}
		var m Manifest
		if err := json.Unmarshal(st.Manifest, &m); err != nil {
			return fmt.Errorf("statement %s: manifest: %w", st.ID, err)
		}
		if rec.Currency == "" {
			rec.Currency = m.Currency
		} else if rec.Currency != m.Currency {
			return fmt.Errorf("statements in %s and %s; one file pays one currency", rec.Currency, m.Currency)
		}
		tr := byPartner[st.Partner]
		if tr == nil {
			p, ok := cat.LatestPartner(st.Partner)
			if !ok {
				return fmt.Errorf("statement %s: partner %s is in no tariff version", st.ID, st.Partner)
			}
			iban, err := checkIBAN(p.IBAN)
			if err != nil {
				return fmt.Errorf("partner %s: %w", p.ID, err)
			}
			bic, err := checkBIC(p.BIC)
			if err != nil {
				return fmt.Errorf("partner %s: %w", p.ID, err)
			}
			tr = &transferRecord{Partner: st.Partner, Name: sepaText(p.Name, sepaNameMax), IBAN: iban, BIC: bic, Status: TransferPending}
			byPartner[st.Partner] = tr
		}
		tr.AmountMinor += st.NetMinor
		tr.Statements = append(tr.Statements, st.ID)
		ids = append(ids, st.ID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: payout: %w", err)
	}
	if len(byPartner) == 0 {
		return nil, ErrNothingToPay
	}
	periods, err := closedByPartner(ctx, l, cat)
	if err != nil {
		return nil, err
	}
	order := map[string]int{} // statement id → rank by period, within its partner
	for _, cs := range periods {
		for i, c := range cs {
			order[c.st.ID] = i
		}
	}
	for _, tr := range byPartner {
		sort.Slice(tr.Statements, func(i, j int) bool { return order[tr.Statements[i]] < order[tr.Statements[j]] })
		rec.Transfers = append(rec.Transfers, *tr)
	}
	sort.Slice(rec.Transfers, func(i, j int) bool { return rec.Transfers[i].Partner < rec.Transfers[j].Partner })
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s\n", id)
	}
	base := "PAYOUT-" + strings.ReplaceAll(date.String(), "-", "") + "-" + hex.EncodeToString(h.Sum(nil))[:12]

	postings := 0
	err = l.UpdateRecords(ctx, func(get RecordGet, put RecordPut, post PostingPut) error {
		// The id: the same statements paid again after a cancellation get
		// a new one (-2, -3, …).
		rec.ID = base
		for n := 2; ; n++ {
			_, exists, err := get(tablePayout, rec.ID)
			if err != nil {
				return err
			}
			if !exists {
				break
			}
			if n > 99 {
				return fmt.Errorf("payout %s issued 99 times", base)
			}
			rec.ID = fmt.Sprintf("%s-%d", base, n)
		}
		for i := range rec.Transfers {
			tr := &rec.Transfers[i]
			tr.EndToEndID = max35(strings.TrimPrefix(rec.ID, "PAYOUT-") + "-" + tr.Partner)
			for _, id := range tr.Statements {
				if err := setPaidBy(get, put, id, "", rec.ID); err != nil {
					return err
				}
			}
			if err := post(engine.Posting{ID: "payout/" + rec.ID + "/" + tr.Partner, At: at, Kind: "payout", Ref: rec.ID,
				Lines: []engine.PostingLine{
					{Account: engine.AccountPartnerPayable + ":" + tr.Partner, DebitMinor: tr.AmountMinor},
					{Account: engine.AccountBank, CreditMinor: tr.AmountMinor},
				}}); err != nil {
				return err
			}
		}
		postings = len(rec.Transfers)
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return put(tablePayout, rec.ID, b)
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: payout: storing it: %w", err)
	}
	res := rec.result()
	res.Postings = postings
	if err := writePayoutFile(opts.FS, rec, opts.Out); err != nil {
		return res, fmt.Errorf("%w (payout %s is stored: write its file with `reconcile payout reissue %s`)", err, rec.ID, rec.ID)
	}
	res.File = opts.Out
	return res, nil
}

// setPaidBy moves a statement's PaidBy from from to to inside a
// transaction, refusing when it is not from (paid meanwhile by another
// payout, or no longer by this one).
func setPaidBy(get RecordGet, put RecordPut, id, from, to string) error {
	b, ok, err := get(tableStatement, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("statement %s is not stored", id)
	}
	st, err := decodeStatement(id, b)
	if err != nil {
		return err
	}
	if st.PaidBy != from {
		if from == "" {
			return fmt.Errorf("statement %s was paid meanwhile by payout %s", id, st.PaidBy)
		}
		return fmt.Errorf("statement %s is not paid by payout %s (paid by %q)", id, from, st.PaidBy)
	}
	st.PaidBy = to
	if b, err = encodeStatement(st); err != nil {
		return err
	}
	return put(tableStatement, id, b)
}

// PayoutFile returns the pain.001 file of a stored payout, byte for byte
// as it was issued.
func PayoutFile(l Ledger, id string) ([]byte, error) {
	rec, err := loadPayout(l, id)
	if err != nil {
		return nil, err
	}
	return painXML(rec)
}

// ReissuePayout writes a stored payout's file again to out, byte for byte
// (a file lost, or refused for a reason fixed since). It changes nothing
// in the ledger.
func ReissuePayout(l Ledger, id, out string, fsys stmtfile.FS) (*PayoutResult, error) {
	rec, err := loadPayout(l, id)
	if err != nil {
		return nil, err
	}
	if err := writePayoutFile(fsys, rec, out); err != nil {
		return nil, err
	}
	res := rec.result()
	res.File = out
	return res, nil
}

func writePayoutFile(fsys stmtfile.FS, rec *payoutRecord, out string) error {
	if fsys == nil {
		fsys = stmtfile.OS
	}
	doc, err := painXML(rec)
	if err != nil {
		return err
	}
	if err := stmtfile.WriteFile(fsys, out, doc, 0o644); err != nil {
		return fmt.Errorf("reconcile: payout %s: %w", rec.ID, err)
	}
	return nil
}

// CancelPayout withdraws an issued payout (a file never sent, or recalled):
// its statements are unpaid again, to be paid by the next payout, and
// each transfer not already rejected is reversed by
// "payout-reversal/<payout>/<partner>" (Dr bank / Cr partner_payable:<p>),
// in one atomic step.
func CancelPayout(ctx context.Context, l Ledger, id string, at time.Time) (*PayoutResult, error) {
	return updatePayout(ctx, l, id, func(rec *payoutRecord, get RecordGet, put RecordPut, post PostingPut) (int, error) {
		if rec.Status != PayoutIssued {
			return 0, fmt.Errorf("%w: payout %s is %s; only an issued payout can be cancelled", ErrPayoutState, id, rec.Status)
		}
		n := 0
		for i := range rec.Transfers {
			tr := &rec.Transfers[i]
			if tr.Status == TransferReject {
				continue
			}
			if err := reverse(rec, tr, at, get, put, post); err != nil {
				return n, err
			}
			tr.Status = PayoutCancelled
			n++
		}
		rec.Status, rec.StatusAt = PayoutCancelled, at.Format(time.RFC3339)
		return n, nil
	})
}

// SettlePayout records that an issued payout left the bank account: its
// transfers that were not rejected are settled. Nothing is posted (the
// payout posted Cr bank when issued).
func SettlePayout(ctx context.Context, l Ledger, id string, at time.Time) (*PayoutResult, error) {
	return updatePayout(ctx, l, id, func(rec *payoutRecord, _ RecordGet, _ RecordPut, _ PostingPut) (int, error) {
		if rec.Status != PayoutIssued {
			return 0, fmt.Errorf("%w: payout %s is %s; only an issued payout can be settled", ErrPayoutState, id, rec.Status)
		}
		for i := range rec.Transfers {
			if rec.Transfers[i].Status != TransferReject {
				rec.Transfers[i].Status = PayoutSettled
			}
		}
		rec.Status, rec.StatusAt = PayoutSettled, at.Format(time.RFC3339)
		return 0, nil
	})
}

// reverse unpays a transfer's statements and posts its reversal.
func reverse(rec *payoutRecord, tr *transferRecord, at time.Time, get RecordGet, put RecordPut, post PostingPut) error {
	for _, sid := range tr.Statements {
		if err := setPaidBy(get, put, sid, rec.ID, ""); err != nil {
			return err
		}
	}
	return post(engine.Posting{ID: "payout-reversal/" + rec.ID + "/" + tr.Partner, At: at, Kind: "payout_reversal", Ref: rec.ID,
		Lines: []engine.PostingLine{
			{Account: engine.AccountBank, DebitMinor: tr.AmountMinor},
			{Account: engine.AccountPartnerPayable + ":" + tr.Partner, CreditMinor: tr.AmountMinor},
		}})
}

// updatePayout runs step on a stored payout in one atomic transaction and
// stores the record it leaves.
func updatePayout(ctx context.Context, l Ledger, id string, step func(*payoutRecord, RecordGet, RecordPut, PostingPut) (int, error)) (*PayoutResult, error) {
	var rec *payoutRecord
	var n int
	err := l.UpdateRecords(ctx, func(get RecordGet, put RecordPut, post PostingPut) error {
		b, ok, err := get(tablePayout, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoPayout, id)
		}
		if rec, err = decodePayout(id, b); err != nil {
			return err
		}
		if n, err = step(rec, get, put, post); err != nil {
			return err
		}
		if b, err = json.Marshal(rec); err != nil {
			return err
		}
		return put(tablePayout, id, b)
	})
	if err != nil {
		return nil, err
	}
	res := rec.result()
	res.Postings = n
	return res, nil
}

// Payouts returns every stored payout, by id.
func Payouts(ctx context.Context, l Ledger) (*PayoutList, error) {
	out := &PayoutList{}
	err := l.Records(ctx, tablePayout, func(id string, b []byte) error {
		rec, err := decodePayout(id, b)
		if err != nil {
			return err
		}
		out.Payouts = append(out.Payouts, *rec.result())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading payouts: %w", err)
	}
	return out, nil
}

// PayoutList is every payout with its state.
type PayoutList struct{ Payouts []PayoutResult }

// max35 fits an id into Max35Text: long ids keep a prefix and a hash.
func max35(s string) string {
	if len(s) <= 35 {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return s[:22] + "-" + hex.EncodeToString(h[:6])
}

// remittance is a transfer's unstructured remittance information (at most
// 140 characters): its statements, or, when they do not fit, the first
// and last and how many.
func remittance(statements []string) string {
	full := "citypass statements " + strings.Join(statements, " ")
	if len(statements) == 1 {
		full = "citypass statement " + statements[0]
	}
	if len(full) <= 140 {
		return sepaText(full, 140)
	}
	return sepaText(fmt.Sprintf("citypass %d statements %s .. %s", len(statements), statements[0], statements[len(statements)-1]), 140)
}

// pain.001.001.03 document, in schema order.
type painDoc struct {
	XMLName xml.Name `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03 Document"`
	Init    painInit `xml:"CstmrCdtTrfInitn"`
}

type painInit struct {
	GrpHdr struct {
		MsgID    string `xml:"MsgId"`
		CreDtTm  string `xml:"CreDtTm"`
		NbOfTxs  int    `xml:"NbOfTxs"`
		CtrlSum  string `xml:"CtrlSum"`
		InitgPty struct {
			Nm string `xml:"Nm"`
		} `xml:"InitgPty"`
	} `xml:"GrpHdr"`
	PmtInf struct {
		PmtInfID  string `xml:"PmtInfId"`
		PmtMtd    string `xml:"PmtMtd"`
		BtchBookg bool   `xml:"BtchBookg"`
		NbOfTxs   int    `xml:"NbOfTxs"`
		CtrlSum   string `xml:"CtrlSum"`
		PmtTpInf  struct {
			SvcLvl struct {
				Cd string `xml:"Cd"`
			} `xml:"SvcLvl"`
		} `xml:"PmtTpInf"`
		ReqdExctnDt string    `xml:"ReqdExctnDt"`
		Dbtr        painParty `xml:"Dbtr"`
		DbtrAcct    painAcct  `xml:"DbtrAcct"`
		DbtrAgt     painAgent `xml:"DbtrAgt"`
		ChrgBr      string    `xml:"ChrgBr"`
		Txs         []painTx  `xml:"CdtTrfTxInf"`
	} `xml:"PmtInf"`
}

type painParty struct {
	Nm string `xml:"Nm"`
}

type painAcct struct {
	IBAN string `xml:"Id>IBAN"`
}

type painAgent struct {
	BIC string `xml:"FinInstnId>BIC"`
}

type painAmt struct {
	Ccy   string `xml:"Ccy,attr"`
	Value string `xml:",chardata"`
}

type painTx struct {
	EndToEndID string    `xml:"PmtId>EndToEndId"`
	Amt        painAmt   `xml:"Amt>InstdAmt"`
	CdtrAgt    painAgent `xml:"CdtrAgt"`
	Cdtr       painParty `xml:"Cdtr"`
	CdtrAcct   painAcct  `xml:"CdtrAcct"`
	Ustrd      string    `xml:"RmtInf>Ustrd"`
}

// painXML is a payout's file: a function of its record alone, so a
// re-issue writes the same bytes.
func painXML(rec *payoutRecord) ([]byte, error) {
	var d painDoc
	var total int64
	for _, tr := range rec.Transfers {
		total += tr.AmountMinor
	}
	g := &d.Init.GrpHdr
	g.MsgID = rec.ID
	g.CreDtTm = rec.CreatedAt
	g.NbOfTxs = len(rec.Transfers)
	g.CtrlSum = stmtfile.MinorString(total)
	g.InitgPty.Nm = rec.Debtor.Name
	p := &d.Init.PmtInf
	p.PmtInfID = rec.ID
	p.PmtMtd = "TRF"
	p.BtchBookg = true
	p.NbOfTxs = len(rec.Transfers)
	p.CtrlSum = stmtfile.MinorString(total)
	p.PmtTpInf.SvcLvl.Cd = "SEPA"
	p.ReqdExctnDt = rec.Date
	p.Dbtr.Nm = rec.Debtor.Name
	p.DbtrAcct.IBAN = rec.Debtor.IBAN
	p.DbtrAgt.BIC = rec.Debtor.BIC
	p.ChrgBr = "SLEV"
	for _, tr := range rec.Transfers {
		p.Txs = append(p.Txs, painTx{EndToEndID: tr.EndToEndID, Amt: painAmt{Ccy: rec.Currency, Value: stmtfile.MinorString(tr.AmountMinor)},
			CdtrAgt: painAgent{BIC: tr.BIC}, Cdtr: painParty{Nm: tr.Name}, CdtrAcct: painAcct{IBAN: tr.IBAN},
			Ustrd: remittance(tr.Statements)})
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(&d); err != nil {
		return nil, fmt.Errorf("reconcile: payout: encoding XML: %w", err)
	}
	buf.WriteString("\n")
	return buf.Bytes(), nil
}
