package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/virtual"
)

// CardConfig configures workload 7 (card reads).
type CardConfig struct {
	Quick bool
	// Reads per card kind per run; default 2000, 200 when Quick.
	Reads int
}

func (c CardConfig) reads() int {
	switch {
	case c.Reads > 0:
		return c.Reads
	case c.Quick:
		return 200
	}
	return 2000
}

// presentable is a virtual card the reader can be shown again.
type presentable interface {
	cardio.Transmitter
	ATR() []byte
	Reset()
}

// RunCard times cardio.Reader.Read — medium detection, then the NTAG 424
// SUN read and MAC check, or the DESFire EV2 mutual authentication, MACed
// pass-file read and encrypted GetCardUID — against the in-process virtual
// cards (cardio/virtual), the card reset (re-presented) between reads, and
// returns the median read time per kind (median over runs of each run's
// median).
func RunCard(ctx context.Context, env Env, cfg CardConfig) (*CardResult, error) {
	keys, err := cardio.GenerateKeys(randReader("card"))
	if err != nil {
		return nil, err
	}
	uid := [7]byte{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60}
	ntag, err := virtual.NewPersonalizedNTAG424(ctx, uid, keys, "")
	if err != nil {
		return nil, err
	}
	uid[1] = 0x11
	desfire, err := virtual.NewDESFire(uid, keys, 0)
	if err != nil {
		return nil, err
	}
	reader := &cardio.Reader{Keys: keys}
	var ntagUs, desUs []float64
	for run := 0; run < env.runs(); run++ {
		n, err := timeReads(ctx, reader, ntag, cfg.reads(), true)
		if err != nil {
			return nil, fmt.Errorf("bench: NTAG 424 read: %w", err)
		}
		d, err := timeReads(ctx, reader, desfire, cfg.reads(), false)
		if err != nil {
			return nil, fmt.Errorf("bench: DESFire read: %w", err)
		}
		ntagUs, desUs = append(ntagUs, n), append(desUs, d)
		env.logf("card run %d: NTAG 424 SUN %.0f µs, DESFire EV2 %.0f µs (median of %d reads, in-process)", run+1, n, d, cfg.reads())
	}
	res := &CardResult{NTAG424us: round(Median(ntagUs), 1), DESFireus: round(Median(desUs), 1)}
	if why := vpcdAvailable(); why != "" {
		res.VpcdNote = why
		return res, nil
	}
	if env.Child == nil {
		res.VpcdNote = "not measured over vpcd: needs a child process (Config.Child)"
		return res, nil
	}
	n, d, err := runCardVpcd(env, min(cfg.reads(), 500))
	if err != nil {
		return nil, err
	}
	res.NTAG424VpcdUs, res.DESFireVpcdUs = round(n, 1), round(d, 1)
	return res, nil
}

// randReader is a deterministic random source named by seed.
func randReader(seed string) *rand.ChaCha8 {
	var s [32]byte
	copy(s[:], seed)
	return rand.NewChaCha8(s)
}

// timeReads reads the card n times and returns the median read time in µs.
// Every read must authenticate; NTAG reads must carry a rising counter.
func timeReads(ctx context.Context, r *cardio.Reader, c presentable, n int, counter bool) (float64, error) {
	lat := NewLatencies(n)
	var last uint32
	for i := 0; i < n; i++ {
		c.Reset()
		t := time.Now()
		cred, err := r.Read(ctx, c, c.ATR())
		d := time.Since(t)
		if err != nil {
			return 0, err
		}
		if !cred.Authenticated || (counter && (!cred.HasCounter || cred.Counter <= last)) {
			return 0, fmt.Errorf("read %d: credential %+v not authenticated or counter not rising", i, cred)
		}
		last = cred.Counter
		lat.Add(d)
	}
	return us(lat.P(50)), nil
}
