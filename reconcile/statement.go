package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// Statement is a closed statement as reconcile stores it in the ledger: the
// manifest's exact bytes, the journal seq it covers, its net in minor units
// and the payout that pays it. Its CSV is not stored (a busy month is
// gigabytes): a re-close regenerates it from the journal up to AsOfSeq.
type Statement struct {
	ID         string
	Partner    string
	Period     string
	PeriodKind tariff.PeriodKind
	ClosedAt   time.Time
	AsOfSeq    uint64 // last JournalSeq covered (data_as_of)
	NetMinor   int64
	Manifest   []byte // the manifest file, byte for byte
	// PaidBy is the payout that pays it: set when a payout is issued,
	// cleared when that payout or its transfer is cancelled or rejected.
	PaidBy string
}

// ErrStatementExists: a statement id is stored once.
var ErrStatementExists = errors.New("reconcile: statement already stored")

// statementRecord is a Statement's record bytes. Persisted: fields are
// added, never renamed.
type statementRecord struct {
	V          int    `json:"v"` // 1
	ID         string `json:"id"`
	Partner    string `json:"partner"`
	Period     string `json:"period"`
	PeriodKind string `json:"period_kind"`
	ClosedAt   string `json:"closed_at"` // RFC 3339 with nanoseconds
	AsOfSeq    uint64 `json:"as_of_seq"`
	NetMinor   int64  `json:"net_minor"`
	Manifest   string `json:"manifest"`
	PaidBy     string `json:"paid_by,omitempty"`
}

func encodeStatement(st *Statement) ([]byte, error) {
	return json.Marshal(statementRecord{V: 1, ID: st.ID, Partner: st.Partner, Period: st.Period,
		PeriodKind: string(st.PeriodKind), ClosedAt: st.ClosedAt.Format(time.RFC3339Nano), AsOfSeq: st.AsOfSeq,
		NetMinor: st.NetMinor, Manifest: string(st.Manifest), PaidBy: st.PaidBy})
}

func decodeStatement(id string, b []byte) (*Statement, error) {
	var r statementRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reconcile: statement %s: stored record: %w", id, err)
	}
	if r.V != 1 || r.ID != id {
		return nil, fmt.Errorf("reconcile: statement %s: stored record version %d, id %q", id, r.V, r.ID)
	}
	at, err := time.Parse(time.RFC3339Nano, r.ClosedAt)
	if err != nil {
		return nil, fmt.Errorf("reconcile: statement %s: closed_at: %w", id, err)
	}
	return &Statement{ID: r.ID, Partner: r.Partner, Period: r.Period, PeriodKind: tariff.PeriodKind(r.PeriodKind),
		ClosedAt: at, AsOfSeq: r.AsOfSeq, NetMinor: r.NetMinor, Manifest: []byte(r.Manifest), PaidBy: r.PaidBy}, nil
}

// LoadStatement returns the stored statement with id, if any.
func LoadStatement(l Ledger, id string) (*Statement, bool, error) {
	b, ok, err := l.Record(tableStatement, id)
	if err != nil || !ok {
		return nil, false, err
	}
	st, err := decodeStatement(id, b)
	return st, err == nil, err
}

// Statements calls fn for every stored statement, by id.
func Statements(ctx context.Context, l Ledger, fn func(*Statement) error) error {
	return l.Records(ctx, tableStatement, func(id string, b []byte) error {
		st, err := decodeStatement(id, b)
		if err != nil {
			return err
		}
		return fn(st)
	})
}

// putStatement stores a new statement with its postings atomically
// (ErrStatementExists if the id is taken).
func putStatement(ctx context.Context, l Ledger, st *Statement, postings []engine.Posting) error {
	b, err := encodeStatement(st)
	if err != nil {
		return err
	}
	return l.UpdateRecords(ctx, func(get RecordGet, put RecordPut, post PostingPut) error {
		if _, ok, err := get(tableStatement, st.ID); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: %s", ErrStatementExists, st.ID)
		}
		if err := put(tableStatement, st.ID, b); err != nil {
			return err
		}
		for _, p := range postings {
			if err := post(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// closedPeriod is a stored statement of a partner, with its period parsed.
type closedPeriod struct {
	st     *Statement
	period tariff.Period
}

// closedByPartner returns every partner's stored statements, oldest period
// first.
func closedByPartner(ctx context.Context, l Ledger, cat *tariff.Catalog) (map[string][]closedPeriod, error) {
	out := map[string][]closedPeriod{}
	err := Statements(ctx, l, func(st *Statement) error {
		per, err := periodOfKind(cat, st.PeriodKind, st.Period)
		if err != nil {
			return fmt.Errorf("statement %s: %w", st.ID, err)
		}
		out[st.Partner] = append(out[st.Partner], closedPeriod{st: st, period: per})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading statements: %w", err)
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool { return cs[i].period.Start.Before(cs[j].period.Start) })
	}
	return out, nil
}
