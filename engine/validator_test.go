package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/engine/memstore"
	"github.com/citypass/citypass/tariff"
)

func newValidator(t *testing.T, versions ...*tariff.Tariff) (*engine.Validator, *memstore.Store) {
	t.Helper()
	if len(versions) == 0 {
		versions = []*tariff.Tariff{fixtureTariff("paris")}
	}
	cat, err := tariff.NewCatalog(versions...)
	require.NoError(t, err)
	st := memstore.New(nil)
	// the clock only describes passes (ShowPass); fixed after every test's taps
	now := func() time.Time { return time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC) }
	v, err := engine.New(st, cat, &engine.Options{Rand: newSeededRand(7), Now: now})
	require.NoError(t, err)
	return v, st
}

func paris(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02T15:04", s, fixtureTariff("paris").Location)
	require.NoError(t, err)
	return tm
}

// TestValidateConcurrentOnce: 64 gates tap one `once` pass at one venue at
// the same time; exactly one is accepted and every tap is journaled.
func TestValidateConcurrentOnce(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04C00001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	at := paris(t, "2026-11-23T10:00")
	const gates = 64
	results := make([]engine.Result, gates)
	errs := make([]error, gates)
	var wg sync.WaitGroup
	for i := range gates {
		wg.Go(func() {
			results[i], errs[i] = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: fmt.Sprintf("gate-%d", i), Seq: 1},
				Card: "04C00001", Gate: fmt.Sprintf("mucem/g%d", i), At: at.Add(time.Duration(i) * time.Millisecond)})
		})
	}
	wg.Wait()
	accepted := 0
	for i := range gates {
		require.NoError(t, errs[i])
		if results[i].Decision.Accept {
			accepted++
			assert.Equal(t, []string{"ACTIVATED"}, results[i].Decision.Flags.Names())
		} else {
			assert.Equal(t, engine.ReasonAlreadyRedeemed, results[i].Decision.Reason)
		}
	}
	assert.Equal(t, 1, accepted)
	assert.Len(t, st.Journal(), gates)
	view, err := v.ShowCard(ctx, "04C00001")
	require.NoError(t, err)
	assert.Equal(t, 1, view.Entries)
}

// TestValidateConcurrentPasses: many gates, many passes, duplicates sent
// twice; every pass is entered once and every tap id journaled once.
func TestValidateConcurrentPasses(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	const cards = 16
	for c := range cards {
		_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: fmt.Sprintf("04D000%02X", c), At: paris(t, "2026-11-23T08:00")})
		require.NoError(t, err)
	}
	at := paris(t, "2026-11-23T10:00")
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepts, dups := 0, 0
	for g := range 8 {
		for c := range cards {
			for range 2 { // each tap sent twice
				wg.Go(func() {
					r, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: fmt.Sprintf("g%d", g), Seq: uint64(c + 1)},
						Card: fmt.Sprintf("04D000%02X", c), Gate: fmt.Sprintf("mucem/g%d", g), At: at})
					assert.NoError(t, err)
					mu.Lock()
					defer mu.Unlock()
					if r.Duplicate {
						dups++
					} else if r.Decision.Accept {
						accepts++
					}
				})
			}
		}
	}
	wg.Wait()
	assert.Equal(t, cards, accepts)
	assert.Equal(t, 8*cards, dups)
	assert.Len(t, st.Journal(), 8*cards)
}

func TestSellAndRefundPostings(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	sold := paris(t, "2026-11-23T08:00")
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04 e0 00 01", At: sold, Channel: "desk"})
	require.NoError(t, err)
	assert.Regexp(t, `^P-[A-Z2-7]{16}$`, p.ID)
	assert.Equal(t, "04E00001", p.Card)
	assert.Equal(t, int64(3200), p.PriceMinor)
	assert.Equal(t, "EUR", p.Currency)
	assert.Equal(t, "paris", p.TariffVersion)
	assert.Equal(t, sold.Add(365*24*time.Hour), p.ActivateBy)
	_, err = v.Refund(ctx, p.ID, sold.Add(time.Hour))
	require.NoError(t, err)
	free, err := v.Sell(ctx, engine.SellRequest{Product: "free", Card: "04E00002", At: sold})
	require.NoError(t, err)
	_, err = v.Refund(ctx, free.ID, sold.Add(time.Hour))
	require.NoError(t, err)

	posts := st.Postings()
	require.Len(t, posts, 2, "a free pass posts nothing")
	assert.Equal(t, engine.Posting{ID: "sale/" + p.ID, At: sold, Kind: "sale", Ref: p.ID, Lines: []engine.PostingLine{
		{Account: engine.AccountSalesClearing, DebitMinor: 3200}, {Account: engine.AccountDeferredRevenue, CreditMinor: 3200}}}, posts[0])
	assert.Equal(t, engine.Posting{ID: "refund/" + p.ID, At: sold.Add(time.Hour), Kind: "refund", Ref: p.ID, Lines: []engine.PostingLine{
		{Account: engine.AccountDeferredRevenue, DebitMinor: 3200}, {Account: engine.AccountRefundsPayable, CreditMinor: 3200}}}, posts[1])
	for _, post := range posts {
		assert.True(t, post.Balanced())
	}
}

func TestPassIDsDeterministicAndUnique(t *testing.T) {
	ids := func() []string {
		v, _ := newValidator(t)
		var out []string
		for i := range 50 {
			p, err := v.Sell(context.Background(), engine.SellRequest{Product: "cp24-adult", Card: fmt.Sprintf("04F000%02X", i), At: paris(t, "2026-11-23T08:00")})
			require.NoError(t, err)
			out = append(out, p.ID)
		}
		return out
	}
	a, b := ids(), ids()
	assert.Equal(t, a, b, "the same rand source gives the same ids")
	seen := map[string]bool{}
	for _, id := range a {
		assert.False(t, seen[id], id)
		seen[id] = true
	}
}

// TestSellError: a refused sale names its cause and writes nothing.
func TestSellErrors(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	sold := paris(t, "2026-11-23T08:00")
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E10001", At: sold})
	require.NoError(t, err)
	_, err = v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E10001", At: sold.Add(time.Hour)})
	var live *engine.LivePassError
	require.ErrorAs(t, err, &live)
	assert.Equal(t, p.ID, live.Pass)
	assert.ErrorIs(t, err, engine.ErrLivePass)
	require.NoError(t, v.Block(ctx, "04E10001", engine.BlockStolen, sold.Add(time.Hour)))
	_, err = v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E10001", At: sold.Add(48 * time.Hour)})
	assert.ErrorIs(t, err, engine.ErrCardBlocked)
	_, err = v.Sell(ctx, engine.SellRequest{Product: "nope", Card: "04E10002", At: sold})
	assert.ErrorIs(t, err, engine.ErrUnknownProduct)
	assert.Len(t, st.Passes(), 1)
	assert.Len(t, st.Postings(), 1)
}

// TestValidateStoreFailure: when the store cannot commit, the gate gets
// ERROR, nothing is kept, and the same tap id can be retried.
func TestValidateStoreFailure(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E20001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	tap := engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04E20001", Gate: "mucem/g1", At: paris(t, "2026-11-23T10:00")}
	boom := errors.New("fsync: input/output error")
	st.FailNextCommit(boom)
	r, err := v.Validate(ctx, tap)
	require.ErrorIs(t, err, boom)
	assert.False(t, r.Decision.Accept)
	assert.Equal(t, engine.ReasonError, r.Decision.Reason)
	assert.Empty(t, st.Journal())
	r, err = v.Validate(ctx, tap)
	require.NoError(t, err)
	assert.True(t, r.Decision.Accept)
	assert.False(t, r.Duplicate)
	assert.Equal(t, []string{"ACTIVATED"}, r.Decision.Flags.Names(), "the failed tap activated nothing")
}

func TestValidateJournal(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-child", Card: "04E30001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	taps := []engine.Tap{
		{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04FFFFFF", Gate: "mucem/g1", At: paris(t, "2026-11-23T09:00")},
		{ID: engine.TapID{Device: "d", Seq: 2}, Card: "04e30001", Gate: "mucem/g1", At: paris(t, "2026-11-23T10:00")},
		{ID: engine.TapID{Device: "d", Seq: 3}, Card: "04E30001", Gate: "mucem/g1", At: paris(t, "2026-11-23T11:00"), Direction: engine.Exit},
	}
	for _, tap := range taps {
		_, err := v.Validate(ctx, tap)
		require.NoError(t, err)
	}
	j := st.Journal()
	require.Len(t, j, 3)
	assert.Equal(t, engine.ReasonInvalid, j[0].Decision.Reason)
	assert.Equal(t, "mucem", j[0].Venue)
	assert.Empty(t, j[0].Pass)
	assert.Equal(t, "04E30001", j[1].Card, "card UIDs are journaled in upper case")
	assert.Equal(t, p.ID, j[1].Pass)
	assert.Equal(t, "cp24-child", j[1].Product)
	assert.Equal(t, "child", j[1].Category)
	assert.Equal(t, "paris", j[1].TariffVersion)
	assert.Equal(t, engine.FlagActivated|engine.FlagAttention, j[1].Decision.Flags)
	assert.Equal(t, engine.Exit, j[2].Direction)
	for i, rec := range j {
		assert.Equal(t, uint64(i+1), rec.JournalSeq)
	}
}

func TestResultJSON(t *testing.T) {
	v, _ := newValidator(t)
	ctx := context.Background()
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E40001", At: paris(t, "2026-11-27T08:00")})
	require.NoError(t, err)
	r, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "cli", Seq: 17}, Card: "04E40001", Gate: "mucem/g1",
		At: paris(t, "2026-11-27T10:00").UTC()})
	require.NoError(t, err)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"decision":"accept","reason":"OK","flags":["ACTIVATED"],"pass":"`+p.ID+`","product":"cp24-adult",
		"valid_until":"2026-11-28T10:00:00+01:00","device":"cli","seq":17,"duplicate":false,
		"message":"Welcome. Valid until 28/11 10:00.","retry_at":null}`, string(b))
	r, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "cli", Seq: 18}, Card: "04999999", Gate: "mucem/g1",
		At: paris(t, "2026-11-27T10:00")})
	require.NoError(t, err)
	b, err = json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"decision":"deny","reason":"INVALID","flags":[],"pass":"","product":"","valid_until":null,
		"device":"cli","seq":18,"duplicate":false,"message":"Card not recognised.","retry_at":null}`, string(b))

	// A PASSBACK denial says when the visitor may enter again.
	_, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "cli", Seq: 19}, Card: "04E40001", Gate: "rtm-metro/a",
		At: paris(t, "2026-11-27T11:00")})
	require.NoError(t, err)
	r, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "cli", Seq: 20}, Card: "04E40001", Gate: "rtm-metro/a",
		At: paris(t, "2026-11-27T11:05")})
	require.NoError(t, err)
	require.Equal(t, engine.ReasonPassback, r.Decision.Reason)
	b, err = json.Marshal(r)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Contains(t, got["message"], "min")
	assert.NotNil(t, got["retry_at"])
	retry, err := time.Parse(time.RFC3339, got["retry_at"].(string))
	require.NoError(t, err)
	assert.True(t, retry.After(paris(t, "2026-11-27T11:05")), "retry_at %v", retry)
}

func TestMessage(t *testing.T) {
	loc := fixtureTariff("paris").Location
	until := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		d    engine.Decision
		dir  engine.Direction
		want string
	}{
		{engine.Decision{Accept: true, ValidUntil: until}, engine.Entry, "Welcome. Valid until 28/11 10:00."},
		{engine.Decision{Accept: true, ValidUntil: until, Flags: engine.FlagAttention | engine.FlagWarnExpiring}, engine.Entry,
			"Welcome. Staff check: child pass. Less than 1 hour left. Valid until 28/11 10:00."},
		{engine.Decision{Accept: true}, engine.Entry, "Welcome."},
		{engine.Decision{Accept: true, ValidUntil: until}, engine.Exit, "Goodbye."},
		{engine.Decision{Reason: engine.ReasonExpired}, engine.Entry, "Pass expired."},
		{engine.Decision{Reason: engine.ReasonAlreadyRedeemed}, engine.Entry, "Already used here."},
		{engine.Decision{Reason: engine.ReasonError}, engine.Entry, "Gate error. Please see staff."},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, engine.Message(tt.d, tt.dir, loc))
	}
}

// TestMessageIn: every decision has a text in each language, French as a
// French visitor reads it, and a PASSBACK denial says how long to wait.
func TestMessageIn(t *testing.T) {
	loc := fixtureTariff("paris").Location
	until := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 27, 9, 0, 30, 0, time.UTC)
	tests := []struct {
		name   string
		d      engine.Decision
		dir    engine.Direction
		wait   time.Duration
		en, fr string
	}{
		{"welcome", engine.Decision{Accept: true, ValidUntil: until}, engine.Entry, 0,
			"Welcome. Valid until 28/11 10:00.", "Bienvenue. Valable jusqu'au 28/11 à 10h00."},
		{"child expiring", engine.Decision{Accept: true, ValidUntil: until, Flags: engine.FlagAttention | engine.FlagWarnExpiring}, engine.Entry, 0,
			"Welcome. Staff check: child pass. Less than 1 hour left. Valid until 28/11 10:00.",
			"Bienvenue. Contrôle : pass enfant. Moins d'une heure restante. Valable jusqu'au 28/11 à 10h00."},
		{"exit", engine.Decision{Accept: true}, engine.Exit, 0, "Goodbye.", "Au revoir."},
		{"passback wait", engine.Decision{Reason: engine.ReasonPassback}, engine.Entry, engine.PassbackWait(at.Add(11*time.Minute+10*time.Second), at),
			"Just used here. Please wait 12 min.", "Pass déjà utilisé ici. Veuillez patienter 12 min."},
		{"passback, wait unknown", engine.Decision{Reason: engine.ReasonPassback}, engine.Entry, 0,
			"Just used here. Please wait.", "Pass déjà utilisé ici. Veuillez patienter."},
		{"blocked", engine.Decision{Reason: engine.ReasonBlocked}, engine.Entry, 0,
			"Card blocked. Please see staff.", "Carte bloquée. Veuillez vous adresser au personnel."},
		{"expired", engine.Decision{Reason: engine.ReasonExpired}, engine.Entry, 0, "Pass expired.", "Pass expiré."},
		{"stale", engine.Decision{Reason: engine.ReasonStale}, engine.Entry, 0,
			"Offline too long. Please see staff.", "Hors ligne depuis trop longtemps. Veuillez vous adresser au personnel."},
		// A stale accept is an accept: the flag is for the journal and
		// the hooks, the visitor just walks in.
		{"stale accept", engine.Decision{Accept: true, ValidUntil: until, Flags: engine.FlagStale}, engine.Entry, 0,
			"Welcome. Valid until 28/11 10:00.", "Bienvenue. Valable jusqu'au 28/11 à 10h00."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.en, engine.MessageIn(engine.English, tt.d, tt.dir, tt.wait, loc))
			assert.Equal(t, tt.fr, engine.MessageIn(engine.French, tt.d, tt.dir, tt.wait, loc))
		})
	}
	gateError := engine.Message(engine.Decision{Reason: engine.ReasonError}, engine.Entry, loc)
	for r := engine.ReasonInvalid; r <= engine.ReasonStale; r++ {
		d := engine.Decision{Reason: r}
		require.NotContains(t, r.String(), "REASON_", "every reason up to the last has a name")
		assert.NotEqual(t, engine.MessageIn(engine.English, d, engine.Entry, 0, loc),
			engine.MessageIn(engine.French, d, engine.Entry, 0, loc), "reason %s has no French text", r)
		if r != engine.ReasonError {
			assert.NotEqual(t, gateError, engine.Message(d, engine.Entry, loc), "reason %s has no text of its own", r)
		}
	}
	assert.Equal(t, "REASON_13", engine.Reason(13).String(), "ReasonStale is the last reason")
}

// TestPassbackWait: the wait is rounded up to whole minutes, zero once over
// or unknown.
func TestPassbackWait(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 5, 0, 0, time.UTC)
	retry := at.Add(13 * time.Minute)
	assert.Equal(t, 13*time.Minute, engine.PassbackWait(retry, at))
	assert.Equal(t, time.Minute, engine.PassbackWait(retry, at.Add(12*time.Minute+59*time.Second)))
	assert.Zero(t, engine.PassbackWait(retry, at.Add(13*time.Minute)))
	assert.Zero(t, engine.PassbackWait(time.Time{}, at))
}

// TestTariffVersions: a sale uses the version in force at its instant and
// the pass keeps it after a newer version is loaded.
func TestTariffVersions(t *testing.T) {
	old := fixtureTariff("paris")
	v, _ := newValidator(t, old)
	ctx := context.Background()
	p1, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E50001", At: paris(t, "2026-12-30T08:00")})
	require.NoError(t, err)

	next := loadFixture("paris")
	next.ID = "paris-2027"
	next.EffectiveFrom = time.Date(2027, 1, 1, 0, 0, 0, 0, next.Location)
	for i := range next.Products {
		if next.Products[i].ID == "cp24-adult" {
			next.Products[i].Duration = 25 * time.Hour
		}
	}
	cat, err := tariff.NewCatalog(old, next)
	require.NoError(t, err)
	v.SetCatalog(cat)
	p2, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E50002", At: paris(t, "2027-01-01T08:00")})
	require.NoError(t, err)
	assert.Equal(t, "paris", p1.TariffVersion)
	assert.Equal(t, "paris-2027", p2.TariffVersion)
	r1, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04E50001", Gate: "mucem/g1", At: paris(t, "2027-01-01T10:00")})
	require.NoError(t, err)
	r2, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "d", Seq: 2}, Card: "04E50002", Gate: "mucem/g1", At: paris(t, "2027-01-01T10:00")})
	require.NoError(t, err)
	assert.Equal(t, paris(t, "2027-01-02T10:00"), r1.Decision.ValidUntil, "the 2026 pass keeps 24 h")
	assert.Equal(t, paris(t, "2027-01-02T11:00"), r2.Decision.ValidUntil, "the 2027 pass has 25 h")
}

func TestShowPassJSON(t *testing.T) {
	v, _ := newValidator(t)
	ctx := context.Background()
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E60001", At: paris(t, "2026-11-27T08:00"), Channel: "web"})
	require.NoError(t, err)
	_, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04E60001", Gate: "mucem/g1", At: paris(t, "2026-11-27T10:00")})
	require.NoError(t, err)
	view, err := v.ShowPass(ctx, p.ID)
	require.NoError(t, err)
	b, err := json.Marshal(view)
	require.NoError(t, err)
	assert.JSONEq(t, `{"pass":"`+p.ID+`","card":"04E60001","cards":["04E60001"],"product":"cp24-adult","category":"adult",
		"tariff_version":"paris","status":"expired","live":false,"blocked":false,"price":"32.00","currency":"EUR",
		"channel":"web","sold_at":"2026-11-27T08:00:00+01:00","activated_at":"2026-11-27T10:00:00+01:00",
		"valid_until":"2026-11-28T10:00:00+01:00","activate_by":"2027-11-27T08:00:00+01:00","entries":1,
		"usage":[{"venue":"mucem","entries":1,"days":{"2026-11-27":1},"last_entry":"2026-11-27T10:00:00+01:00"}]}`, string(b))
	_, err = v.ShowPass(ctx, "P-NOPE")
	assert.ErrorIs(t, err, engine.ErrUnknownPass)
	_, err = v.ShowCard(ctx, "04E69999")
	assert.ErrorIs(t, err, engine.ErrUnknownCard)
}

// BenchmarkValidate measures the loop around Decide on the in-memory store:
// duplicate check, card and pass resolution, decision, journal write. It
// measures a steady state: the taps go round validatePasses active passes
// and each pass takes at most validateEntries entries before a fresh store
// with fresh passes replaces them (timer stopped), so a tap always finds a
// pass with 1 to validateEntries+1 entries and a journal of bounded size,
// whatever b.N is. (One pass taking every tap would grow its usage by an
// entry an iteration, and the time per tap with it.)
func BenchmarkValidate(b *testing.B) {
	const (
		validatePasses  = 1024
		validateEntries = 8
	)
	cat, err := tariff.NewCatalog(fixtureTariff("paris"))
	require.NoError(b, err)
	ctx := context.Background()
	sold := time.Date(2026, 11, 23, 8, 0, 0, 0, cat.Versions()[0].Location)
	cards := make([]string, validatePasses)
	for i := range cards {
		cards[i] = fmt.Sprintf("04B0%06X", i)
	}
	tap := func(seq uint64, card string, at time.Time) engine.Tap {
		return engine.Tap{ID: engine.TapID{Device: "bench", Seq: seq}, Card: card, Gate: "chateau-if/quai", At: at}
	}
	// fresh returns a validator whose passes are sold and activated (one
	// entry each).
	fresh := func() *engine.Validator {
		v, err := engine.New(memstore.New(nil), cat, &engine.Options{Rand: newSeededRand(3)})
		require.NoError(b, err)
		for i, c := range cards {
			_, err := v.Sell(ctx, engine.SellRequest{Product: "multi", Card: c, At: sold})
			require.NoError(b, err)
			r, err := v.Validate(ctx, tap(uint64(i+1), c, sold.Add(time.Hour)))
			require.NoError(b, err)
			require.True(b, r.Decision.Accept, r.Decision.Reason)
		}
		return v
	}
	v := fresh()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		i := n % (validatePasses * validateEntries)
		if i == 0 && n > 0 {
			b.StopTimer()
			v = fresh()
			b.StartTimer()
		}
		n++
		round := i / validatePasses // entries the pass took in this store so far, less its first
		at := sold.Add(2*time.Hour + time.Duration(round)*time.Minute + time.Duration(i%validatePasses)*time.Millisecond)
		r, err := v.Validate(ctx, tap(uint64(validatePasses+i+1), cards[i%validatePasses], at))
		if err != nil || !r.Decision.Accept {
			b.Fatal(err, r.Decision.Reason)
		}
	}
}

func TestValidateBadInput(t *testing.T) {
	v, st := newValidator(t)
	_, err := v.Validate(context.Background(), engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04AA0001", Gate: "mucem/g1"})
	assert.ErrorIs(t, err, engine.ErrBadRequest)
	_, err = v.Validate(context.Background(), engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04AA0001", Gate: "louvre/g1", At: paris(t, "2026-11-23T10:00")})
	var unknown *tariff.ErrUnknownGate
	assert.ErrorAs(t, err, &unknown)
	assert.Empty(t, st.Journal())
}

// TestPassbackDenialSaysHowLongToWait: a hard passback denial carries the
// end of its window, and the gate's message counts the minutes to it.
func TestPassbackDenialSaysHowLongToWait(t *testing.T) {
	v, _ := newValidator(t, fixtureTariff("paris"))
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A60001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "t", Seq: 1}, Card: "04A60001", Gate: "rtm-metro/a", At: paris(t, "2026-11-23T10:00")})
	require.NoError(t, err)
	require.True(t, res.Decision.Accept)
	res, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "t", Seq: 2}, Card: "04A60001", Gate: "rtm-metro/b", At: paris(t, "2026-11-23T10:10").Add(30 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, engine.ReasonPassback, res.Decision.Reason)
	assert.True(t, res.RetryAt.Equal(paris(t, "2026-11-23T10:18")), "retry at %s", res.RetryAt)
	assert.Equal(t, "Just used here. Please wait 8 min.", res.Message)
}

// TestValidateStateAsOf: the Validator decides with its state_as_of source
// (Options.StateAsOf, replaced by SetStateAsOf), in Validate and in Replay;
// a source that fails is an ERROR (the gate stays shut), journaling
// nothing; without a source nothing is stale.
func TestValidateStateAsOf(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "offline-deny", Card: "04C10001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	tap := func(seq uint64, at string) engine.Tap {
		return engine.Tap{ID: engine.TapID{Device: "g", Seq: seq}, Card: "04C10001", Gate: "rtm-metro/a", At: paris(t, at)}
	}

	r, err := v.Validate(ctx, tap(1, "2026-11-23T10:00"))
	require.NoError(t, err)
	assert.True(t, r.Decision.Accept, "no source: never stale")

	asOf := paris(t, "2026-11-23T11:00")
	v.SetStateAsOf(func() (time.Time, error) { return asOf, nil })
	r, err = v.Validate(ctx, tap(2, "2026-11-23T11:31"))
	require.NoError(t, err)
	assert.Equal(t, engine.ReasonStale, r.Decision.Reason)
	assert.Equal(t, "Offline too long. Please see staff.", r.Message)
	res, err := v.Replay(ctx, []engine.Tap{tap(3, "2026-11-23T11:30"), tap(4, "2026-11-23T11:50")})
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.True(t, res[0].Decision.Accept, "exactly 30 min")
	assert.Equal(t, engine.ReasonStale, res[1].Decision.Reason)

	broken := errors.New("disk on fire")
	v.SetStateAsOf(func() (time.Time, error) { return time.Time{}, broken })
	before := len(st.Journal())
	r, err = v.Validate(ctx, tap(5, "2026-11-23T11:49"))
	require.ErrorIs(t, err, broken)
	assert.Equal(t, engine.ReasonError, r.Decision.Reason)
	assert.False(t, r.Decision.Accept)
	_, err = v.Replay(ctx, []engine.Tap{tap(5, "2026-11-23T11:49")})
	require.ErrorIs(t, err, broken)
	assert.Len(t, st.Journal(), before, "nothing journaled")

	v.SetStateAsOf(nil)
	r, err = v.Validate(ctx, tap(5, "2026-11-23T11:49"))
	require.NoError(t, err)
	assert.True(t, r.Decision.Accept, "standalone again")
}
