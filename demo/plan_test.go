package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlan(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	day := time.Date(2026, 5, 31, 0, 0, 0, 0, paris)
	p := newPlan(3, 500, day, 10)
	q := newPlan(3, 500, day, 10)
	require.Equal(t, len(p.events), len(q.events), "same seed, same plan")

	sold := map[*card]time.Time{}
	kinds := map[evKind]int{}
	uids := map[string]bool{}
	for _, c := range p.cards {
		assert.False(t, uids[c.uid], "every card has its own UID: %s", c.uid)
		uids[c.uid] = true
	}
	for i, e := range p.events {
		kinds[e.kind]++
		assert.Equal(t, e.at, q.events[i].at)
		assert.Equal(t, e.kind, q.events[i].kind)
		if i > 0 {
			assert.False(t, e.at.Before(p.events[i-1].at), "events in time order")
		}
		switch e.kind {
		case evSale:
			sold[e.card] = e.at
		case evTap:
			// The service day runs to 04:30: every tap belongs to the demo day.
			assert.True(t, e.at.After(day.Add(8*time.Hour)) && e.at.Before(day.Add(28*time.Hour+30*time.Minute)), "tap at %s", e.at)
			assert.Equal(t, e.card.medium == "clone", e.card.ofClone != nil)
		case evReplace:
			assert.NotNil(t, e.newCard)
		}
	}
	assert.Equal(t, 500, kinds[evSale])
	assert.Equal(t, 500, len(p.visitors))
	assert.Greater(t, kinds[evTap], 2000, "several taps per pass")
}
