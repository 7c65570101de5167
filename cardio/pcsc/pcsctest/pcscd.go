package pcsctest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/citypass/citypass/cardio/pcsc/pcscd"
	"github.com/citypass/citypass/cardio/vpcd"
)

// FriendlyName is the name of the harness's vpcd entry. pcscd names its two
// slots FriendlyName+" 00 00" and FriendlyName+" 00 01".
const FriendlyName = "CityPass Test PCD"

// Daemon is a private pcscd (cardio/pcsc/pcscd) bound to a test: its
// failures end the test. Its methods are for the test's goroutine.
type Daemon struct {
	*pcscd.Daemon
	// Port is the vpcd port of slot 0; slot 1 listens on Port+1.
	Port int

	tb testing.TB
}

// Skip fails tb when the environment variable CI is "true" and skips it
// otherwise: the end-to-end tests must run on CI.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("pcsctest: %s (CI=true: the pcscd end-to-end tests must run)", msg)
	}
	tb.Skipf("pcsctest: %s; install pcscd and vsmartcard-vpcd and run as root (CI=true turns this skip into a failure)", msg)
}

// Require checks that a private pcscd can run here (pcscd.Available); if
// not, it skips tb, or fails it on CI (see Skip).
func Require(tb testing.TB) {
	tb.Helper()
	if err := pcscd.Available(); err != nil {
		Skip(tb, "%v", err)
	}
}

// Start runs a private pcscd with one vpcd reader entry (two slots) and
// waits until both are listed. It is closed in tb's Cleanup, which logs the
// end of pcscd's log when the test failed. One Daemon runs at a time per
// test process: Start blocks until the previous Daemon's test has ended, so
// never call it twice in one test.
func Start(tb testing.TB) *Daemon {
	tb.Helper()
	Require(tb)
	d, err := pcscd.Start(context.Background(), pcscd.Options{FriendlyName: FriendlyName, Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("pcsctest: %v", err)
	}
	tb.Logf("pcsctest: pcscd %d on socket %s", d.PID(), pcscd.SocketPath())
	td := &Daemon{Daemon: d, Port: d.Port(0), tb: tb}
	tb.Cleanup(td.cleanup)
	return td
}

// Insert puts card on a slot through vpcd; it is removed in Cleanup.
func (d *Daemon) Insert(slot int, card vpcd.Card, opts *vpcd.Options) *vpcd.Insertion {
	d.tb.Helper()
	in, err := d.Daemon.Insert(context.Background(), slot, card, opts)
	if err != nil {
		d.tb.Fatalf("pcsctest: %v", err)
	}
	d.tb.Cleanup(func() { _ = in.Close() })
	return in
}

// Stop stops pcscd by PID: SIGTERM, then SIGKILL after a grace period (an
// error of the test). Cards inserted through vpcd see their connection
// closed; Restart brings pcscd back.
func (d *Daemon) Stop() {
	d.tb.Helper()
	if err := d.Daemon.Stop(); err != nil {
		d.tb.Errorf("pcsctest: %v", err)
	}
}

// Restart stops pcscd and starts it again with the same configuration and
// ports.
func (d *Daemon) Restart() {
	d.tb.Helper()
	if err := d.Daemon.Restart(context.Background()); err != nil {
		d.tb.Fatalf("pcsctest: %v", err)
	}
}

func (d *Daemon) cleanup() {
	if err := d.Daemon.Stop(); err != nil {
		d.tb.Errorf("pcsctest: %v", err)
	}
	if d.tb.Failed() {
		d.tb.Logf("pcscd log (%d start(s)):\n%s", d.Starts(), tail(d.Log(), 8000))
	}
	if err := d.Close(); err != nil {
		d.tb.Errorf("pcsctest: %v", err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
