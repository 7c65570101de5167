package netproxy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// FlapSchedule draws the intervals between the toggles of a flapping link,
// uniformly in [min, max], from one random source: the same source state
// gives the same sequence. It is not safe for concurrent use.
type FlapSchedule struct {
	rng      *rand.Rand
	min, max time.Duration
}

// NewFlapSchedule returns a schedule drawing from rng in [min, max] (both > 0,
// min ≤ max).
func NewFlapSchedule(rng *rand.Rand, min, max time.Duration) (*FlapSchedule, error) {
	if rng == nil {
		return nil, errors.New("netproxy: a flap schedule needs a random source")
	}
	if min <= 0 || max < min {
		return nil, fmt.Errorf("netproxy: flap interval %v..%v is not a positive range", min, max)
	}
	return &FlapSchedule{rng: rng, min: min, max: max}, nil
}

// Next is the time until the next toggle.
func (s *FlapSchedule) Next() time.Duration {
	return s.min + time.Duration(s.rng.Int64N(int64(s.max-s.min)+1))
}
