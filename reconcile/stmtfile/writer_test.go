package stmtfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var paris = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return loc
}()

func local(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, paris)
}

func sha256Hex(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func tapRec(device string, seq uint64, at time.Time, card, pass, category, gate string) engine.TapRecord {
	venue, _, _ := strings.Cut(gate, "/")
	return engine.TapRecord{
		Tap:   engine.Tap{ID: engine.TapID{Device: device, Seq: seq}, Card: card, Gate: gate, Direction: engine.Entry, At: at},
		Venue: venue, Pass: pass, Product: "cp24-" + category, TariffVersion: "v1", Category: category,
	}
}

// TestWriterEncodesLikeCSVWriter: the fast record encoder writes exactly
// what encoding/csv.Writer writes, quoting included, and hashes every byte.
func TestWriterEncodesLikeCSVWriter(t *testing.T) {
	alphabet := []string{"a", "Z", "0", ",", "\"", "\r", "\n", " ", "\t", "\\.", "\\", "é", "\u00a0", "\u2028", "-", ":"}
	rng := rand.New(rand.NewPCG(1, 2))
	var recs [][]string
	for i := 0; i < 2000; i++ {
		rec := make([]string, len(Columns))
		for j := range rec {
			n := rng.IntN(4)
			for k := 0; k < n; k++ {
				rec[j] += alphabet[rng.IntN(len(alphabet))]
			}
		}
		recs = append(recs, rec)
	}
	recs = append(recs, []string{`\.`, "", " x", "x ", "a,b", `"`, "\u00a0x", "é", "", "", "", "", "", "", "", "", "", ""})

	dir := t.TempDir()
	s, err := Create(OS, dir, "x.csv", time.UTC, true)
	require.NoError(t, err)
	var want bytes.Buffer
	w := csv.NewWriter(&want)
	require.NoError(t, w.Write(Columns))
	for _, rec := range recs {
		require.NoError(t, s.encode(rec))
		require.NoError(t, w.Write(rec))
	}
	w.Flush()
	sum, err := s.Finish()
	require.NoError(t, err)
	require.NoError(t, s.Commit(filepath.Join(dir, "x.csv")))
	got, err := os.ReadFile(filepath.Join(dir, "x.csv"))
	require.NoError(t, err)
	assert.Equal(t, want.String(), string(got))
	assert.Equal(t, sha256Hex(want.Bytes()), sum)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temp file left")
}

// TestTapLineFastPath: a tap line formatted in place is byte for byte the
// line of the record path (csv.Writer), for plain and for quoted fields, for
// the extremes of every number and of the time, for long fields, through a
// hashed Writer and an unhashed one.
func TestTapLineFastPath(t *testing.T) {
	for _, hashed := range []bool{true, false} {
		t.Run(fmt.Sprintf("hashed=%v", hashed), func(t *testing.T) { testTapLineFastPath(t, hashed) })
	}
}

func testTapLineFastPath(t *testing.T, hashed bool) {
	dir := t.TempDir()
	fast, err := Create(OS, dir, "fast.csv", paris, hashed)
	require.NoError(t, err)
	slow, err := Create(OS, dir, "slow.csv", paris, false)
	require.NoError(t, err)
	day := "2026-11-02"
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("h", hashedChunk+10) // a line longer than a chunk
	recs := []engine.TapRecord{
		tapRec("g1", 7, local(2026, 11, 2, 10, 0), "04A1", "P1", "adult", "mucem/main"),
		tapRec("g,2", 8, local(2026, 11, 2, 23, 59), "04\"A2", " P2", "child", "rtm-metro/a\nb"),
		tapRec("é", 9, local(2026, 3, 29, 3, 15), "C", "P3", "adult", "boat/pier"),
		tapRec(long, math.MaxUint64, time.Date(12000, 1, 2, 3, 4, 5, 0, paris), long, long, long, long+"/"+long),
		tapRec("d", 0, time.Date(-5, 6, 7, 8, 9, 10, 0, paris), "", "", "adult", "v/g"),
		tapRec("d", 1, time.Date(9999, 12, 31, 23, 59, 59, 999999999, paris), "C", "P", "child", "v/g"),
		tapRec("d", 2, local(2026, 11, 2, 10, 0), huge, "P", "child", "v/g"),
	}
	for i := range recs {
		recs[i].JournalSeq = uint64(i + 1)
		if i == 3 {
			recs[i].JournalSeq = math.MaxUint64
		}
		for _, ln := range []Line{
			{Rec: &recs[i], ServiceDay: day, Period: "2026-11", Value: 420, Amount: 420},
			{Rec: &recs[i], ServiceDay: day, Period: "2026-W45", Value: 800, Amount: 5, OverLimit: true},
			{Rec: &recs[i], ServiceDay: day, Period: "2026-11-02", Value: 0, Amount: 0},
			{Rec: &recs[i], ServiceDay: long, Period: long, Value: math.MinInt64, Amount: math.MaxInt64, OverLimit: true},
			{Rec: &recs[i], ServiceDay: day, Period: "2026-11", Value: math.MaxInt64, Amount: math.MinInt64},
			{Rec: &recs[i], ServiceDay: day, Period: "2026-11", Value: 420, Amount: 420},
		} {
			ln.Kind = "visit"
			require.NoError(t, fast.Write(&ln))
			require.NoError(t, slow.tapRecord(&ln))
		}
	}
	var fs string
	if hashed {
		fs, err = fast.Finish()
	} else {
		err = fast.Flush()
	}
	require.NoError(t, err)
	require.NoError(t, slow.Flush())
	a, err := os.ReadFile(fast.tmp)
	require.NoError(t, err)
	b, err := os.ReadFile(slow.tmp)
	require.NoError(t, err)
	if hashed { // the slow spill has no header
		a = bytes.TrimPrefix(a, []byte(strings.Join(Columns, ",")+"\n"))
	}
	assert.Equal(t, string(b), string(a))
	if hashed {
		full, err := os.ReadFile(fast.tmp)
		require.NoError(t, err)
		assert.Equal(t, sha256Hex(full), fs)
	}
	assert.Contains(t, string(a), `"g,2"`)
	assert.Contains(t, string(a), ",18446744073709551615,")
	assert.Contains(t, string(a), "-92233720368547758.08,92233720368547758.07,false,")
	fast.Discard()
	slow.Discard()
	assert.Empty(t, mustReadDir(t, dir), "Discard removes the temp files")
}

// TestAppendFromRenumbers: a spill's lines follow the Writer's own,
// numbered on from them.
func TestAppendFromRenumbers(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(OS, dir, "s.csv", paris, true)
	require.NoError(t, err)
	spill, err := Create(OS, dir, "s.adj", paris, false)
	require.NoError(t, err)
	defer spill.Discard()
	r := tapRec("g1", 7, local(2026, 11, 2, 10, 0), "04A1", "P1", "adult", "mucem/main")
	require.NoError(t, w.Write(&Line{Kind: "flat_fee", Period: "2026-11", Value: 150000, Amount: 150000}))
	require.NoError(t, spill.Write(&Line{Kind: "adjustment", Rec: &r, ServiceDay: "2026-10-31", Period: "2026-10", Value: 800, Amount: 0}))
	require.NoError(t, spill.Write(&Line{Kind: "adjustment", Rec: &r, ServiceDay: "2026-10-31", Period: "2026-10", Value: 800, Amount: 800, OverLimit: true}))
	require.NoError(t, w.AppendFrom(spill))
	assert.Equal(t, 3, w.Lines())
	_, err = w.Finish()
	require.NoError(t, err)
	require.NoError(t, w.Commit(filepath.Join(dir, "s.csv")))
	got, err := os.ReadFile(filepath.Join(dir, "s.csv"))
	require.NoError(t, err)
	assert.Equal(t, strings.Join(Columns, ",")+"\n"+
		"1,flat_fee,,,,,,,,,,,,2026-11,1500.00,1500.00,false,\n"+
		"2,adjustment,0,g1,7,2026-11-02T10:00:00+01:00,04A1,P1,cp24-adult,adult,mucem,mucem/main,2026-10-31,2026-10,8.00,0.00,true,\n"+
		"3,adjustment,0,g1,7,2026-11-02T10:00:00+01:00,04A1,P1,cp24-adult,adult,mucem,mucem/main,2026-10-31,2026-10,8.00,8.00,false,over_limit\n",
		string(got))
}

func TestMinorString(t *testing.T) {
	for m, want := range map[int64]string{0: "0.00", 1: "0.01", 5: "0.05", 10: "0.10", 99: "0.99", 100: "1.00", 101: "1.01",
		150000: "1500.00", 123456789: "1234567.89", -1: "-0.01", -5: "-0.05", -100: "-1.00", -123456: "-1234.56"} {
		assert.Equal(t, want, MinorString(m), "%d", m)
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	return es
}

// faultFS fails the operation named by failOp (its nth call, from 1) with
// errFault; everything else goes to OS.
type faultFS struct {
	failOp string // create, write, finish, rename
	nth    int
	calls  map[string]int
}

var errFault = errors.New("injected fault")

func (f *faultFS) hit(op string) error {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	if op == f.failOp && f.calls[op] == f.nth {
		return errFault
	}
	return nil
}

func (f *faultFS) CreateTemp(path string) (File, error) {
	if err := f.hit("create"); err != nil {
		return nil, err
	}
	file, err := OS.CreateTemp(path)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Finish(file File, perm os.FileMode) error {
	ff := file.(*faultFile)
	if err := f.hit("finish"); err != nil {
		_ = ff.File.Close()
		return err
	}
	return OS.Finish(ff.File, perm)
}

func (f *faultFS) Rename(tmp, path string) error {
	if err := f.hit("rename"); err != nil {
		return err
	}
	return OS.Rename(tmp, path)
}

func (f *faultFS) Remove(name string) error { return OS.Remove(name) }

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.hit("write"); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

// TestFaults: a fault at any step of writing a statement CSV (or a whole
// file with WriteFile) returns the fault, leaves no temp file, and never
// leaves a partial file at the final path; the old file, if any, stays.
func TestFaults(t *testing.T) {
	for _, op := range []string{"create", "write", "finish", "rename"} {
		for _, nth := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s-%d", op, nth), func(t *testing.T) {
				dir := t.TempDir()
				final := filepath.Join(dir, "s.csv")
				require.NoError(t, os.WriteFile(final, []byte("old"), 0o644))
				fsys := &faultFS{failOp: op, nth: nth}
				err := writeBig(fsys, dir, final)
				if fsys.calls[op] < nth {
					require.NoError(t, err, "the fault was never reached")
					return
				}
				require.ErrorIs(t, err, errFault)
				got, rerr := os.ReadFile(final)
				require.NoError(t, rerr)
				assert.Equal(t, "old", string(got))
				es := mustReadDir(t, dir)
				assert.Len(t, es, 1, "temp file left: %v", es)

				// WriteFile the same way.
				fsys = &faultFS{failOp: op, nth: nth}
				require.NoError(t, os.WriteFile(final, []byte("old"), 0o644))
				err = WriteFile(fsys, final, []byte("new"), 0o644)
				if fsys.calls[op] >= nth {
					require.ErrorIs(t, err, errFault)
				}
				got, _ = os.ReadFile(final)
				assert.Contains(t, []string{"old", "new"}, string(got))
				if err != nil {
					assert.Equal(t, "old", string(got))
				}
				assert.Len(t, mustReadDir(t, dir), 1)
			})
		}
	}
}

// writeBig writes a CSV of many chunks through fsys and commits it to final.
func writeBig(fsys FS, dir, final string) (err error) {
	w, err := Create(fsys, dir, "s.csv", paris, true)
	if err != nil {
		return err
	}
	defer w.Discard()
	r := tapRec("g1", 7, local(2026, 11, 2, 10, 0), "04A1B2C3D4E5F6", "P-7Q2M4X9K3T5W8ZJ1", "adult", "mucem/main")
	for i := range 3 * hashedChunk / 100 {
		r.JournalSeq = uint64(i + 1)
		if err := w.Write(&Line{Kind: "visit", Rec: &r, ServiceDay: "2026-11-02", Period: "2026-11", Value: 800, Amount: 800}); err != nil {
			return err
		}
	}
	if _, err := w.Finish(); err != nil {
		return err
	}
	return w.Commit(final)
}
