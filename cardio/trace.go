package cardio

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Commands whose data (and whose answers) carry key material or
// authentication secrets: the data is masked in traces.
//
//	71/77 AuthenticateEV2First/NonFirst: E(RndB), E(RndA‖RndB'), E(TI‖RndA'…)
//	AF    continuation of an authentication
//	C4    ChangeKey (new key, encrypted)
//	0A/1A/AA legacy authentications
func sensitiveINS(ins byte) bool {
	switch ins {
	case 0x71, 0x77, 0xC4, 0x0A, 0x1A, 0xAA:
		return true
	}
	return false
}

// MaskCommand renders a command APDU for a trace. The data field of
// key-bearing native commands (authentication, ChangeKey) is replaced by its
// length; everything else is shown in hex. chainINS is the INS that started
// the current native exchange (for 90 AF continuations); pass 0 when unknown,
// which masks every continuation.
func MaskCommand(cmd []byte, chainINS byte) string {
	if len(cmd) < 5 || cmd[0] != 0x90 {
		return hexSpaced(cmd)
	}
	ins := cmd[1]
	mask := sensitiveINS(ins) || (ins == 0xAF && (chainINS == 0 || sensitiveINS(chainINS)))
	if !mask {
		return hexSpaced(cmd)
	}
	return hexSpaced(cmd[:5]) + " [" + strconv.Itoa(len(cmd)-5) + " bytes masked]"
}

// MaskResponse renders a response APDU for a trace; the data of answers to
// key-bearing commands is replaced by its length.
func MaskResponse(resp []byte, ins, chainINS byte) string {
	if len(resp) <= 2 {
		return hexSpaced(resp)
	}
	if sensitiveINS(ins) || (ins == 0xAF && (chainINS == 0 || sensitiveINS(chainINS))) {
		return "[" + strconv.Itoa(len(resp)-2) + " bytes masked] " + hexSpaced(resp[len(resp)-2:])
	}
	return hexSpaced(resp)
}

// Tracer wraps a Transmitter and logs every exchange at debug level with
// key material masked (see MaskCommand). It is safe for concurrent use
// if the wrapped Transmitter is.
type Tracer struct {
	T      Transmitter
	Logger *slog.Logger
	// Now is the clock for the duration attribute (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	chain byte
}

// Trace returns a Tracer over t logging to l.
func Trace(t Transmitter, l *slog.Logger) *Tracer { return &Tracer{T: t, Logger: l} }

// Transmit implements Transmitter.
func (tr *Tracer) Transmit(cmd []byte) ([]byte, error) {
	now := tr.Now
	if now == nil {
		now = time.Now
	}
	var ins byte
	if len(cmd) >= 2 {
		ins = cmd[1]
	}
	tr.mu.Lock()
	if len(cmd) >= 2 && cmd[0] == 0x90 && ins != 0xAF {
		tr.chain = ins // a new native exchange; AF continues the previous one
	}
	chain := tr.chain
	tr.mu.Unlock()
	start := now()
	resp, err := tr.T.Transmit(cmd)
	attrs := []slog.Attr{
		slog.String("cmd", MaskCommand(cmd, chain)),
		slog.Duration("took", now().Sub(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	} else {
		attrs = append(attrs, slog.String("resp", MaskResponse(resp, ins, chain)))
	}
	if tr.Logger != nil {
		tr.Logger.LogAttrs(context.Background(), slog.LevelDebug, "apdu", attrs...)
	}
	return resp, err
}

func hexSpaced(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.Grow(3 * len(b))
	for i, x := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strings.ToUpper(hex.EncodeToString([]byte{x})))
	}
	return sb.String()
}

var _ Transmitter = (*Tracer)(nil)
