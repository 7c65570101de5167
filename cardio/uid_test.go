package cardio

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// TestHexUIDIsCanonical: the UID text cardio reads from a card is already in
// the spelling engine.NormalizeUID gives, so a card read at a gate and the
// same card typed at the sales desk are one card.
func TestHexUIDIsCanonical(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := engine.MinUIDBytes; n <= engine.MaxUIDBytes; n++ {
		for range 100 {
			uid := make([]byte, n)
			for i := range uid {
				uid[i] = byte(rng.Uint32())
			}
			got, err := engine.NormalizeUID(hexUID(uid))
			require.NoError(t, err)
			require.Equal(t, hexUID(uid), got)
		}
	}
}
