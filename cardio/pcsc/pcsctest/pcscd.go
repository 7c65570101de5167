package pcsctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/vpcd"
)

// Where Debian's packages (pcscd, vsmartcard-vpcd) install the daemon and
// the driver.
var (
	PcscdPath  = "/usr/sbin/pcscd"
	DriverPath = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
)

// FriendlyName is the name of the private vpcd entry. pcscd names its two
// slots FriendlyName+" 00 00" and FriendlyName+" 00 01".
const FriendlyName = "CityPass Test PCD"

// Bounds of the harness's waits.
const (
	readyTimeout = 15 * time.Second
	stopGrace    = 3 * time.Second
)

// Daemon is a pcscd started by Start. Its methods are for the test's
// goroutine.
type Daemon struct {
	// Port is the vpcd port of slot 0; slot 1 listens on Port+1.
	Port int

	tb      testing.TB
	confDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	unlock  func()
	starts  int
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

// Require checks that pcscd, the vpcd driver and root are there (see Skip).
func Require(tb testing.TB) {
	tb.Helper()
	for _, p := range []string{PcscdPath, DriverPath} {
		if _, err := os.Stat(p); err != nil {
			Skip(tb, "%s not found", p)
		}
	}
	if os.Geteuid() != 0 {
		Skip(tb, "pcscd needs root (it owns /run/pcscd)")
	}
}

// Start runs a private pcscd with one vpcd reader entry and waits until its
// two slots are listed. It is stopped in tb's Cleanup. One Daemon runs at a
// time per test process (they share the private socket path): Start blocks
// until the previous Daemon's test has ended, so never call it twice in one
// test.
func Start(tb testing.TB) *Daemon {
	tb.Helper()
	Require(tb)
	setup(tb)
	dir := tb.TempDir()
	d := &Daemon{tb: tb, confDir: filepath.Join(dir, "reader.conf.d"), logPath: filepath.Join(dir, "pcscd.log")}
	daemonMu.Lock()
	tb.Cleanup(d.cleanup)
	if sockMode == modeShared {
		unlock, err := lockShared()
		if err != nil {
			tb.Fatalf("pcsctest: %v", err)
		}
		d.unlock = unlock
	}
	port, err := freePortPair()
	if err != nil {
		tb.Fatalf("pcsctest: %v", err)
	}
	d.Port = port
	if err := os.MkdirAll(d.confDir, 0o755); err != nil {
		tb.Fatalf("pcsctest: %v", err)
	}
	conf := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n",
		FriendlyName, port, DriverPath, port)
	if err := os.WriteFile(filepath.Join(d.confDir, "vpcd"), []byte(conf), 0o644); err != nil {
		tb.Fatalf("pcsctest: %v", err)
	}
	d.start()
	return d
}

// Reader returns the PC/SC name of a slot (0 or 1).
func (d *Daemon) Reader(slot int) string { return fmt.Sprintf("%s 00 %02X", FriendlyName, slot) }

// Addr returns the vpcd address a card connects to for a slot (0 or 1).
func (d *Daemon) Addr(slot int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port+slot))
}

// Insert puts card on a slot through vpcd; it is removed in Cleanup.
func (d *Daemon) Insert(slot int, card vpcd.Card, opts *vpcd.Options) *vpcd.Insertion {
	d.tb.Helper()
	in, err := vpcd.Insert(context.Background(), d.Addr(slot), card, opts)
	if err != nil {
		d.tb.Fatalf("pcsctest: inserting card: %v", err)
	}
	d.tb.Cleanup(func() { _ = in.Close() })
	return in
}

// PID is the running daemon's process id, or 0.
func (d *Daemon) PID() int {
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Log returns what pcscd wrote so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

func (d *Daemon) start() {
	d.tb.Helper()
	log, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.tb.Fatalf("pcsctest: %v", err)
	}
	defer log.Close()
	var cmd *exec.Cmd
	switch sockMode {
	case modePrivate:
		if err := os.MkdirAll(sockDir, 0o755); err != nil {
			d.tb.Fatalf("pcsctest: %v", err)
		}
		// A pid file left by a killed daemon would make pcscd refuse to
		// start.
		os.Remove(filepath.Join(sockDir, "pcscd.pid"))
		os.Remove(filepath.Join(sockDir, "pcscd.comm"))
		// unshare(1) without --fork execs, and so does sh: the PID is
		// pcscd's own.
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "--",
			"/bin/sh", "-c", `mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec "$2" -f -c "$3"`,
			"sh", sockDir, PcscdPath, d.confDir)
	default:
		cmd = exec.Command(PcscdPath, "-f", "-c", d.confDir)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Kill pcscd if the test binary dies before its Cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.tb.Fatalf("pcsctest: starting pcscd: %v", err)
	}
	d.cmd = cmd
	d.exited = make(chan struct{})
	go func(exited chan struct{}) {
		err := cmd.Wait()
		d.waitErr = err
		close(exited)
	}(d.exited)
	d.starts++

	want := []string{d.Reader(0), d.Reader(1)}
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		select {
		case <-d.exited:
			d.tb.Fatalf("pcsctest: pcscd exited at start (%v); log:\n%s", d.waitErr, d.Log())
		default:
		}
		names, err := pcsc.ListReaders()
		last = err
		if err == nil && containsAll(names, want) {
			return
		}
		if time.Now().After(deadline) {
			d.tb.Fatalf("pcsctest: readers %q not listed after %v (last: %v, %q); log:\n%s",
				want, readyTimeout, last, names, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// Stop stops pcscd by PID: SIGTERM, then SIGKILL after a grace period. Cards
// inserted through vpcd see their connection closed.
func (d *Daemon) Stop() {
	d.tb.Helper()
	if err := d.stop(); err != nil {
		d.tb.Errorf("pcsctest: %v", err)
	}
}

func (d *Daemon) stop() error {
	if d.cmd == nil {
		return nil
	}
	defer func() { d.cmd = nil }()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM to pcscd %d: %w", d.cmd.Process.Pid, err)
	}
	select {
	case <-d.exited:
		return nil
	case <-time.After(stopGrace):
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL to pcscd %d: %w", d.cmd.Process.Pid, err)
	}
	<-d.exited
	return fmt.Errorf("pcscd %d ignored SIGTERM for %v and was killed", d.cmd.Process.Pid, stopGrace)
}

// Restart stops pcscd and starts it again with the same configuration and
// ports.
func (d *Daemon) Restart() {
	d.tb.Helper()
	d.Stop()
	d.start()
}

func (d *Daemon) cleanup() {
	err := d.stop()
	if err != nil {
		d.tb.Errorf("pcsctest: %v", err)
	}
	if d.tb.Failed() {
		d.tb.Logf("pcscd log (%d start(s)):\n%s", d.starts, tail(d.Log(), 8000))
	}
	if sockMode == modePrivate {
		os.RemoveAll(sockDir)
	}
	if d.unlock != nil {
		d.unlock()
	}
	daemonMu.Unlock()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// freePortPair finds a port p such that p and p+1 are free on all
// interfaces (vpcd binds 0.0.0.0). Another process may still take them
// before pcscd does; the readiness wait would then fail loudly.
func freePortPair() (int, error) {
	for range 50 {
		l0, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			return 0, err
		}
		p := l0.Addr().(*net.TCPAddr).Port
		if p >= 0xFFFF {
			l0.Close()
			continue
		}
		l1, err := net.Listen("tcp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(p+1)))
		l0.Close()
		if err != nil {
			continue
		}
		l1.Close()
		return p, nil
	}
	return 0, errors.New("no free pair of TCP ports")
}

// How this process reaches its pcscd.
const (
	modePrivate = iota + 1 // private mount namespace, PCSCLITE_CSOCK_NAME
	modeShared             // the system socket, under an flock
)

var (
	daemonMu  sync.Mutex // one Daemon at a time per process
	setupOnce sync.Once
	sockMode  int
	sockDir   string
)

// setup picks the socket mode once per process, before any PC/SC call:
// libpcsclite reads PCSCLITE_CSOCK_NAME once.
func setup(tb testing.TB) {
	setupOnce.Do(func() {
		if os.Getenv("CITYPASS_PCSCTEST_SHARED") == "1" {
			// Forces the fallback, to test it where unshare works.
			sockMode = modeShared
			return
		}
		if err := exec.Command("unshare", "--mount", "--propagation", "private", "--", "true").Run(); err != nil {
			sockMode = modeShared
			return
		}
		sockMode = modePrivate
		sockDir = filepath.Join(os.TempDir(), fmt.Sprintf("citypass-pcscd-%d", os.Getpid()))
		if cur, ok := os.LookupEnv("PCSCLITE_CSOCK_NAME"); ok && cur != filepath.Join(sockDir, "pcscd.comm") {
			// Someone chose a socket already; follow them.
			sockMode = modeShared
			return
		}
		os.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(sockDir, "pcscd.comm"))
	})
	if sockMode == modePrivate {
		tb.Logf("pcsctest: private pcscd socket %s", filepath.Join(sockDir, "pcscd.comm"))
	}
}

// lockShared serializes the use of the system pcscd socket between test
// processes and checks that no other pcscd holds it.
func lockShared() (func(), error) {
	path := filepath.Join(os.TempDir(), "citypass-pcscd.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	unlock := func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	if pid, err := os.ReadFile("/run/pcscd/pcscd.pid"); err == nil {
		n, _ := strconv.Atoi(string(bytes.TrimSpace(pid)))
		if n > 0 && syscall.Kill(n, 0) == nil {
			unlock()
			return nil, fmt.Errorf("another pcscd (pid %d) owns /run/pcscd and unshare is not allowed here; stop it first", n)
		}
	}
	return unlock, nil
}
