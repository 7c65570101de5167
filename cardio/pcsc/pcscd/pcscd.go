package pcscd

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

// DefaultFriendlyName names the vpcd entries when Options.FriendlyName is
// empty.
const DefaultFriendlyName = "CityPass PCD"

// Slots is the number of slots of the daemon's one vpcd entry. (Debian's
// vpcd driver 0.8 keeps its slots in one static array, so a second entry in
// the same pcscd takes over the first one's slots: one entry per daemon.)
const Slots = 2

// ErrUnavailable is wrapped by the errors of Available (and of Start when it
// cannot run here).
var ErrUnavailable = errors.New("pcscd: a private pcscd with vpcd cannot run here")

// Options configure Start. The zero value is usable.
type Options struct {
	// FriendlyName is the name of the vpcd entry. pcscd names its slots
	// FriendlyName+" 00 00" and FriendlyName+" 00 01" (see Reader); a
	// pcsc.Monitor watching FriendlyName watches both. Default
	// DefaultFriendlyName.
	FriendlyName string
	// Dir receives reader.conf.d and pcscd.log. Default: a new temporary
	// directory, removed by Close.
	Dir string
	// ReadyTimeout bounds the wait for pcscd to list every slot at each
	// (re)start. Default 15 s.
	ReadyTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL.
	// Default 3 s.
	StopGrace time.Duration
}

// Daemon is a pcscd started by Start. Stop, Restart and Close are for one
// goroutine at a time; the other methods are safe for concurrent use.
type Daemon struct {
	opts    Options
	dir     string
	ownDir  bool // dir is ours to remove
	confDir string
	logPath string
	port    int // vpcd port of slot 0; slot 1 listens on port+1

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	starts  int
	unlock  func()
	closed  bool
}

// Available reports why a private pcscd with vpcd cannot run here, as an
// error wrapping ErrUnavailable, or nil.
func Available() error {
	for _, p := range []struct{ path, pkg string }{{PcscdPath, "pcscd"}, {DriverPath, "vsmartcard-vpcd"}} {
		if _, err := os.Stat(p.path); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install --no-install-recommends %s)", ErrUnavailable, p.path, p.pkg)
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (euid %d): pcscd owns /run/pcscd and the private mount namespace needs root", ErrUnavailable, os.Geteuid())
	}
	if mode, why := sockMode(); mode == modeShared {
		if pid := systemPcscd(); pid > 0 {
			return fmt.Errorf("%w: %s, and pcscd pid %d already owns /run/pcscd", ErrUnavailable, why, pid)
		}
	}
	return nil
}

// Start runs a private pcscd (see the package documentation) and waits until
// all its slots are listed. ctx bounds the wait for a previous Daemon of
// this process to be closed and the start itself; pcscd keeps running after
// ctx ends, until Stop or Close.
func Start(ctx context.Context, opts Options) (*Daemon, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	o := opts
	if o.FriendlyName == "" {
		o.FriendlyName = DefaultFriendlyName
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 15 * time.Second
	}
	if o.StopGrace == 0 {
		o.StopGrace = 3 * time.Second
	}
	if o.ReadyTimeout < 0 || o.StopGrace < 0 {
		return nil, errors.New("pcscd: negative timeout")
	}
	mode, _ := sockMode()
	if mode == modePrivate {
		if err := setPrivateSocket(); err != nil {
			return nil, err
		}
	}
	select {
	case daemonSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("pcscd: waiting for this process's previous pcscd to be closed: %w", ctx.Err())
	}
	d := &Daemon{opts: o, dir: o.Dir}
	ok := false
	defer func() {
		if !ok {
			d.release()
		}
	}()
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "citypass-pcscd-")
		if err != nil {
			return nil, fmt.Errorf("pcscd: %w", err)
		}
		d.dir, d.ownDir = dir, true
	}
	d.confDir, d.logPath = filepath.Join(d.dir, "reader.conf.d"), filepath.Join(d.dir, "pcscd.log")
	if mode == modeShared {
		unlock, err := lockShared()
		if err != nil {
			return nil, err
		}
		d.unlock = unlock
	}
	if err := os.MkdirAll(d.confDir, 0o755); err != nil {
		return nil, fmt.Errorf("pcscd: %w", err)
	}
	// The ports are free when chosen, but another process may take one
	// before vpcd binds it: its slot is then never listed, and pcscd starts
	// again on another pair.
	for attempt := 1; ; attempt++ {
		port, err := pickPortPair()
		if err != nil {
			return nil, err
		}
		d.port = port
		conf := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n",
			o.FriendlyName, port, DriverPath, port)
		if err := os.WriteFile(filepath.Join(d.confDir, "vpcd"), []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("pcscd: %w", err)
		}
		err = d.start(ctx)
		if err == nil {
			break
		}
		if !errors.As(err, new(notListedError)) || attempt == startAttempts || ctx.Err() != nil {
			return nil, err
		}
	}
	ok = true
	return d, nil
}

// startAttempts bounds Start's tries on fresh ports.
const startAttempts = 3

// pickPortPair chooses the vpcd ports of a start; a variable for tests.
var pickPortPair = freePortPair

// notListedError reports a pcscd that ran but did not list every slot in
// time.
type notListedError struct{ error }

// Reader returns the PC/SC name of a slot (0 or 1).
func (d *Daemon) Reader(slot int) string {
	return fmt.Sprintf("%s 00 %02X", d.opts.FriendlyName, slot)
}

// Port returns the vpcd TCP port of a slot (0 or 1).
func (d *Daemon) Port(slot int) int { return d.port + slot }

// Addr returns the vpcd address a card connects to for a slot.
func (d *Daemon) Addr(slot int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port(slot)))
}

// Insert puts card on a slot through vpcd (cardio/vpcd.Insert): pcscd sees
// it at its next poll. The card stays until the Insertion is closed or ctx
// ends.
func (d *Daemon) Insert(ctx context.Context, slot int, card vpcd.Card, opts *vpcd.Options) (*vpcd.Insertion, error) {
	if slot < 0 || slot >= Slots {
		return nil, fmt.Errorf("pcscd: slot %d: want 0 to %d", slot, Slots-1)
	}
	in, err := vpcd.Insert(ctx, d.Addr(slot), card, opts)
	if err != nil {
		return nil, fmt.Errorf("pcscd: inserting a card on %q: %w", d.Reader(slot), err)
	}
	return in, nil
}

// PID is the running daemon's process id, or 0.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Starts counts the daemon's starts: 1, plus one per Restart.
func (d *Daemon) Starts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.starts
}

// Dir is the directory holding reader.conf.d and pcscd.log.
func (d *Daemon) Dir() string { return d.dir }

// Log returns what pcscd wrote so far (all its runs).
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// start runs pcscd and waits until every slot is listed.
func (d *Daemon) start(ctx context.Context) error {
	log, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pcscd: %w", err)
	}
	defer log.Close()
	var cmd *exec.Cmd
	if mode, _ := sockMode(); mode == modePrivate {
		if err := os.MkdirAll(sockDir(), 0o755); err != nil {
			return fmt.Errorf("pcscd: %w", err)
		}
		// A pid file left by a killed daemon would make pcscd refuse to
		// start.
		os.Remove(filepath.Join(sockDir(), "pcscd.pid"))
		os.Remove(filepath.Join(sockDir(), "pcscd.comm"))
		// unshare(1) without --fork execs, and so does sh: the PID is
		// pcscd's own.
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "--",
			"/bin/sh", "-c", `mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec "$2" -f -c "$3"`,
			"sh", sockDir(), PcscdPath, d.confDir)
	} else {
		cmd = exec.Command(PcscdPath, "-f", "-c", d.confDir)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Kill pcscd if this process dies before stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pcscd: starting %s: %w", PcscdPath, err)
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.exited = cmd, exited
	d.starts++
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.waitErr = err
		d.mu.Unlock()
		close(exited)
	}()

	want := make([]string, Slots)
	for i := range want {
		want[i] = d.Reader(i)
	}
	deadline := time.Now().Add(d.opts.ReadyTimeout)
	for {
		select {
		case <-exited:
			d.mu.Lock()
			werr := d.waitErr
			d.cmd = nil
			d.mu.Unlock()
			return fmt.Errorf("pcscd: exited at start (%v); log:\n%s", werr, tail(d.Log(), 4000))
		default:
		}
		names, err := pcsc.ListReaders()
		if err == nil && containsAll(names, want) {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			why := fmt.Sprintf("after %v", d.opts.ReadyTimeout)
			if ctx.Err() != nil {
				why = ctx.Err().Error()
			}
			serr := d.Stop()
			return errors.Join(notListedError{fmt.Errorf("pcscd: readers %q not listed (%s; last: %v, %q); log:\n%s",
				want, why, err, names, tail(d.Log(), 4000))}, serr)
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

// Stop stops pcscd by PID: SIGTERM, then SIGKILL after Options.StopGrace
// (reported as an error). Cards inserted through vpcd see their connection
// closed. Restart starts it again; Stop on a stopped daemon does nothing.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	defer func() {
		d.mu.Lock()
		d.cmd = nil
		d.mu.Unlock()
	}()
	pid := cmd.Process.Pid
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pcscd: SIGTERM to pcscd %d: %w", pid, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(d.opts.StopGrace):
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pcscd: SIGKILL to pcscd %d: %w", pid, err)
	}
	<-exited
	return fmt.Errorf("pcscd: pcscd %d ignored SIGTERM for %v and was killed", pid, d.opts.StopGrace)
}

// Restart stops pcscd (if running) and starts it again with the same
// configuration and ports, waiting until its slots are listed.
func (d *Daemon) Restart(ctx context.Context) error {
	if d.closed {
		return errors.New("pcscd: Restart after Close")
	}
	if err := d.Stop(); err != nil {
		return err
	}
	return d.start(ctx)
}

// Close stops pcscd for good, removes the directory Start created and lets
// the next Start of this process go ahead. Later calls do nothing.
func (d *Daemon) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.Stop()
	d.release()
	return err
}

func (d *Daemon) release() {
	if mode, _ := sockMode(); mode == modePrivate {
		os.RemoveAll(sockDir())
	}
	if d.ownDir && d.dir != "" {
		os.RemoveAll(d.dir)
	}
	if d.unlock != nil {
		d.unlock()
		d.unlock = nil
	}
	<-daemonSlot
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// freePortPair finds a port p such that p and p+1 are free on all
// interfaces (vpcd binds 0.0.0.0). Another process may still take them
// before pcscd does; Start then tries another pair.
func freePortPair() (int, error) {
	for range 50 {
		l0, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			return 0, fmt.Errorf("pcscd: %w", err)
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
	return 0, errors.New("pcscd: no free pair of TCP ports")
}

// How this process reaches its pcscd.
const (
	modePrivate = iota + 1 // private mount namespace, PCSCLITE_CSOCK_NAME
	modeShared             // the system socket, under an flock
)

// daemonSlot holds one token while a Daemon of this process is open.
var daemonSlot = make(chan struct{}, 1)

// sockMode picks, once per process, how pcscd's socket is kept private, and
// says why when it is not.
var sockMode = sync.OnceValues(func() (int, string) {
	if os.Getenv("CITYPASS_PCSCTEST_SHARED") == "1" {
		// Forces the fallback, to test it where unshare works.
		return modeShared, "CITYPASS_PCSCTEST_SHARED=1 forces the system socket"
	}
	if out, err := exec.Command("unshare", "--mount", "--propagation", "private", "--", "true").CombinedOutput(); err != nil {
		return modeShared, fmt.Sprintf("unshare --mount refused (%v: %s)", err, bytes.TrimSpace(out))
	}
	if cur, ok := os.LookupEnv("PCSCLITE_CSOCK_NAME"); ok && cur != filepath.Join(sockDir(), "pcscd.comm") {
		// Someone chose a socket already; follow them.
		return modeShared, "PCSCLITE_CSOCK_NAME is set to " + cur
	}
	return modePrivate, ""
})

// sockDir is this process's private /run/pcscd.
func sockDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("citypass-pcscd-%d", os.Getpid()))
}

// SocketPath is the pcscd socket this process's PC/SC calls go to once a
// Daemon has started.
func SocketPath() string {
	if mode, _ := sockMode(); mode == modePrivate {
		return filepath.Join(sockDir(), "pcscd.comm")
	}
	return "/run/pcscd/pcscd.comm"
}

// setPrivateSocket points libpcsclite at the private socket, before this
// process's first PC/SC call.
var setPrivateSocket = sync.OnceValue(func() error {
	if err := os.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(sockDir(), "pcscd.comm")); err != nil {
		return fmt.Errorf("pcscd: %w", err)
	}
	return nil
})

// systemPcscd returns the pid of a live pcscd owning /run/pcscd, or 0.
func systemPcscd() int {
	b, err := os.ReadFile("/run/pcscd/pcscd.pid")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
	if n > 0 && syscall.Kill(n, 0) == nil {
		return n
	}
	return 0
}

// lockShared serializes the use of the system pcscd socket between
// processes and checks that no other pcscd holds it.
func lockShared() (func(), error) {
	path := filepath.Join(os.TempDir(), "citypass-pcscd.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pcscd: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("pcscd: locking %s: %w", path, err)
	}
	unlock := func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	if pid := systemPcscd(); pid > 0 {
		unlock()
		return nil, fmt.Errorf("%w: another pcscd (pid %d) owns /run/pcscd and unshare is not allowed here; stop it first", ErrUnavailable, pid)
	}
	return unlock, nil
}
