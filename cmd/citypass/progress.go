package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress draws a one-line counter on stderr while long work runs, only when
// stderr is a terminal (tools reading stderr get no noise).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	on    bool
	last  time.Time
	shown bool
}

func (a *app) newProgress(label string) *progress {
	p := &progress{w: a.stderr, label: label}
	if f, ok := a.stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

// update shows the number of records scanned, at most ten times a second.
func (p *progress) update(n uint64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		fmt.Fprintf(p.w, "\r%s: %d journal records scanned", p.label, n)
		p.shown = true
	}
}

// done clears the line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
