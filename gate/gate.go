package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/engine"
)

// Config configures a Gate. Gate, Read and Validate are required; every
// other field has a documented default.
type Config struct {
	// Gate is "VENUE/GATE" as in the tariff.
	Gate string
	// Device names this gate in tap ids (engine.TapID.Device). Default:
	// Gate.
	Device string
	// Direction of every tap at this gate. Default engine.Entry.
	Direction engine.Direction
	// Read reads the credential of a presented card, e.g.
	// (&cardio.Reader{Keys: keys}).Read. atr is the card's ATR.
	Read func(ctx context.Context, t cardio.Transmitter, atr []byte) (cardio.Credential, error)
	// Validate decides and journals a tap: (*engine.Validator).Validate.
	Validate func(ctx context.Context, tap engine.Tap) (engine.Result, error)
	// NextSeq returns the device's next tap sequence number, strictly
	// rising across restarts; the caller chooses how it is persisted.
	// Default: ClockSeq(Now), which needs no storage as long as the clock
	// does not go back.
	NextSeq func() (uint64, error)
	// Now stamps taps. Default time.Now.
	Now func() time.Time
	// ReadTimeout bounds one credential read. Default 2 s.
	ReadTimeout time.Duration
	// DecideTimeout bounds one Validate call. Default 5 s.
	DecideTimeout time.Duration
	// OnAccept and OnDeny are shell commands (sh -c) run after an accept,
	// respectively a deny or unreadable card, with the decision in CITYPASS_*
	// environment variables (see HookEnv). Empty: no hook.
	OnAccept, OnDeny string
	// HookTimeout bounds a hook's run time; on expiry its process group is
	// killed, and so is what the hook leaves running when its shell ends.
	// Default 2 s.
	HookTimeout time.Duration
	// OnOutcome, when set, receives every outcome (the command prints one
	// line per decision). It runs on the gate's goroutine.
	OnOutcome func(Outcome)
	// Metrics, when set, counts taps and latencies (NewMetrics).
	Metrics *Metrics
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Language of the messages the gate shows (engine.Language). Default
	// empty: the engine's message, in the tariff's gate language.
	Language engine.Language
}

// OutcomeKind classifies what happened to one presentation.
type OutcomeKind uint8

// Outcome kinds.
const (
	// OutcomeDecided: the engine decided (accept or deny) and journaled the
	// tap, or answered a duplicate.
	OutcomeDecided OutcomeKind = iota + 1
	// OutcomeTapAgain: the card left the field (or the read timed out)
	// before it proved anything; nothing journaled, no hook.
	OutcomeTapAgain
	// OutcomeUnreadable: the card is not one the gate can accept (no
	// cryptographic proof, unknown medium) or the reader failed; nothing
	// journaled, the deny hook runs.
	OutcomeUnreadable
	// OutcomeError: the tap could not be decided (no sequence number, store
	// failure); the gate stays shut and the deny hook runs.
	OutcomeError
)

var outcomeNames = [...]string{"", "decided", "tap_again", "unreadable", "error"}

func (k OutcomeKind) String() string {
	if int(k) < len(outcomeNames) && k != 0 {
		return outcomeNames[k]
	}
	return fmt.Sprintf("outcome(%d)", uint8(k))
}

// Presentation is one card on a reader.
type Presentation struct {
	Reader string
	ATR    []byte
	// Card is the card to read. If it is an io.Closer (a *pcsc.Card is),
	// Handle closes it as soon as the read is over.
	Card cardio.Transmitter
}

// Outcome is the result of one presentation.
type Outcome struct {
	Kind      OutcomeKind
	Gate      string // Config.Gate
	Direction engine.Direction
	Reader    string
	// Credential is what the card proved; for a proof failure, the UID from
	// the *cardio.ProofError.
	Credential cardio.Credential
	// Tap is the tap submitted to Validate (zero for TapAgain and
	// Unreadable).
	Tap engine.Tap
	// Result is the engine's answer (Decided; Error when Validate failed).
	Result engine.Result
	// Err is the read or decision failure (nil when Decided).
	Err error
	// ReadTime and DecideTime are the card-read and Validate latencies.
	ReadTime, DecideTime time.Duration
	// Message is what the gate shows.
	Message string
}

// Accept reports whether the gate opens.
func (o *Outcome) Accept() bool { return o.Kind == OutcomeDecided && o.Result.Decision.Accept }

// DecisionName is "accept", "deny" or "tap_again".
func (o *Outcome) DecisionName() string {
	switch {
	case o.Kind == OutcomeTapAgain:
		return "tap_again"
	case o.Accept():
		return "accept"
	}
	return "deny"
}

// ReasonName is the engine's reason code for decided taps ("OK",
// "INVALID", …), "ERROR" for OutcomeError, "UNREADABLE" and "CARD_GONE" for
// the outcomes that journal nothing.
func (o *Outcome) ReasonName() string {
	switch o.Kind {
	case OutcomeDecided:
		return o.Result.Decision.Reason.String()
	case OutcomeTapAgain:
		return "CARD_GONE"
	case OutcomeUnreadable:
		return "UNREADABLE"
	}
	return engine.ReasonError.String()
}

// lang is the language of the gate's own messages: Config.Language, else
// English (a decided tap's message comes from the engine, in the tariff's).
func (g *Gate) lang() engine.Language {
	if g.cfg.Language != "" {
		return g.cfg.Language
	}
	return engine.English
}

// Gate runs the tap loop of one gate. Handle and Run are meant for one
// goroutine; Gate holds no other state than its configuration.
type Gate struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg, fills its defaults and returns a Gate.
func New(cfg Config) (*Gate, error) {
	c := cfg
	switch {
	case c.Gate == "":
		return nil, errors.New("gate: Gate (VENUE/GATE) is required")
	case c.Read == nil:
		return nil, errors.New("gate: Read is required")
	case c.Validate == nil:
		return nil, errors.New("gate: Validate is required")
	case c.ReadTimeout < 0 || c.DecideTimeout < 0 || c.HookTimeout < 0:
		return nil, errors.New("gate: negative timeout")
	}
	if c.Device == "" {
		c.Device = c.Gate
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NextSeq == nil {
		c.NextSeq = ClockSeq(c.Now)
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 2 * time.Second
	}
	if c.DecideTimeout == 0 {
		c.DecideTimeout = 5 * time.Second
	}
	if c.HookTimeout == 0 {
		c.HookTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{cfg: c, log: c.Logger.With("gate", c.Gate, "device", c.Device)}, nil
}

// ClockSeq returns a NextSeq that needs no storage: the current time in
// microseconds since 1970, or the previous value + 1 when the clock has not
// moved on. It rises across restarts unless the clock goes back.
func ClockSeq(now func() time.Time) func() (uint64, error) {
	var (
		mu   sync.Mutex
		last uint64
	)
	return func() (uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		v := uint64(max(now().UnixMicro(), 0))
		if v <= last {
			v = last + 1
		}
		last = v
		return v, nil
	}
}

// Run handles the reader events until ctx ends or the channel closes. It
// returns nil then: a gate stops cleanly on SIGTERM.
func (g *Gate) Run(ctx context.Context, events <-chan Event) error {
	m := g.cfg.Metrics
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			reader := ev.Presentation.Reader
			switch ev.Kind {
			case CardPresent:
				g.Handle(ctx, ev.Presentation)
			case ServiceUp:
				g.log.Info("pcscd available")
				m.setUp(true)
			case ServiceDown:
				g.log.Warn("pcscd unavailable; retrying", "err", ev.Err)
				m.setUp(false)
			case ReaderAdded:
				g.log.Info("reader added", "reader", reader)
				m.addReaders(1)
			case ReaderRemoved:
				g.log.Warn("reader removed", "reader", reader)
				m.addReaders(-1)
			case CardRemoved:
				g.log.Debug("card removed", "reader", reader)
			}
		}
	}
}

// Handle reads one presented card, decides its tap, runs the hook and
// reports the outcome. A decision that has started is finished even if ctx
// is cancelled meanwhile (the journal write must complete); the read is not.
func (g *Gate) Handle(ctx context.Context, p Presentation) Outcome {
	o := g.handle(ctx, p)
	g.cfg.Metrics.observe(&o)
	attrs := []any{"reader", o.Reader, "outcome", o.Kind.String(), "decision", o.DecisionName(),
		"reason", o.ReasonName(), "card", o.Credential.UID, "read_ms", ms(o.ReadTime)}
	if o.Tap.ID.Device != "" {
		attrs = append(attrs, "tap", o.Tap.ID.String(), "decide_ms", ms(o.DecideTime))
	}
	if o.Result.Decision.Pass != "" {
		attrs = append(attrs, "pass", o.Result.Decision.Pass)
	}
	if o.Err != nil {
		attrs = append(attrs, "err", o.Err)
	}
	switch o.Kind {
	case OutcomeDecided, OutcomeTapAgain:
		g.log.Info("tap", attrs...)
	default:
		g.log.Warn("tap", attrs...)
	}
	if g.cfg.OnOutcome != nil {
		g.cfg.OnOutcome(o)
	}
	return o
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (g *Gate) handle(ctx context.Context, p Presentation) Outcome {
	o := Outcome{Gate: g.cfg.Gate, Direction: g.cfg.Direction, Reader: p.Reader}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, g.cfg.ReadTimeout)
	cred, err := g.cfg.Read(rctx, p.Card, p.ATR)
	cancel()
	if c, ok := p.Card.(io.Closer); ok {
		if cerr := c.Close(); cerr != nil {
			g.log.Warn("closing card", "reader", p.Reader, "err", cerr)
		}
	}
	o.ReadTime = time.Since(start)
	o.Credential = cred

	proofFailed := false
	if err != nil {
		var pe *cardio.ProofError
		switch {
		case errors.Is(err, cardio.ErrCardRemoved) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, context.Canceled):
			o.Kind, o.Err, o.Message = OutcomeTapAgain, err, engine.TapAgainMessage(g.lang())
			return o
		case errors.As(err, &pe) && pe.UID != "":
			// The card answered but is not authentic: journal INVALID.
			proofFailed = true
			o.Credential = cardio.Credential{UID: pe.UID, Medium: pe.Medium}
			o.Err = err
		default:
			o.Kind, o.Err, o.Message = OutcomeUnreadable, err, engine.UnreadableMessage(g.lang())
			g.hook(&o)
			return o
		}
	}

	seq, err := g.cfg.NextSeq()
	if err != nil {
		o.Kind, o.Err = OutcomeError, fmt.Errorf("gate: next tap sequence: %w", err)
		o.Result = engine.Result{Decision: engine.Decision{Reason: engine.ReasonError}}
		o.Message = engine.MessageIn(g.lang(), o.Result.Decision, g.cfg.Direction, 0, nil)
		g.hook(&o)
		return o
	}
	o.Tap = engine.Tap{
		ID:          engine.TapID{Device: g.cfg.Device, Seq: seq},
		Card:        o.Credential.UID,
		Gate:        g.cfg.Gate,
		Direction:   g.cfg.Direction,
		At:          g.cfg.Now(),
		Counter:     o.Credential.Counter,
		HasCounter:  o.Credential.HasCounter && !proofFailed,
		ProofFailed: proofFailed,
	}
	// The journal write must finish even when the gate is shutting down.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.DecideTimeout)
	start = time.Now()
	res, err := g.cfg.Validate(dctx, o.Tap)
	o.DecideTime = time.Since(start)
	cancel()
	o.Result, o.Message = res, res.Message
	if err != nil {
		o.Kind, o.Err = OutcomeError, fmt.Errorf("gate: deciding tap %s: %w", o.Tap.ID, err)
		o.Result.Decision = engine.Decision{Reason: engine.ReasonError}
		if o.Message == "" || g.cfg.Language != "" {
			o.Message = engine.MessageIn(g.lang(), o.Result.Decision, g.cfg.Direction, 0, nil)
		}
	} else {
		o.Kind = OutcomeDecided
		if g.cfg.Language != "" {
			// The decision's times are in the tariff's zone already.
			o.Message = engine.MessageIn(g.cfg.Language, res.Decision, g.cfg.Direction, engine.PassbackWait(res.RetryAt, o.Tap.At), nil)
		}
	}
	g.hook(&o)
	return o
}
