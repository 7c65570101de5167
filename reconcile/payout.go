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
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// ErrNothingToPay is returned by Payout when no closed statement is unpaid
// with a positive net; no file is written and nothing is marked.
var ErrNothingToPay = errors.New("reconcile: no closed, unpaid statement with a positive net: no payout file written")

// PayoutOptions says who pays and where the file goes.
type PayoutOptions struct {
	DebtorName string // the operator's account holder name (at most 70 characters are sent)
	DebtorIBAN string // checked (ISO 13616 mod-97)
	DebtorBIC  string
	// Date is the requested execution date (YYYY-MM-DD). Zero: At's date in
	// the tariff's zone.
	Date tariff.Date
	// At is the file's creation time (GrpHdr/CreDtTm). Zero: now.
	At time.Time
	// Out is the pain.001 file to write (atomically).
	Out string
}

// PayoutItem is one credit transfer: one statement.
type PayoutItem struct {
	Statement  string
	Partner    string
	Name       string
	IBAN       string
	BIC        string
	Amount     decimal.Decimal
	Currency   string
	EndToEndID string
}

// PayoutResult describes the payout file written.
type PayoutResult struct {
	ID       string // payout id = MsgId, deterministic from the statements paid
	File     string
	Date     tariff.Date
	Items    []PayoutItem
	Total    decimal.Decimal
	Currency string
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

// Payout writes one pain.001.001.03 SEPA credit transfer file for every
// closed, unpaid statement with a positive net (one transaction per
// statement, creditor = the partner's name, IBAN and BIC in the newest tariff
// naming it), then marks them paid with postings "payout/<statement>"
// (Dr partner_payable:<p> / Cr bank). The file is written before the
// statements are marked paid: if marking fails, running Payout again writes
// the same file. With nothing to pay it returns ErrNothingToPay.
func Payout(ctx context.Context, l Ledger, cat *tariff.Catalog, opts PayoutOptions) (*PayoutResult, error) {
	if opts.Out == "" {
		return nil, fmt.Errorf("reconcile: payout: no output file given")
	}
	name := sepaText(opts.DebtorName, 70)
	if name == "" {
		return nil, fmt.Errorf("reconcile: payout: no debtor name given")
	}
	iban, err := checkIBAN(opts.DebtorIBAN)
	if err != nil {
		return nil, fmt.Errorf("reconcile: payout: debtor %w", err)
	}
	bic, err := checkBIC(opts.DebtorBIC)
	if err != nil {
		return nil, fmt.Errorf("reconcile: payout: debtor %w", err)
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

	res := &PayoutResult{File: opts.Out, Date: date}
	err = l.Statements(ctx, func(st *StoredStatement) error {
		if st.PaidBy != "" || st.NetMinor <= 0 {
			return nil
		}
		var m Manifest
		if err := json.Unmarshal(st.Manifest, &m); err != nil {
			return fmt.Errorf("statement %s: manifest: %w", st.ID, err)
		}
		p, ok := cat.LatestPartner(st.Partner)
		if !ok {
			return fmt.Errorf("statement %s: partner %s is in no tariff version", st.ID, st.Partner)
		}
		pIBAN, err := checkIBAN(p.IBAN)
		if err != nil {
			return fmt.Errorf("partner %s: %w", p.ID, err)
		}
		pBIC, err := checkBIC(p.BIC)
		if err != nil {
			return fmt.Errorf("partner %s: %w", p.ID, err)
		}
		res.Items = append(res.Items, PayoutItem{Statement: st.ID, Partner: st.Partner, Name: sepaText(p.Name, 70),
			IBAN: pIBAN, BIC: pBIC, Amount: fromMinor(st.NetMinor), Currency: m.Currency, EndToEndID: max35(st.ID)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: payout: %w", err)
	}
	if len(res.Items) == 0 {
		return nil, ErrNothingToPay
	}
	sort.Slice(res.Items, func(i, j int) bool { return res.Items[i].Statement < res.Items[j].Statement })
	h := sha256.New()
	for _, it := range res.Items {
		res.Total = res.Total.Add(it.Amount)
		if res.Currency == "" {
			res.Currency = it.Currency
		} else if res.Currency != it.Currency {
			return nil, fmt.Errorf("reconcile: payout: statements in %s and %s; one file pays one currency", res.Currency, it.Currency)
		}
		fmt.Fprintf(h, "%s\n", it.Statement)
	}
	res.ID = "PAYOUT-" + strings.ReplaceAll(date.String(), "-", "") + "-" + hex.EncodeToString(h.Sum(nil))[:12]

	doc, err := painXML(res, name, iban, bic, at)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(opts.Out, doc, 0o644); err != nil {
		return nil, err
	}
	ids := make([]string, len(res.Items))
	postings := make([]engine.Posting, len(res.Items))
	for i, it := range res.Items {
		minor, err := toMinor(it.Amount)
		if err != nil {
			return nil, err
		}
		ids[i] = it.Statement
		postings[i] = engine.Posting{ID: "payout/" + it.Statement, At: at, Kind: "payout", Ref: res.ID,
			Lines: []engine.PostingLine{
				{Account: engine.AccountPartnerPayable + ":" + it.Partner, DebitMinor: minor},
				{Account: engine.AccountBank, CreditMinor: minor},
			}}
	}
	if err := l.MarkPaid(ctx, ids, res.ID, postings...); err != nil {
		return nil, fmt.Errorf("reconcile: payout %s: marking statements paid: %w", res.ID, err)
	}
	return res, nil
}

// max35 fits an id into Max35Text: long ids keep a prefix and a hash.
func max35(s string) string {
	if len(s) <= 35 {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return s[:22] + "-" + hex.EncodeToString(h[:6])
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

func painXML(res *PayoutResult, name, iban, bic string, at time.Time) ([]byte, error) {
	var d painDoc
	g := &d.Init.GrpHdr
	g.MsgID = res.ID
	g.CreDtTm = at.UTC().Format("2006-01-02T15:04:05")
	g.NbOfTxs = len(res.Items)
	g.CtrlSum = formatMoney(res.Total)
	g.InitgPty.Nm = name
	p := &d.Init.PmtInf
	p.PmtInfID = res.ID
	p.PmtMtd = "TRF"
	p.BtchBookg = true
	p.NbOfTxs = len(res.Items)
	p.CtrlSum = formatMoney(res.Total)
	p.PmtTpInf.SvcLvl.Cd = "SEPA"
	p.ReqdExctnDt = res.Date.String()
	p.Dbtr.Nm = name
	p.DbtrAcct.IBAN = iban
	p.DbtrAgt.BIC = bic
	p.ChrgBr = "SLEV"
	for _, it := range res.Items {
		p.Txs = append(p.Txs, painTx{EndToEndID: it.EndToEndID, Amt: painAmt{Ccy: it.Currency, Value: formatMoney(it.Amount)},
			CdtrAgt: painAgent{BIC: it.BIC}, Cdtr: painParty{Nm: it.Name}, CdtrAcct: painAcct{IBAN: it.IBAN},
			Ustrd: sepaText("citypass statement "+it.Statement, 140)})
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
