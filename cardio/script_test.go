package cardio

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// script is a scripted fake Transmitter: each step names the exact command
// expected (hex, spaces ignored) and the response or error to give.
type script struct {
	t     testing.TB
	steps []step
	i     int
}

type step struct {
	cmd, resp string
	err       error
}

func newScript(t testing.TB, steps ...step) *script { return &script{t: t, steps: steps} }

func (s *script) Transmit(cmd []byte) ([]byte, error) {
	s.t.Helper()
	if s.i >= len(s.steps) {
		s.t.Fatalf("unexpected command % X after the script ended", cmd)
		return nil, nil
	}
	st := s.steps[s.i]
	s.i++
	want := unhex(s.t, strings.ReplaceAll(st.cmd, " ", ""))
	if !bytes.Equal(cmd, want) {
		s.t.Fatalf("step %d: command\n got % X\nwant % X", s.i, cmd, want)
	}
	if st.err != nil {
		return nil, st.err
	}
	return unhex(s.t, strings.ReplaceAll(st.resp, " ", "")), nil
}

// done fails the test unless every step ran.
func (s *script) done() {
	s.t.Helper()
	if s.i != len(s.steps) {
		s.t.Fatalf("script stopped after %d of %d steps", s.i, len(s.steps))
	}
}

func hexs(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
