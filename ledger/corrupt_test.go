package ledger

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// corruptFixture builds a small ledger in a real directory: passes, 300
// taps flushed to an sstable and 20 more left in the WAL. It returns the
// directory and the number of taps.
func corruptFixture(t *testing.T) (string, int) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ledger")
	l, err := Open(dir, &Options{Now: func() time.Time { return wlEpoch }})
	require.NoError(t, err)
	require.NoError(t, wlSetup(ctx, l, wlCards))
	seq := uint64(0)
	tapBatch := func(n int) {
		require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
			for i := 0; i < n; i++ {
				seq++
				var res wlResult
				if err := wlTxn(wlTap("dev", seq, 0, wlCards), wlLimit, &res)(tx); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for i := 0; i < 3; i++ {
		tapBatch(100)
	}
	require.NoError(t, l.db.Flush())
	tapBatch(20)
	require.NoError(t, l.Close())
	return dir, int(seq)
}

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o755))
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
}

// sweepOutcome is what one run against a damaged ledger did: a read-only
// open with a check and a journal export (as ledger check and journal
// export do), then a read-write open with a tap (as tap does).
type sweepOutcome struct {
	roOpenErr, checkErr, journalErr error
	rep                             *CheckReport
	journaled                       int
	rwOpenErr, tapErr               error
}

// runDamaged runs the operations on dir; each must end, and the caller
// judges the answers.
func runDamaged(dir string, want int) (o sweepOutcome) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if l, err := Open(dir, &Options{ReadOnly: true}); err != nil {
		o.roOpenErr = err
	} else {
		o.rep, o.checkErr = Check(l)
		o.journalErr = l.Journal(ctx, 0, func(*engine.TapRecord) error { o.journaled++; return nil })
		_ = l.Close()
	}
	l, err := Open(dir, &Options{MustExist: true, Now: func() time.Time { return wlEpoch }})
	if err != nil {
		o.rwOpenErr = err
		return o
	}
	defer l.Close()
	var res wlResult
	o.tapErr = l.Update(ctx, wlTxn(wlTap("dev", uint64(want)+1, 0, wlCards), wlLimit, &res))
	return o
}

// TestCorruptionSweep flips a byte at the start, the middle and the end
// (an sstable's footer) of every file of a small ledger in turn and runs a
// check, a journal export and a tap: each ends within a bounded time with
// an error or a correct answer, never a hang or a panic. A damaged sstable
// is named, by path, in the check's problems or in the error.
func TestCorruptionSweep(t *testing.T) {
	pristine, total := corruptFixture(t)
	ents, err := os.ReadDir(pristine)
	require.NoError(t, err)
	var files []string
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() > 0 && e.Name() != "LOCK" {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	require.NotEmpty(t, files)
	kinds := map[string]bool{}
	for _, name := range files {
		kinds[fileKind(name)] = true
	}
	for _, k := range []string{"sst", "log", "MANIFEST", "OPTIONS"} {
		require.True(t, kinds[k], "the fixture has a %s file: %v", k, files)
	}
	for _, name := range files {
		fi, err := os.Stat(filepath.Join(pristine, name))
		require.NoError(t, err)
		for _, where := range []struct {
			label string
			off   int64
		}{{"start", 0}, {"middle", fi.Size() / 2}, {"end", fi.Size() - 1}} {
			t.Run(name+"/"+where.label, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "ledger")
				copyDir(t, pristine, dir)
				flipByte(t, filepath.Join(dir, name), where.off)
				done := make(chan sweepOutcome, 1)
				go func() { done <- runDamaged(dir, total) }()
				var o sweepOutcome
				select {
				case o = <-done:
				case <-time.After(60 * time.Second):
					t.Fatalf("hung on a damaged %s", name)
				}
				judgeSweep(t, name, o, total)
			})
		}
	}
}

func fileKind(name string) string {
	switch {
	case strings.HasSuffix(name, ".sst"):
		return "sst"
	case strings.HasSuffix(name, ".log"):
		return "log"
	case strings.HasPrefix(name, "MANIFEST"):
		return "MANIFEST"
	case strings.HasPrefix(name, "OPTIONS"):
		return "OPTIONS"
	}
	return name
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

// judgeSweep accepts, per operation, a clear error or a correct answer: a
// check with no problem read every tap, an export without error is
// complete, a tap without error was journaled. A damaged sstable does not
// stop a read-only open: the check lists it, by path, and the errors of
// the export and of a read-write open name it.
func judgeSweep(t *testing.T, name string, o sweepOutcome, total int) {
	t.Helper()
	sst := fileKind(name) == "sst"
	namesFile := func(err error) {
		var dfe *DamagedFileError
		if assert.ErrorAs(t, err, &dfe, "the damaged file is named") {
			assert.ErrorIs(t, err, ErrCorrupt)
			assert.Equal(t, name, filepath.Base(dfe.Path))
		}
	}
	if o.roOpenErr != nil {
		t.Logf("read-only open: %v", o.roOpenErr)
		assert.False(t, sst, "a damaged sstable does not stop a read-only open")
	} else {
		switch {
		case o.checkErr != nil:
			t.Logf("check: %v", o.checkErr)
			assert.False(t, sst, "a damaged sstable is a problem the check lists, not an error")
		case !o.rep.OK():
			listed := false
			for _, p := range o.rep.Problems {
				t.Logf("check problem: %s", p)
				listed = listed || p.Kind == "damaged" && filepath.Base(p.Key) == name
			}
			if sst {
				assert.True(t, listed, "the check names the damaged sstable %s", name)
			}
		default:
			// The last WAL record may be cut as a torn write: at most the
			// last batch of taps is missing, never a tap in the middle.
			assert.Contains(t, []int{total, total - 20}, o.rep.Taps, "a clean check read every tap")
		}
		if o.journalErr != nil {
			t.Logf("journal: %v", o.journalErr)
			if sst {
				namesFile(o.journalErr)
			}
		} else if o.rep != nil && o.rep.OK() {
			assert.Equal(t, o.rep.Taps, o.journaled, "an export without error is complete")
		}
	}
	if o.rwOpenErr != nil {
		t.Logf("open: %v", o.rwOpenErr)
		if sst {
			namesFile(o.rwOpenErr)
		}
	}
	if o.tapErr != nil {
		t.Logf("tap: %v", o.tapErr)
		if sst {
			namesFile(o.tapErr)
		}
	}
}
