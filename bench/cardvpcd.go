package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/pcsc/pcscd"
	"github.com/citypass/citypass/cardio/virtual"
)

const (
	vpcdName      = "CityPass Bench PCD"
	vpcdReadyWait = 15 * time.Second
)

// vpcdAvailable says why the vpcd transport cannot be measured here, or "".
func vpcdAvailable() string {
	if err := pcscd.Available(); err != nil {
		return "not measured over vpcd: " + err.Error()
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
	// A private pcscd with one vpcd reader (pcscd.Start: private mount
	// namespace and socket, stopped by PID when the child returns).
	d, err := pcscd.Start(ctx, pcscd.Options{FriendlyName: vpcdName, Dir: a.dir, ReadyTimeout: vpcdReadyWait})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer d.Close()
	reader := d.Reader(0)

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
	var rep cardReport
	for _, c := range []struct {
		card    presentable
		counter bool
		out     *float64
	}{{ntag, true, &rep.NTAG424us}, {desfire, false, &rep.DESFireus}} {
		in, err := d.Insert(ctx, 0, c.card, nil)
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
