package demo

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/reconcile"
)

// tally counts the day's outcomes and prints the live line. Safe for
// concurrent use.
type tally struct {
	w   io.Writer
	tty bool

	mu        sync.Mutex
	sales     int
	taps      int
	accepted  int
	denied    map[string]int
	flags     map[string]int
	undecided int
	started   time.Time
	lastTaps  int
	lastAt    time.Time
	printed   bool
}

func newTally(w io.Writer) *tally {
	t := &tally{w: w, denied: map[string]int{}, flags: map[string]int{}}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			t.tty = true
		}
	}
	return t
}

func (t *tally) sale() {
	t.mu.Lock()
	t.sales++
	t.mu.Unlock()
}

func (t *tally) record(o *gate.Outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o.Kind != gate.OutcomeDecided {
		t.undecided++
		return
	}
	t.taps++
	d := o.Result.Decision
	if d.Accept {
		t.accepted++
		for _, f := range d.Flags.Names() {
			t.flags[f]++
		}
		return
	}
	t.denied[d.Reason.String()]++
}

// start prints the tally every tallyInterval until the returned stop is
// called, which prints the final line.
func (t *tally) start() (stop func()) {
	t.started = time.Now()
	t.lastAt = t.started
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(tallyInterval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				t.print(false)
			case <-done:
				t.print(true)
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (t *tally) print(final bool) {
	t.mu.Lock()
	now := time.Now()
	rate := 0.0
	if final {
		if el := now.Sub(t.started).Seconds(); el > 0 {
			rate = float64(t.taps) / el
		}
	} else if el := now.Sub(t.lastAt).Seconds(); el > 0 {
		rate = float64(t.taps-t.lastTaps) / el
	}
	t.lastTaps, t.lastAt = t.taps, now
	line := fmt.Sprintf("%s sold %s  taps %s  accepted %s  denied %s%s  %s taps/s",
		map[bool]string{true: "day done:", false: "day:"}[final],
		reconcile.Thousands(t.sales), reconcile.Thousands(t.taps), reconcile.Thousands(t.accepted), reconcile.Thousands(t.taps-t.accepted),
		reasons(t.denied), reconcile.Thousands(int(rate+0.5)))
	t.mu.Unlock()
	switch {
	case t.tty && final:
		fmt.Fprintf(t.w, "\r%s\x1b[K\n", line)
	case t.tty:
		fmt.Fprintf(t.w, "\r%s\x1b[K", line)
	default:
		fmt.Fprintln(t.w, line)
	}
}

// reasons formats denials by reason, most frequent first: " (PASSBACK 12, …)".
func reasons(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return " (" + reconcile.Counts(m) + ")"
}

func (t *tally) fill(s *Summary) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Taps, s.Accepted, s.Denied, s.Undecided = t.taps, t.accepted, t.taps-t.accepted, t.undecided
	for k, v := range t.denied {
		s.DeniedBy[k] = v
	}
	for k, v := range t.flags {
		s.Flags[k] = v
	}
}
