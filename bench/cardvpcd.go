package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/virtual"
	"github.com/citypass/citypass/cardio/vpcd"
)

// Where Debian's pcscd and vsmartcard-vpcd packages install the daemon and
// the vpcd driver.
const (
	pcscdPath     = "/usr/sbin/pcscd"
	vpcdDriver    = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	vpcdName      = "CityPass Bench PCD"
	vpcdReadyWait = 15 * time.Second
)

// vpcdAvailable says why the vpcd transport cannot be measured here, or "".
// The child starts its own pcscd in a private mount namespace (so that it
// neither needs nor disturbs the system's), which takes pcscd, the vpcd
// driver and a working unshare(1).
func vpcdAvailable() string {
	for _, p := range []string{pcscdPath, vpcdDriver} {
		if _, err := os.Stat(p); err != nil {
			return "not measured over vpcd: " + p + " missing (apt-get install pcscd vsmartcard-vpcd)"
		}
	}
	if err := exec.Command("unshare", "--mount", "--propagation", "private", "--", "true").Run(); err != nil {
		return "not measured over vpcd: unshare --mount fails here (a private pcscd needs it): " + err.Error()
	}
	return ""
}

// cardReport is what the card-vpcd child prints.
type cardReport struct {
	NTAG424us float64 `json:"ntag424_us"`
	DESFireus float64 `json:"desfire_us"`
}

// childCardVpcd starts a private pcscd with one vpcd reader, inserts the
// virtual NTAG 424 and then the DESFire card through vpcd (TCP), and times
// cardio.Reader.Read over PC/SC (pcsc.Card → pcscd → vpcd → the Go card):
// a.taps reads of each, median per kind.
func childCardVpcd(ctx context.Context, a childArgs, stdout io.Writer) error {
	sockDir := filepath.Join(a.dir, "sock")
	confDir := filepath.Join(a.dir, "reader.conf.d")
	for _, d := range []string{sockDir, confDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// Read by libpcsclite when this process first talks to pcscd.
	if err := os.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(sockDir, "pcscd.comm")); err != nil {
		return err
	}
	port, err := freePortPair()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n", vpcdName, port, vpcdDriver, port)
	if err := os.WriteFile(filepath.Join(confDir, "vpcd"), []byte(conf), 0o644); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(a.dir, "pcscd.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", `mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec "$2" -f -c "$3"`,
		"sh", sockDir, pcscdPath, confDir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bench: starting pcscd: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	reader := vpcdName + " 00 00"
	deadline := time.Now().Add(vpcdReadyWait)
	for {
		names, err := pcsc.ListReaders()
		if err == nil && slices.Contains(names, reader) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(a.dir, "pcscd.log"))
			return fmt.Errorf("bench: pcscd reader %q not listed after %v (%v): %s", reader, vpcdReadyWait, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	keys, err := cardio.GenerateKeys(randReader("card"))
	if err != nil {
		return err
	}
	uid := [7]byte{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x61}
	ntag, err := virtual.NewPersonalizedNTAG424(ctx, uid, keys, "")
	if err != nil {
		return err
	}
	uid[1] = 0x12
	desfire, err := virtual.NewDESFire(uid, keys, 0)
	if err != nil {
		return err
	}
	r := &cardio.Reader{Keys: keys}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var rep cardReport
	for _, c := range []struct {
		card    presentable
		counter bool
		out     *float64
	}{{ntag, true, &rep.NTAG424us}, {desfire, false, &rep.DESFireus}} {
		in, err := vpcd.Insert(ctx, addr, c.card, nil)
		if err != nil {
			return fmt.Errorf("bench: inserting card through vpcd: %w", err)
		}
		pc, err := openWhenReadable(ctx, r, reader)
		if err != nil {
			_ = in.Close()
			return fmt.Errorf("bench: waiting for the vpcd card: %w", err)
		}
		*c.out, err = timeReads(ctx, r, &pcscPresented{pc, c.card}, a.taps, c.counter)
		_ = pc.Close()
		_ = in.Close()
		if err != nil {
			return fmt.Errorf("bench: reading over vpcd: %w", err)
		}
	}
	return json.NewEncoder(stdout).Encode(rep)
}

// pcscPresented reads through PC/SC. The card stays on the reader between
// reads (no reset through vpcd): every read still detects, selects and
// authenticates from scratch.
type pcscPresented struct {
	*pcsc.Card
	card presentable
}

func (p *pcscPresented) Reset() {}

func freePortPair() (int, error) {
	for range 50 {
		l0, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l0.Addr().(*net.TCPAddr).Port
		l1, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		l0.Close()
		if err != nil {
			continue
		}
		l1.Close()
		return p, nil
	}
	return 0, errors.New("bench: no free pair of TCP ports")
}

// runCardVpcd runs the card-vpcd child once per run and returns the medians.
func runCardVpcd(env Env, reads int) (ntagUs, desUs float64, err error) {
	var ns, ds []float64
	for run := 0; run < env.runs(); run++ {
		dir := filepath.Join(env.Dir, "vpcd"+strconv.Itoa(run))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, 0, err
		}
		c, err := startChild(env, roleCardVpcd, "--dir", dir, "--taps", strconv.Itoa(reads))
		if err != nil {
			return 0, 0, err
		}
		var rep cardReport
		if err := c.waitJSON(&rep); err != nil {
			return 0, 0, err
		}
		ns, ds = append(ns, rep.NTAG424us), append(ds, rep.DESFireus)
		env.logf("card run %d: over pcscd+vpcd: NTAG 424 SUN %.0f µs, DESFire EV2 %.0f µs (median of %d reads)", run+1, rep.NTAG424us, rep.DESFireus, reads)
	}
	return Median(ns), Median(ds), nil
}

// openWhenReadable connects to the card on reader once pcscd has it powered
// and one (untimed) read succeeds: right after insertion pcscd may still
// report the card removed.
func openWhenReadable(ctx context.Context, r *cardio.Reader, reader string) (*pcsc.Card, error) {
	deadline := time.Now().Add(vpcdReadyWait)
	for {
		pc, err := pcsc.OpenCard(reader)
		if err == nil {
			if _, err = r.Read(ctx, pc, pc.ATR()); err == nil {
				return pc, nil
			}
			_ = pc.Close()
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
