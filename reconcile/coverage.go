package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// PeriodVisits counts a partner period's accepted entries in one state of
// coverage.
type PeriodVisits struct {
	Partner, Period string
	Visits          int
	FirstSeq        uint64 // journal seq of the first and last of them
	LastSeq         uint64
}

// CoverageReport says which journaled accepted entries no statement
// covers. Unstated is a problem: entries of a period that has no statement
// although a later period of the partner closed after they were journaled
// (the period was skipped), so no statement will ever list them. Awaiting
// are entries of periods that have ended at the check's time and are not
// closed yet: due at the next close. Pending counts the entries journaled
// after their period's statement, which the partner's next statement lists
// as adjustments.
type CoverageReport struct {
	At       time.Time
	Entries  int // accepted entries at partners' venues read
	Unstated []PeriodVisits
	Awaiting []PeriodVisits
	Pending  int
}

// OK reports whether every entry is stated or will be.
func (c *CoverageReport) OK() bool { return len(c.Unstated) == 0 }

// Problems describes the unstated entries, one sentence per period.
func (c *CoverageReport) Problems() []string {
	var out []string
	for _, u := range c.Unstated {
		out = append(out, fmt.Sprintf("%d accepted visit(s) of %s in %s (journal seq %d..%d) belong to no statement: the period was skipped when a later one closed",
			u.Visits, u.Partner, u.Period, u.FirstSeq, u.LastSeq))
	}
	return out
}

func (c *CoverageReport) facts() []Fact {
	unstated, awaiting := 0, 0
	for _, u := range c.Unstated {
		unstated += u.Visits
	}
	for _, a := range c.Awaiting {
		awaiting += a.Visits
	}
	return []Fact{{"unstated_visits", Count, strconv.Itoa(unstated)}, {"awaiting_close_visits", Count, strconv.Itoa(awaiting)},
		{"pending_adjustments", Count, strconv.Itoa(c.Pending)}}
}

func (c *CoverageReport) notes() []string {
	out := c.Problems()
	for _, a := range c.Awaiting {
		out = append(out, fmt.Sprintf("%s %s has ended and is not closed: %d visit(s) await its statement", a.Partner, a.Period, a.Visits))
	}
	return out
}

// Coverage reads the whole journal and the stored statements and reports
// the accepted entries no statement covers (CoverageReport). An entry of a
// partner's period is covered by the period's statement when journaled up
// to its data_as_of, else by the first later statement of the partner whose
// data_as_of reaches it (as an adjustment). Entries at venues without a
// partner contract at their time are not payable and not counted.
func Coverage(ctx context.Context, l Ledger, cat *tariff.Catalog, at time.Time) (*CoverageReport, error) {
	closed, err := closedByPartner(ctx, l, cat)
	if err != nil {
		return nil, err
	}
	last, err := l.LastJournalSeq()
	if err != nil {
		return nil, fmt.Errorf("reconcile: coverage: %w", err)
	}
	rep := &CoverageReport{At: at}
	look := newLookups(cat)
	unstated := map[[2]string]*PeriodVisits{}
	awaiting := map[[2]string]*PeriodVisits{}
	add := func(m map[[2]string]*PeriodVisits, partner string, p tariff.Period, seq uint64) {
		k := [2]string{partner, p.Label}
		pv := m[k]
		if pv == nil {
			pv = &PeriodVisits{Partner: partner, Period: p.Label, FirstSeq: seq}
			m[k] = pv
		}
		pv.Visits++
		pv.LastSeq = seq
	}
	err = journalUpTo(ctx, l, 1, last, func(rec *engine.TapRecord) error {
		if !countsAsVisit(rec) {
			return nil
		}
		t, err := versionAt(cat, rec.At)
		if err != nil {
			return err
		}
		v := look.findVenue(t, rec.Venue, rec.At)
		if v == nil {
			return nil
		}
		cs := closed[v.Partner]
		i := sort.Search(len(cs), func(i int) bool { return cs[i].period.End.After(rec.At) })
		var p tariff.Period
		stored := i < len(cs) && !rec.At.Before(cs[i].period.Start)
		if stored {
			p = cs[i].period
		} else if p, err = periodOfTap(cat, v.Partner, rec.At); err != nil {
			return nil // no contract then: not payable
		}
		rep.Entries++
		seq := rec.JournalSeq
		if stored && seq <= cs[i].st.AsOfSeq {
			return nil // on its period's statement
		}
		// The statements after the period, in chain order: the first whose
		// data_as_of reaches the entry lists it as an adjustment.
		after := sort.Search(len(cs), func(j int) bool { return !cs[j].period.Start.Before(p.End) })
		if !stored && after < len(cs) && seq <= cs[after].st.AsOfSeq {
			add(unstated, v.Partner, p, seq) // skipped although already journaled
			return nil
		}
		for j := after; j < len(cs); j++ {
			if seq <= cs[j].st.AsOfSeq {
				return nil // an adjustment there
			}
		}
		switch {
		case stored || after < len(cs):
			rep.Pending++ // an adjustment on the partner's next statement
		case !at.Before(p.End):
			add(awaiting, v.Partner, p, seq) // its own statement, at the next close
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: coverage: reading journal: %w", err)
	}
	for _, m := range []struct {
		src map[[2]string]*PeriodVisits
		dst *[]PeriodVisits
	}{{unstated, &rep.Unstated}, {awaiting, &rep.Awaiting}} {
		for _, pv := range m.src {
			*m.dst = append(*m.dst, *pv)
		}
		sort.Slice(*m.dst, func(i, j int) bool {
			a, b := (*m.dst)[i], (*m.dst)[j]
			return a.Partner < b.Partner || a.Partner == b.Partner && a.FirstSeq < b.FirstSeq
		})
	}
	return rep, nil
}

// periodOfTap is periodAt as an error.
func periodOfTap(cat *tariff.Catalog, partner string, at time.Time) (tariff.Period, error) {
	p, ok := periodAt(cat, partner, at)
	if !ok {
		return p, fmt.Errorf("no contract")
	}
	return p, nil
}
