package pcsctest_test

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
)

func TestStartRestartStop(t *testing.T) {
	d := pcsctest.Start(t)
	pid := d.PID()
	require.Positive(t, pid)
	names, err := pcsc.ListReaders()
	require.NoError(t, err)
	assert.Contains(t, names, d.Reader(0))
	assert.Contains(t, names, d.Reader(1))
	assert.Equal(t, d.Port+1, portOf(t, d.Addr(1)))

	d.Restart()
	require.NotEqual(t, pid, d.PID())
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the first pcscd was stopped by PID")
	pid = d.PID()

	d.Stop()
	assert.Zero(t, d.PID())
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH)
	_, err = pcsc.ListReaders()
	assert.ErrorIs(t, err, pcsc.ErrServiceDown)
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	var port int
	_, err := fmt.Sscanf(addr, "127.0.0.1:%d", &port)
	require.NoError(t, err, addr)
	return port
}

// recTB records Fatalf and Skipf instead of ending the test.
type recTB struct {
	testing.TB
	fatal, skip string
}

func (r *recTB) Helper() {}
func (r *recTB) Fatalf(f string, a ...any) {
	if r.fatal == "" && r.skip == "" {
		r.fatal = fmt.Sprintf(f, a...)
	}
}
func (r *recTB) Skipf(f string, a ...any) {
	if r.fatal == "" && r.skip == "" {
		r.skip = fmt.Sprintf(f, a...)
	}
}

func TestSkipFailsOnCI(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recTB{TB: t}
	pcsctest.Skip(r, "pcscd missing")
	assert.Contains(t, r.fatal, "pcscd missing")
	assert.Empty(t, r.skip)

	t.Setenv("CI", "")
	r = &recTB{TB: t}
	pcsctest.Skip(r, "pcscd missing")
	assert.Contains(t, r.skip, "pcscd missing")
	assert.Empty(t, r.fatal)
}
