package ledger

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// The kill -9 test re-executes the test binary as a child (TestMain sees
// killChildEnv) that journals taps into a real directory with real fsyncs
// and prints one line per acknowledged tap; the parent SIGKILLs it at random
// moments and restarts it.

const (
	killChildEnv  = "CITYPASS_LEDGER_KILL_CHILD" // the child's ledger dir
	killDevices   = 4
	killLimit     = 40 // accepted entries per pass and venue, then ALREADY_REDEEMED
	killResend    = 3  // taps a restarted child sends again
	killLineEnd   = ";"
	killCardsEach = 2 // cards per device, disjoint: decisions depend only on the device's own taps
)

var (
	killTaps  = flag.Int("ledger.killtaps", 12000, "taps journaled by the kill -9 test child (all devices)")
	killTimes = flag.Int("ledger.kills", 20, "SIGKILLs in the kill -9 test")
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(bgFatalChildEnv); mode != "" {
		err := bgFatalChild(mode)
		fmt.Fprintln(os.Stderr, "background fatal child:", err)
		os.Exit(3)
	}
	if dir := os.Getenv(killChildEnv); dir != "" {
		n, _ := strconv.Atoi(os.Getenv(killChildEnv + "_TAPS"))
		if err := killChild(dir, n, os.Stdout, false); err != nil {
			fmt.Fprintln(os.Stderr, "kill child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func killDevice(d int) string { return fmt.Sprintf("gate-%d", d) }

// killChild journals taps 1..perDevice of every device, resuming each device
// after its durable high-water mark and re-sending the last killResend taps
// first (they must come back as duplicates).
func killChild(dir string, total int, w io.Writer, noSync bool) error {
	ctx := context.Background()
	l, err := Open(dir, &Options{Now: func() time.Time { return wlEpoch }, NoSync: noSync})
	if err != nil {
		return err
	}
	defer l.Close()
	var sold bool
	if err := l.View(ctx, func(r engine.Reader) (err error) { _, sold, err = r.Pass(wlPass(0)); return err }); err != nil {
		return err
	}
	if !sold {
		if err := wlSetup(ctx, l, killDevices*killCardsEach); err != nil {
			return err
		}
	}
	perDevice := total / killDevices
	var outMu sync.Mutex
	out := bufio.NewWriter(w)
	emit := func(kind string, r wlResult) {
		outMu.Lock()
		fmt.Fprintf(out, "%s %s %d %t %d %d%s\n", kind, r.Rec.ID.Device, r.Rec.ID.Seq, r.Rec.Decision.Accept, r.Rec.Decision.Reason, r.Rec.JournalSeq, killLineEnd)
		_ = out.Flush() // printed only after Update returned: acknowledged
		outMu.Unlock()
	}
	errc := make(chan error, killDevices)
	var wg sync.WaitGroup
	for d := 0; d < killDevices; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := killDevice(d)
			hw, err := l.DeviceHighWater(dev)
			if err != nil {
				errc <- err
				return
			}
			for s := max(1, int(hw)-killResend+1); s <= perDevice; s++ {
				tap := wlTap(dev, uint64(s), d*killCardsEach, killCardsEach)
				var res wlResult
				if err := l.Update(ctx, wlTxn(tap, killLimit, &res)); err != nil {
					errc <- fmt.Errorf("tap %s: %w", tap.ID, err)
					return
				}
				if uint64(s) <= hw {
					if !res.Dup {
						errc <- fmt.Errorf("re-sent tap %s was journaled again", tap.ID)
						return
					}
					emit("DUP", res)
				} else {
					if res.Dup {
						errc <- fmt.Errorf("new tap %s came back as a duplicate", tap.ID)
						return
					}
					emit("ACK", res)
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		return err
	}
	outMu.Lock()
	fmt.Fprintln(out, "DONE"+killLineEnd)
	_ = out.Flush()
	outMu.Unlock()
	return nil
}

type killLine struct {
	kind   string
	id     engine.TapID
	accept bool
	reason engine.Reason
	jseq   uint64
}

func parseKillLine(s string) (killLine, bool) {
	if !strings.HasSuffix(s, killLineEnd) {
		return killLine{}, false // torn by the kill
	}
	f := strings.Fields(strings.TrimSuffix(s, killLineEnd))
	if len(f) == 1 && f[0] == "DONE" {
		return killLine{kind: "DONE"}, true
	}
	if len(f) != 6 {
		return killLine{}, false
	}
	seq, err1 := strconv.ParseUint(f[2], 10, 64)
	acc, err2 := strconv.ParseBool(f[3])
	reason, err3 := strconv.Atoi(f[4])
	jseq, err4 := strconv.ParseUint(f[5], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return killLine{}, false
	}
	return killLine{kind: f[0], id: engine.TapID{Device: f[1], Seq: seq}, accept: acc, reason: engine.Reason(reason), jseq: jseq}, true
}

// runKillChild starts a child on dir; onLine sees every complete line and
// returns true to have the child killed (SIGKILL) at once. It returns
// whether the child printed DONE.
func runKillChild(t *testing.T, dir string, onLine func(killLine) bool) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir, killChildEnv+"_TAPS="+strconv.Itoa(*killTaps))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	done, killed := false, false
	for sc.Scan() {
		ln, ok := parseKillLine(sc.Text())
		if !ok {
			require.True(t, killed, "malformed line from a child that was not killed: %q", sc.Text())
			continue
		}
		if ln.kind == "DONE" {
			done = true
			continue
		}
		if onLine(ln) && !killed {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	if killed {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
			return done
		}
	}
	require.NoError(t, err, "child failed: %s", stderr.String())
	return done
}

// TestKill9 kills a journaling child with SIGKILL at random moments
// (-ledger.kills, default 20) and restarts it until it finishes. Every tap
// a child printed as acknowledged survives with the same decision and
// journal seq, re-sent taps come back as duplicates with that decision, and
// the final ledger equals an uninterrupted run's: the same records per tap
// id, usage, postings and balances, and a clean Check.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test journals tens of thousands of synced taps")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	dir := t.TempDir()
	acked := map[engine.TapID]killLine{}
	var dups, kills int
	check := func(ln killLine) {
		switch ln.kind {
		case "ACK":
			_, seen := acked[ln.id]
			require.False(t, seen, "tap %s acknowledged as new twice", ln.id)
			acked[ln.id] = ln
		case "DUP":
			dups++
			if a, ok := acked[ln.id]; ok {
				require.Equal(t, a.accept, ln.accept, "duplicate %s: decision", ln.id)
				require.Equal(t, a.reason, ln.reason, "duplicate %s: reason", ln.id)
				require.Equal(t, a.jseq, ln.jseq, "duplicate %s: journal seq", ln.id)
			}
		}
	}
	span := *killTaps / (*killTimes + 2) // about half the taps go to killed children
	finished := false
	for kills < *killTimes && !finished {
		killAfter := 1 + rng.IntN(span)
		n := 0
		finished = runKillChild(t, dir, func(ln killLine) bool {
			check(ln)
			if ln.kind == "ACK" {
				n++
			}
			return n >= killAfter
		})
		if !finished {
			kills++
		}
	}
	for !finished {
		finished = runKillChild(t, dir, func(ln killLine) bool { check(ln); return false })
	}
	t.Logf("%d kills, %d taps acknowledged by killed or finished children, %d re-sent duplicates", kills, len(acked), dups)
	require.GreaterOrEqual(t, kills, *killTimes, "the child finished before it was killed often enough")

	// The uninterrupted run: the same child code in-process, without fsync
	// (durability is not what it is for).
	ref := t.TempDir()
	require.NoError(t, killChild(ref, *killTaps, io.Discard, true))

	ctx := context.Background()
	l, err := Open(dir, &Options{MustExist: true})
	require.NoError(t, err)
	defer l.Close()
	lr, err := Open(ref, &Options{MustExist: true})
	require.NoError(t, err)
	defer lr.Close()

	got := journalByID(t, l)
	want := journalByID(t, lr)
	require.Len(t, got, *killTaps/killDevices*killDevices)
	require.Equal(t, len(want), len(got))
	for id, a := range acked {
		rec, ok := got[id]
		require.True(t, ok, "acknowledged tap %s lost", id)
		assert.Equal(t, a.accept, rec.Decision.Accept, "tap %s", id)
		assert.Equal(t, a.reason, rec.Decision.Reason, "tap %s", id)
		assert.Equal(t, a.jseq, rec.JournalSeq, "tap %s", id)
	}
	var accepts int
	for id, w := range want {
		g := got[id]
		require.NotNil(t, g, "tap %s missing", id)
		g.JournalSeq, w.JournalSeq = 0, 0 // interleaving of devices differs between runs
		require.Equal(t, *w, *g, "tap %s differs from the uninterrupted run", id)
		if g.Decision.Accept {
			accepts++
		}
	}
	require.Less(t, accepts, len(got), "the workload exercises denials too")
	for p := 0; p < killDevices*killCardsEach; p++ {
		var ug, uw engine.Usage
		require.NoError(t, l.View(ctx, func(r engine.Reader) (err error) { ug, err = r.Usage(wlPass(p)); return err }))
		require.NoError(t, lr.View(ctx, func(r engine.Reader) (err error) { uw, err = r.Usage(wlPass(p)); return err }))
		require.Equal(t, uw, ug, "usage of %s", wlPass(p))
	}
	require.Equal(t, balances(t, lr), balances(t, l))
	rep, err := Check(l)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
	require.NoError(t, wlVerify(l, nil, nil))
}

func journalByID(t *testing.T, l *Ledger) map[engine.TapID]*engine.TapRecord {
	out := map[engine.TapID]*engine.TapRecord{}
	var last uint64
	require.NoError(t, l.Journal(context.Background(), 0, func(r *engine.TapRecord) error {
		if r.JournalSeq != last+1 {
			return fmt.Errorf("journal seq %d after %d", r.JournalSeq, last)
		}
		last = r.JournalSeq
		if _, dup := out[r.ID]; dup {
			return fmt.Errorf("tap %s journaled twice", r.ID)
		}
		out[r.ID] = r
		return nil
	}))
	return out
}

func balances(t *testing.T, l *Ledger) []Balance {
	var out []Balance
	require.NoError(t, l.Balances(context.Background(), func(b *Balance) error { out = append(out, *b); return nil }))
	return out
}
