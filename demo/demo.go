package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/shopspring/decimal"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc/pcscd"
	"github.com/citypass/citypass/cardio/virtual"
	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/internal/atomicfile"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// DefaultPasses is the number of passes sold when Config.Passes is zero.
const DefaultPasses = 2000

// Limits on Config.
const (
	PassesMax     = 100_000
	desfirePct    = 10 // percent of passes sold on DESFire EV2 cards
	gateQueueLen  = 256
	deskQueueLen  = 256
	tallyInterval = time.Second
)

// ErrPCSCUnavailable is wrapped by Run's error for Config.PCSC when a
// private pcscd with vpcd cannot run here; the error says why
// (cardio/pcsc/pcscd.Available).
var ErrPCSCUnavailable = errors.New("demo: --pcsc is not available here")

// Config says how the demo runs. The zero value is a valid demo with seed 0.
type Config struct {
	// Seed draws the day (sales, itineraries, incidents), the card UIDs and
	// every key. The same seed gives the same decisions and byte-identical
	// statements and payout file.
	Seed int64
	// Passes sold through the day. Default DefaultPasses; at most PassesMax.
	Passes int
	// PCSC starts a private pcscd (cardio/pcsc/pcscd) and gives two gates,
	// a museum entry and a bus validator (pcscGates), a turnstile with a
	// real PC/SC reader: about PCSCTapsPerReader of each one's taps are read
	// by inserting the visitor's virtual card through vpcd, exactly as the
	// production gate reads a card (gate over a pcsc.Monitor). The
	// rest is read in-process. Needs pcscd, the vpcd driver and root;
	// otherwise Run fails with ErrPCSCUnavailable.
	PCSC bool
	// Out receives the finance summary. Default: discarded.
	Out io.Writer
	// Progress receives the live tally, about once a second: one line
	// rewritten in place when it is a terminal, plain lines otherwise.
	// Default: discarded.
	Progress io.Writer
	// DataDir is where the data dir is created (it must not exist or be
	// empty). Default: a new temporary directory. The demo never removes it:
	// its statements and payout file are the demo's output.
	DataDir string
}

// Summary is what the demo did, with the figures the finance summary prints.
type Summary struct {
	Seed    int64
	Day     string // the simulated service day
	DataDir string

	// Cards.
	NTAGCards, DESFireCards, ForeignCards int
	Personalize                           time.Duration // personalizing the NTAG 424 cards

	// Sales, from the ledger (reconcile sales report).
	Sales       int
	SalesGross  decimal.Decimal
	SalesVAT    decimal.Decimal
	SalesByProd map[string]int
	Refunds     int
	Blocks      int
	Replaced    int

	// The day's taps, as the gates saw them.
	Gates int // concurrent gate goroutines
	// CommitLatency is the median time of one durable commit alone on this
	// machine, measured before the day (a gate alone could not decide more
	// than 1/CommitLatency taps per second).
	CommitLatency time.Duration
	// WALSyncs counts the fsyncs of the ledger's write-ahead log during the
	// day; Transactions the durable store transactions (taps and desk
	// operations) they made durable. Their ratio is the group commit.
	WALSyncs, Transactions int
	Taps                   int // decided taps (accepted + denied)
	Accepted               int
	Denied                 int
	DeniedBy               map[string]int // reason code → taps
	Flags                  map[string]int // flag → accepted taps carrying it
	Undecided              int            // presentations without a decision (none expected)
	JournalTaps            uint64         // taps in the ledger's journal
	DayTime                time.Duration  // wall time of the day's taps and sales
	TapsPerSec             float64

	// PC/SC (Config.PCSC): the private pcscd, its readers and the gates
	// they serve, the taps read through them and the extra presentations
	// ("tap again") they needed.
	PCSCD                 string
	PCSCReaders           []string
	PCSCTaps, PCSCRetries int

	// Visits by venue, from the ledger (reconcile visits report).
	VisitsByVenue map[string]int
	// Today is the day as `citypass today` summarizes it from the ledger
	// (printed through its WriteText).
	Today *reconcile.DaySummary

	// Statements closed for the day's periods, verified and paid.
	Statements         []reconcile.StatementSummary
	StatementsVerified int
	SigningKey         string // fingerprint of the statement signing key
	Payout             *reconcile.PayoutResult
	TrialBalance       *reconcile.TrialBalance
	LedgerCheck        string    // ledger check summary
	CloseAt            time.Time // when the statements were closed (the next morning)
	CloseTime          time.Duration

	Files []string // every file written, data dir first
}

// Run plays the demo day (see the package documentation) and returns its
// summary, which it also prints to cfg.Out.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.PCSC {
		if err := pcscd.Available(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPCSCUnavailable, err)
		}
	}
	if cfg.Passes == 0 {
		cfg.Passes = DefaultPasses
	}
	if cfg.Passes < 0 || cfg.Passes > PassesMax {
		return nil, fmt.Errorf("demo: passes %d: want 1 to %d", cfg.Passes, PassesMax)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	dir, err := makeDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d := &day{cfg: cfg, dir: dir, sum: &Summary{Seed: cfg.Seed, Day: demoDay, DataDir: dir,
		DeniedBy: map[string]int{}, Flags: map[string]int{}, SalesByProd: map[string]int{}, VisitsByVenue: map[string]int{}}}
	if err := d.run(ctx); err != nil {
		return nil, err
	}
	if err := printSummary(cfg.Out, d.sum); err != nil {
		return nil, err
	}
	return d.sum, nil
}

func makeDataDir(dir string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "citypass-demo-")
		if err != nil {
			return "", fmt.Errorf("demo: creating a temporary data dir: %w", err)
		}
		return d, nil
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("demo: creating data dir %s: %w", dir, err)
		}
	case err != nil:
		return "", fmt.Errorf("demo: data dir %s: %w", dir, err)
	case len(entries) > 0:
		return "", fmt.Errorf("demo: data dir %s is not empty: the demo needs a fresh one", dir)
	}
	return dir, nil
}

// day is one run of the demo.
type day struct {
	cfg Config
	dir string
	sum *Summary

	tariff  *tariff.Tariff
	catalog *tariff.Catalog
	keys    *cardio.Keys
	signer  *reconcile.Signer
	ledger  *ledger.Ledger
	clock   atomic.Int64 // the ledger's clock, UnixNano
	walSync atomic.Int64 // fsyncs of the ledger's write-ahead log
	seq     *sequencer
	v       *engine.Validator
	tally   *tally

	// Config.PCSC: the private pcscd, the taps read through it and their
	// extra presentations.
	pcscd                 *pcscd.Daemon
	pcscTaps, pcscRetries atomic.Int64

	errMu    sync.Mutex
	firstErr error
}

func (d *day) fail(err error) {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	if d.firstErr == nil {
		d.firstErr = err
	}
}

func (d *day) err() error {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return d.firstErr
}

// seedStream returns a deterministic byte stream for one purpose.
func seedStream(seed int64, purpose string) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(uint64(seed) >> (8 * i))
	}
	copy(s[8:], purpose)
	return rand.NewChaCha8(s)
}

func (d *day) run(ctx context.Context) error {
	d.tariff = tariff.SampleTariff()
	dayDate, _ := tariff.ParseDate(demoDay)
	dayStart := d.tariff.DayStart(dayDate)
	d.clock.Store(dayStart.UnixNano())
	if err := d.writeKeys(); err != nil {
		return err
	}
	d.sum.Files = append(d.sum.Files, d.dir, datadir.CardKeysPath(d.dir), datadir.SigningKeyPath(d.dir))

	ldir := datadir.LedgerDir(d.dir)
	l, err := ledger.Open(ldir, &ledger.Options{
		Now: func() time.Time { return time.Unix(0, d.clock.Load()).In(d.tariff.Location) },
		FS:  d.countingFS(),
	})
	if err != nil {
		return fmt.Errorf("demo: opening the ledger: %w", err)
	}
	defer l.Close()
	d.ledger = l
	d.sum.Files = append(d.sum.Files, ldir+string(filepath.Separator))
	cat, err := datadir.AddTariff(ctx, l, d.tariff)
	if err != nil {
		return fmt.Errorf("demo: storing the tariff: %w", err)
	}
	d.catalog = cat

	if err := d.probeCommit(ctx); err != nil {
		return err
	}

	midnight := time.Date(dayDate.Year, dayDate.Month, dayDate.Day, 0, 0, 0, 0, d.tariff.Location)
	p := newPlan(d.cfg.Seed, d.cfg.Passes, midnight, desfirePct)
	if err := d.makeCards(ctx, p); err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.seq = newSequencer(runCtx, l, &d.clock)
	d.v, err = engine.New(d.seq, cat, &engine.Options{
		Rand: seedStream(d.cfg.Seed, "pass ids"),
		Now:  func() time.Time { return time.Unix(0, d.clock.Load()) },
	})
	if err != nil {
		return err
	}
	if err := d.playDay(runCtx, p); err != nil {
		return err
	}
	return d.closeBooks(ctx, dayDate)
}

// writeKeys derives the card master keys and the statement signing key from
// the seed and stores them as `citypass init` does (keys/, mode 0600), so the
// data dir works with every citypass command.
func (d *day) writeKeys() error {
	if err := os.MkdirAll(datadir.KeysDir(d.dir), 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	keys, err := cardio.GenerateKeys(seedStream(d.cfg.Seed, "card keys"))
	if err != nil {
		return err
	}
	if err := cardio.SaveKeys(datadir.CardKeysPath(d.dir), keys); err != nil {
		return err
	}
	d.keys = keys
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(seedStream(d.cfg.Seed, "statement signing key"), seed[:]); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		return fmt.Errorf("demo: encoding the signing key: %w", err)
	}
	path := datadir.SigningKeyPath(d.dir)
	if err := atomicfile.WriteNewFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("demo: writing the signing key: %w", err)
	}
	// Load it back the way `citypass reconcile` will.
	if d.signer, err = reconcile.LoadSigner(datadir.KeysDir(d.dir)); err != nil {
		return err
	}
	d.sum.SigningKey = reconcile.Fingerprint(d.signer.PublicKey())
	return nil
}

// device is a card as a reader holds it.
type device interface {
	cardio.Transmitter
	ATR() []byte
}

func uidBytes(uid string) ([7]byte, error) {
	var b [7]byte
	raw, err := hex.DecodeString(uid)
	if err != nil || len(raw) != 7 {
		return b, fmt.Errorf("demo: bad card uid %q", uid)
	}
	copy(b[:], raw)
	return b, nil
}

// makeCards personalizes every NTAG 424 DNA of the day (each pass has its
// own card and UID) on all cores, and provisions the DESFire cards and the
// foreign cards.
func (d *day) makeCards(ctx context.Context, p *plan) error {
	start := time.Now()
	work := make(chan *card)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for c := range work {
				uid, err := uidBytes(c.uid)
				var dev device
				if err == nil {
					switch c.medium {
					case "ntag424":
						dev, err = virtual.NewPersonalizedNTAG424(ctx, uid, d.keys, "")
					case "desfire":
						dev, err = virtual.NewDESFire(uid, d.keys, 0)
					case "foreign":
						dev, err = virtual.NewWrongKeyNTAG424(ctx, uid, "")
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = firstOf(firstErr, fmt.Errorf("demo: making card %s: %w", c.uid, err))
					mu.Unlock()
					continue
				}
				c.dev = dev
			}
		})
	}
	for _, c := range p.cards {
		switch c.medium {
		case "ntag424":
			d.sum.NTAGCards++
		case "desfire":
			d.sum.DESFireCards++
		case "foreign":
			d.sum.ForeignCards++
		}
		work <- c
	}
	close(work)
	wg.Wait()
	d.sum.Personalize = time.Since(start)
	return firstErr
}

func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// probeCommit records the demo's seed and size in the ledger's metadata,
// timing each durable commit: the median is what one gate alone would wait
// per tap.
func (d *day) probeCommit(ctx context.Context) error {
	const probes = 5
	lat := make([]time.Duration, probes)
	for i := range lat {
		start := time.Now()
		if err := d.ledger.PutMeta(ctx, "demo", fmt.Appendf(nil, "seed=%d passes=%d day=%s", d.cfg.Seed, d.cfg.Passes, demoDay)); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	d.sum.CommitLatency = lat[probes/2]
	return nil
}

// countingFS is the OS file system, counting the fsyncs of Pebble's
// write-ahead log (its *.log files): one per group commit. The errorfs
// wrapper is used only to observe; it never injects an error.
func (d *day) countingFS() vfs.FS {
	return errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if strings.HasSuffix(op.Path, ".log") {
				d.walSync.Add(1)
			}
		}
		return nil
	}))
}
