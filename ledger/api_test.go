package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
)

func TestRecordsRoundTrip(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 27, 10, 0, 0, 123, paris)
	rec := engine.TapRecord{
		Tap: engine.Tap{ID: engine.TapID{Device: "gate-ä", Seq: 1 << 40}, Card: "04AABB", Gate: "mucem/G1",
			Direction: engine.Exit, At: at, Counter: 1<<32 - 1, HasCounter: true, ProofFailed: true},
		JournalSeq: 7, RecordedAt: at.UTC(), Venue: "mucem", Pass: "P1", Product: "cp24", TariffVersion: "v1", Category: "child",
		Decision: engine.Decision{Accept: true, Reason: engine.ReasonOK, Flags: engine.FlagActivated | engine.FlagWarnExpiring,
			Pass: "P1", Product: "cp24", ValidUntil: at.Add(24 * time.Hour)},
	}
	k := journalKey(7)
	got, err := decodeTap(k, encodeTap(&rec))
	require.NoError(t, err)
	assert.True(t, got.At.Equal(rec.At))
	_, off := got.At.Zone()
	assert.Equal(t, 3600, off, "the zone offset is kept")
	got.At, rec.At = time.Time{}, time.Time{}
	assert.True(t, got.Decision.ValidUntil.Equal(rec.Decision.ValidUntil))
	got.Decision.ValidUntil, rec.Decision.ValidUntil = time.Time{}, time.Time{}
	assert.Equal(t, rec, *got)

	p := engine.Pass{ID: "P1", TariffVersion: "v1", Product: "cp24", Category: "adult", Card: "B", Cards: []string{"A", "B"},
		SoldAt: at.UTC(), PriceMinor: 3200, Currency: "EUR", Channel: "web", Status: engine.PassRefunded,
		ActivatedAt: at.UTC(), ValidUntil: at.UTC(), ActivateBy: at.UTC(), RefundedAt: at.UTC()}
	gp, err := decodePass(strKey(pPass, "P1"), encodePass(&p))
	require.NoError(t, err)
	assert.Equal(t, p, *gp)

	c := engine.Card{UID: "A", Passes: []string{"P1"}, Revoked: true, ReplacedBy: "B", Blocked: true, BlockReason: "lost",
		BlockedAt: at.UTC(), LastCounter: 9, HasCounter: true}
	gc, err := decodeCard(strKey(pCard, "A"), encodeCard(&c))
	require.NoError(t, err)
	assert.Equal(t, c, *gc)

	u := engine.Usage{Visits: []engine.Visit{
		{Tap: engine.TapID{Device: "g1", Seq: 7}, At: at.UTC(), Venue: "mucem", Gate: "mucem/G1"},
		{Tap: engine.TapID{Device: "g2", Seq: 1}, At: at.UTC(), Venue: "mucem", Gate: "mucem/G2"},
		{Tap: engine.TapID{Device: "g1", Seq: 9}, At: at.Add(time.Hour).UTC(), Venue: "rtm", Gate: "rtm/1"}}}
	gu, err := decodeUsage(strKey(pUsage, "P1"), encodeUsage(&u))
	require.NoError(t, err)
	assert.Equal(t, u, gu)
	assert.Equal(t, encodeUsage(&u), encodeUsage(&gu), "usage encodes deterministically")

}

func TestCorruptValueIsReported(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMem(t, fs)
	require.NoError(t, wlSetup(ctx, l, 2))
	var res wlResult
	tap := wlTap("d", 1, 0, 2)
	tap.Direction = engine.Entry
	require.NoError(t, l.Update(ctx, wlTxn(tap, wlLimit, &res)))
	require.NoError(t, l.Close())

	// Flip one byte of the journal record behind the ledger's back.
	db, err := pebble.Open("/ledger", &pebble.Options{FS: fs, FormatMajorVersion: FormatMajorVersion, Logger: &pebbleLogger{l: &Ledger{}}})
	require.NoError(t, err)
	v, closer, err := db.Get(journalKey(1))
	require.NoError(t, err)
	bad := append([]byte(nil), v...)
	require.NoError(t, closer.Close())
	bad[5] ^= 0x40
	require.NoError(t, db.Set(journalKey(1), bad, pebble.Sync))
	require.NoError(t, db.Set(strKey(pUsage, res.Rec.Pass), encodeUsage(&engine.Usage{}), pebble.Sync))
	require.NoError(t, db.Close())

	l = openMem(t, fs)
	defer l.Close()
	err = l.View(ctx, func(r engine.Reader) error { _, _, err := r.Tap(tap.ID); return err })
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), "journal 1")
	err = l.Journal(ctx, 0, func(*engine.TapRecord) error { return nil })
	require.ErrorIs(t, err, ErrCorrupt)
	err = l.JournalBatches(ctx, 0, func([]engine.TapRecord) error { return nil })
	require.ErrorIs(t, err, ErrCorrupt)

	rep, err := Check(l)
	require.NoError(t, err)
	require.False(t, rep.OK())
	kinds := map[string]bool{}
	for _, p := range rep.Problems {
		kinds[p.Kind] = true
	}
	assert.True(t, kinds["checksum"], "%v", rep.Problems)
}

// ledgerWithOneEntry opens a ledger in memory (closed when the test ends)
// with the workload's set-up and one accepted entry tap.
func ledgerWithOneEntry(t *testing.T, ctx context.Context) (*Ledger, wlResult) {
	t.Helper()
	l := openMem(t, vfs.NewMem())
	t.Cleanup(func() { _ = l.Close() })
	require.NoError(t, wlSetup(ctx, l, 2))
	var res wlResult
	tap := wlTap("d", 1, 0, 2)
	tap.Direction = engine.Entry
	require.NoError(t, l.Update(ctx, wlTxn(tap, wlLimit, &res)))
	require.True(t, res.Rec.Decision.Accept)
	return l, res
}

func TestCheckFindsInconsistencies(t *testing.T) {
	ctx := context.Background()
	l, res := ledgerWithOneEntry(t, ctx)
	// Usage that disagrees with the journal, a tap naming an unknown pass,
	// and a balance off by one, each written through the writer.
	require.NoError(t, l.update(ctx, func(t *txn) error {
		if err := t.PutUsage(res.Rec.Pass, engine.Usage{}); err != nil {
			return err
		}
		rec := engine.TapRecord{Tap: wlTap("d", 2, 0, 2), Pass: "NOPE", Venue: "ZOO",
			Decision: engine.Decision{Reason: engine.ReasonExpired, Pass: "NOPE"}}
		if err := t.PutTap(&rec); err != nil {
			return err
		}
		t.put(strKey(pBalance, engine.AccountBank), encodeBalance(&Balance{Account: engine.AccountBank, DebitMinor: 1, Postings: 1}))
		return nil
	}))
	rep, err := Check(l)
	require.NoError(t, err)
	var msgs []string
	for _, p := range rep.Problems {
		msgs = append(msgs, p.String())
	}
	all := strings.Join(msgs, "\n")
	assert.Contains(t, all, "usage: usage \"P")
	assert.Contains(t, all, "names pass NOPE")
	assert.Contains(t, all, "balance: balance \"bank\"")
	assert.GreaterOrEqual(t, rep.ProblemsTotal, 3)
}

// TestCheckOnANode: a fleet node's usage holds the visits it learnt from
// the hub's state (other nodes' taps) beside its own: ledger check counts
// them and still finds a local entry the usage lost.
func TestCheckOnANode(t *testing.T) {
	ctx := context.Background()
	l, res := ledgerWithOneEntry(t, ctx)
	pass := res.Rec.Pass
	setUsage := func(extra bool) {
		require.NoError(t, l.update(ctx, func(t *txn) error {
			u := engine.Usage{}
			if extra {
				u.Visits = append(u.Visits, engine.Visit{Tap: engine.TapID{Device: "other-node", Seq: 7}, At: res.Rec.At.Add(-time.Hour),
					Venue: res.Rec.Venue, Gate: res.Rec.Gate})
			}
			return t.PutUsage(pass, u)
		}))
	}
	// The hub's visit merged into the local usage.
	require.NoError(t, l.update(ctx, func(t *txn) error {
		u, err := t.Usage(pass)
		if err != nil {
			return err
		}
		u.Visits = append([]engine.Visit{{Tap: engine.TapID{Device: "other-node", Seq: 7}, At: res.Rec.At.Add(-time.Hour),
			Venue: res.Rec.Venue, Gate: res.Rec.Gate}}, u.Visits...)
		return t.PutUsage(pass, u)
	}))
	rep, err := Check(l)
	require.NoError(t, err)
	assert.False(t, rep.OK(), "a standalone ledger holds no visit its journal lacks")

	require.NoError(t, l.PutMeta(ctx, fleet.StateMeta, []byte(`{"hub_epoch":1}`)))
	rep, err = Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 1, rep.HubVisits)

	setUsage(true) // the local entry is gone: still a problem on a node
	rep, err = Check(l)
	require.NoError(t, err)
	require.False(t, rep.OK())
	assert.Contains(t, rep.Problems[0].Msg, "that usage does not count")
}

func TestRecordsTariffsMeta(t *testing.T) {
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	require.NoError(t, l.PutTariff(ctx, "v2", []byte("b")))
	require.NoError(t, l.PutTariff(ctx, "v1", []byte("a")))
	require.ErrorIs(t, l.PutTariff(ctx, "v1", []byte("a")), ErrExists)
	ts, err := l.Tariffs()
	require.NoError(t, err)
	require.Len(t, ts, 2)
	assert.Equal(t, "v2", ts[0].ID, "load order, not id order")
	assert.Equal(t, []byte("a"), ts[1].TOML)

	post := func(id string, acct string, amt int64) engine.Posting {
		return engine.Posting{ID: id, Kind: "statement", Lines: []engine.PostingLine{
			{Account: "partner_cost:" + acct, DebitMinor: amt}, {Account: "partner_payable:" + acct, CreditMinor: amt}}}
	}
	putNew := func(id string, value []byte, postings ...engine.Posting) error {
		return l.UpdateRecords(ctx, func(get RecordGet, put RecordPut, post PostingPut) error {
			if _, found, err := get("statement", id); err != nil {
				return err
			} else if found {
				return fmt.Errorf("%w: statement %s", ErrExists, id)
			}
			if err := put("statement", id, value); err != nil {
				return err
			}
			for _, p := range postings {
				if err := post(p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, putNew("S1", []byte("x"), post("close/S1", "mucem", 1500)))
	require.ErrorIs(t, putNew("S1", []byte("x")), ErrExists)
	// A failing transaction keeps nothing: the posting id is reused.
	require.ErrorIs(t, putNew("S2", []byte("y"), post("close/S1", "mucem", 1)), ErrExists)
	_, found, err := l.Record("statement", "S2")
	require.NoError(t, err)
	assert.False(t, found)
	require.ErrorIs(t, putNew("S3", nil, engine.Posting{ID: "u", Lines: []engine.PostingLine{{Account: "a", DebitMinor: 1}, {Account: "b", CreditMinor: 2}}}), ErrUnbalanced)
	require.ErrorIs(t, l.UpdateRecords(ctx, func(_ RecordGet, put RecordPut, _ PostingPut) error { return put("statement", "", []byte("z")) }), ErrInvalid)
	require.ErrorIs(t, l.UpdateRecords(ctx, func(_ RecordGet, put RecordPut, _ PostingPut) error { return put("a\x00b", "S4", []byte("z")) }), ErrInvalid)

	// A read-modify-write sees its own puts and replaces the value.
	require.NoError(t, l.UpdateRecords(ctx, func(get RecordGet, put RecordPut, post PostingPut) error {
		v, found, err := get("statement", "S1")
		if err != nil || !found {
			return fmt.Errorf("S1: %v %v", found, err)
		}
		if err := put("statement", "S1", append(v, '!')); err != nil {
			return err
		}
		if v, _, _ := get("statement", "S1"); string(v) != "x!" {
			return fmt.Errorf("own put not seen: %q", v)
		}
		if err := put("payout", "PO1", []byte("p")); err != nil {
			return err
		}
		return post(engine.Posting{ID: "payout/PO1", Kind: "payout", Lines: []engine.PostingLine{
			{Account: "partner_payable:mucem", DebitMinor: 1500}, {Account: engine.AccountBank, CreditMinor: 1500}}})
	}))
	got, found, err := l.Record("statement", "S1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, []byte("x!"), got)
	var ids []string
	require.NoError(t, l.Records(ctx, "statement", func(id string, v []byte) error { ids = append(ids, id+"="+string(v)); return nil }))
	assert.Equal(t, []string{"S1=x!"}, ids, "one table only, by id")
	ids = nil
	require.NoError(t, l.Records(ctx, "payout", func(id string, v []byte) error { ids = append(ids, id+"="+string(v)); return nil }))
	assert.Equal(t, []string{"PO1=p"}, ids)
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 2, rep.Records)

	bal := map[string]Balance{}
	require.NoError(t, l.Balances(ctx, func(b *Balance) error { bal[b.Account] = *b; return nil }))
	assert.Equal(t, int64(1500), bal["partner_payable:mucem"].DebitMinor)
	assert.Equal(t, int64(1500), bal["partner_payable:mucem"].CreditMinor)
	assert.Equal(t, int64(1500), bal[engine.AccountBank].CreditMinor)

	_, ok, err := l.Meta("k")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, l.PutMeta(ctx, "k", []byte{}))
	v, ok, err := l.Meta("k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, []byte{}, v)
	rep, err = Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 2, rep.Postings)
}

func TestJournalBetweenAndFrom(t *testing.T) {
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	require.NoError(t, wlSetup(ctx, l, 2))
	// Taps arrive out of time order across devices.
	for _, s := range []uint64{5, 1, 3, 2, 4} {
		var res wlResult
		require.NoError(t, l.Update(ctx, wlTxn(wlTap("d", s, 0, 2), wlLimit, &res)))
	}
	var seqs []uint64
	require.NoError(t, l.JournalBetween(ctx, wlEpoch.Add(2*time.Second), wlEpoch.Add(5*time.Second), func(r *engine.TapRecord) error {
		seqs = append(seqs, r.ID.Seq)
		return nil
	}))
	assert.Equal(t, []uint64{2, 3, 4}, seqs, "by tap time, end exclusive")
	seqs = nil
	require.NoError(t, l.Journal(ctx, 3, func(r *engine.TapRecord) error { seqs = append(seqs, r.ID.Seq); return nil }))
	assert.Equal(t, []uint64{3, 2, 4}, seqs, "journal order from seq 3")
	stop := assert.AnError
	n := 0
	assert.ErrorIs(t, l.Journal(ctx, 0, func(*engine.TapRecord) error { n++; return stop }), stop)
	assert.Equal(t, 1, n)
	hw, err := l.DeviceHighWater("d")
	require.NoError(t, err)
	assert.Equal(t, uint64(5), hw)
	hw, err = l.DeviceHighWater("none")
	require.NoError(t, err)
	assert.Zero(t, hw)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, l.View(cctx, func(engine.Reader) error { return nil }), context.Canceled)
}

// TestJournalRaw: JournalRaw hands out, from its seq on, each record as
// EncodeTapRecord encodes what Journal reads, and a damaged record as
// corruption.
func TestJournalRaw(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMem(t, fs)
	require.NoError(t, wlSetup(ctx, l, 4))
	for s := uint64(1); s <= 6; s++ {
		var res wlResult
		require.NoError(t, l.Update(ctx, wlTxn(wlTap("d", s, 0, 4), wlLimit, &res)))
	}
	var want [][]byte
	var wantSeqs []uint64
	require.NoError(t, l.Journal(ctx, 2, func(r *engine.TapRecord) error {
		want, wantSeqs = append(want, EncodeTapRecord(r)), append(wantSeqs, r.JournalSeq)
		return nil
	}))
	require.Len(t, want, 5)
	var got [][]byte
	var seqs []uint64
	require.NoError(t, l.JournalRaw(ctx, 2, func(seq uint64, raw []byte) error {
		got, seqs = append(got, bytes.Clone(raw)), append(seqs, seq)
		return nil
	}))
	assert.Equal(t, want, got)
	assert.Equal(t, wantSeqs, seqs)
	for i, raw := range got {
		r, err := DecodeTapRecord(raw)
		require.NoError(t, err)
		assert.Equal(t, seqs[i], r.JournalSeq)
	}
	// A record whose bytes changed fails its frame.
	require.NoError(t, l.db.Set(journalKey(4), append(bytes.Clone(got[2][:len(got[2])-1]), got[2][len(got[2])-1]^1), pebble.Sync))
	require.NoError(t, l.Close())
	l = openMem(t, fs)
	defer l.Close()
	var corrupt *CorruptionError
	assert.ErrorAs(t, l.JournalRaw(ctx, 1, func(uint64, []byte) error { return nil }), &corrupt)
}

// TestJournalBatches: the pipelined batched scan gives exactly Journal's
// records, in its order, whatever the batch size, queue depth and number of
// decoders, and stops at fn's error or a cancelled context.
func TestJournalBatches(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMem(t, fs)
	require.NoError(t, wlSetup(ctx, l, 3))
	const n = 60
	for i := range n {
		var res wlResult
		tap := wlTap(fmt.Sprintf("d%d", i%2), uint64(i/2+1), i%3, 3)
		tap.Direction = engine.Entry
		require.NoError(t, l.Update(ctx, wlTxn(tap, wlLimit, &res)))
	}
	require.NoError(t, l.Close())
	for _, from := range []uint64{0, 1, 2, 17, n, n + 1} {
		l := openMem(t, fs)
		var want []engine.TapRecord
		require.NoError(t, l.Journal(ctx, from, func(r *engine.TapRecord) error { want = append(want, *r); return nil }))
		require.NoError(t, l.Close())
		for _, g := range []struct{ batch, pool, decoders int }{
			{1, 1, 1}, {2, 1, 3}, {3, 2, 2}, {256, 6, 1}, {100, 3, 2}, {7, 1, 5}, {59, 2, 2}, {60, 1, 1},
		} {
			l := openMemWith(t, fs, &Options{JournalBatchLen: g.batch, JournalBatchesInFlight: g.pool, JournalDecoders: g.decoders})
			var got []engine.TapRecord
			require.NoError(t, l.JournalBatches(ctx, from, func(b []engine.TapRecord) error {
				require.NotEmpty(t, b)
				require.LessOrEqual(t, len(b), g.batch)
				for _, r := range b { // its strings view bytes recycled after fn: copy them
					got = append(got, ownedTap(r))
				}
				return nil
			}))
			require.NoError(t, l.Close())
			require.Equal(t, len(want), len(got), "from %d, geometry %+v", from, g)
			if len(want) > 0 {
				assert.Equal(t, want, got, "from %d, geometry %+v", from, g)
			}
		}
	}
	l = openMemWith(t, fs, &Options{JournalBatchLen: 2, JournalBatchesInFlight: 2, JournalDecoders: 2})
	defer l.Close()
	stop := assert.AnError
	seen := 0
	err := l.JournalBatches(ctx, 0, func(b []engine.TapRecord) error {
		if seen += len(b); seen >= 9 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 10, seen, "fn is not called after its error")
	cctx, cancel := context.WithCancel(ctx)
	seen = 0
	err = l.JournalBatches(cctx, 0, func(b []engine.TapRecord) error {
		if seen += len(b); seen >= 9 {
			cancel()
		}
		return nil
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, seen, n)
}

// ownedTap is r with copies of its strings, to keep past a JournalBatches
// fn.
func ownedTap(r engine.TapRecord) engine.TapRecord {
	for _, s := range []*string{&r.ID.Device, &r.Card, &r.Gate, &r.Venue, &r.Pass, &r.Product, &r.TariffVersion,
		&r.Category, &r.Decision.Pass, &r.Decision.Product} {
		*s = strings.Clone(*s)
	}
	return r
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	err := l.Update(ctx, func(tx engine.Txn) error {
		return tx.PutTap(&engine.TapRecord{Tap: engine.Tap{ID: engine.TapID{Device: "a\x00b", Seq: 1}}})
	})
	assert.ErrorIs(t, err, ErrInvalid)
	err = l.Update(ctx, func(tx engine.Txn) error { return tx.PutPass(engine.Pass{}) })
	assert.ErrorIs(t, err, ErrInvalid)
	err = l.Update(ctx, func(tx engine.Txn) error { panic("boom") })
	assert.ErrorContains(t, err, "panicked: boom")
	// The writer survives a panicking transaction.
	require.NoError(t, l.PutMeta(ctx, "ok", []byte("1")))
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Update(ctx, func(engine.Txn) error { return nil }), ErrClosed)
	assert.ErrorIs(t, l.Close(), ErrClosed)
}

func TestMustExist(t *testing.T) {
	_, err := Open("/nope", &Options{FS: vfs.NewMem(), MustExist: true})
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestLockedByThisProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	_, err = Open(dir, nil)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, ErrLocked)
	assert.Equal(t, os.Getpid(), le.PID)
}

const holdChildEnv = "CITYPASS_LEDGER_HOLD_CHILD"

// TestLockedByAnotherProcess has a child process hold the ledger: Open fails
// with ErrLocked naming the child's pid and command; once the child exits,
// Open succeeds.
func TestLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderChild$")
	cmd.Env = append(os.Environ(), holdChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HOLDING\n", line)

	_, err = Open(dir, nil)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, cmd.Process.Pid, le.PID)
	assert.Contains(t, le.Command, "TestLockHolderChild")
	assert.Contains(t, err.Error(), "in use by process")
	// A reader does not open beside a writer either.
	_, err = Open(dir, &Options{ReadOnly: true})
	require.ErrorAs(t, err, &le)
	assert.Equal(t, cmd.Process.Pid, le.PID)

	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	l, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestReadOnlySharesWithReaders: a read-only Open takes a shared lock that
// keeps a writer out (in another process, the kernel's lock; in this one,
// the ledger's own record of open directories) and lets a reader of
// another process in.
func TestReadOnlySharesWithReaders(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.PutMeta(context.Background(), "k", []byte("v")))
	require.NoError(t, l.Close())

	ro, err := Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	v, ok, err := ro.Meta("k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v", string(v))
	_, err = Open(dir, nil)
	assert.ErrorIs(t, err, ErrLocked, "no writer beside a reader of this process")

	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderChild$")
	cmd.Env = append(os.Environ(), holdChildEnv+"="+dir, holdChildEnv+"_MODE=read-only")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "HOLDING\n", line, "a reader of another process opens beside this one")
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	require.NoError(t, ro.Close())
}

// TestLockHolderChild is the child of TestLockedByAnotherProcess: it holds
// the ledger until its stdin closes. It does nothing in a normal run.
func TestLockHolderChild(t *testing.T) {
	dir := os.Getenv(holdChildEnv)
	if dir == "" {
		return
	}
	l, err := Open(dir, &Options{ReadOnly: os.Getenv(holdChildEnv+"_MODE") == "read-only"})
	if err != nil {
		os.Stdout.WriteString("FAILED " + err.Error() + "\n")
	}
	require.NoError(t, err)
	os.Stdout.WriteString("HOLDING\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	require.NoError(t, l.Close())
}

func FuzzDecode(f *testing.F) {
	at := wlEpoch
	f.Add(encodeTap(&engine.TapRecord{Tap: engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, At: at}}))
	f.Add(encodeUsage(&engine.Usage{Visits: []engine.Visit{{Tap: engine.TapID{Device: "d", Seq: 1}, At: at, Venue: "v", Gate: "v/g"}}}))
	f.Add(encodePass(&engine.Pass{ID: "p", Cards: []string{"a"}}))
	f.Add(encodeCard(&engine.Card{UID: "a", Passes: []string{"p"}}))
	f.Add(encodeCard(&engine.Card{UID: "a", Passes: []string{"p"}, Revoked: true, ReplacedBy: "b", ReplacedAt: at}))
	f.Add(encodePosting(&engine.Posting{ID: "x", Lines: []engine.PostingLine{{Account: "a", DebitMinor: 1}}}))
	f.Add([]byte{})
	ne := fleet.NodeEpoch{Node: "n", Epoch: 1, HighWater: 2, LastContact: at, StateAsOf: at}
	f.Add(encodeNodeEpoch(&ne))
	for _, h := range []string{nodeEpochV1Hex, nodeEpochTapsHex} {
		if old, err := hex.DecodeString(h); err == nil {
			f.Add(old)
		}
	}
	_, tv := benchTapValue()
	f.Add(tv)
	f.Add(encodeOriginRun(&originRun{firstJournal: 1, node: "n", epoch: 1, firstNodeSeq: 3, uploadedAt: at, clockOffset: -time.Second,
		clockKnown: true, recordedAt: []time.Time{at, at.Add(time.Millisecond)}}))
	f.Add(encodeIndexRun(&indexRun{node: "n", epoch: 1, firstNodeSeq: 3, firstJournal: 1, count: 2}))
	in := newInterner()
	var reused engine.TapRecord
	f.Fuzz(func(t *testing.T, v []byte) {
		k := []byte{0}
		// Decoders must never panic; a value that decodes re-encodes to a
		// value that decodes the same.
		r, err := decodeTap(k, v)
		if err == nil {
			r2, err := decodeTap(k, encodeTap(r))
			require.NoError(t, err)
			require.Equal(t, r.ID, r2.ID)
		}
		// The interning decoder (JournalBatches) agrees with decodeTap on
		// every value, with an interner and a record reused across values.
		err2 := decodeTapInto(k, v, &reused, in)
		require.Equal(t, err == nil, err2 == nil, "decodeTap: %v, decodeTapInto: %v", err, err2)
		if err == nil {
			require.Equal(t, *r, reused)
		}
		if u, err := decodeUsage(k, v); err == nil {
			_, err := decodeUsage(k, encodeUsage(&u))
			require.NoError(t, err)
		}
		_, _ = decodePass(k, v)
		if c, err := decodeCard(k, v); err == nil {
			// A card value that decodes is canonical: either version
			// re-encodes to the same bytes.
			require.Equal(t, v, encodeCard(c))
		}
		_, _ = decodePosting(k, v)
		_, _ = decodeBalance(k, v)
		_, _ = decodeTariff(k, v)
		_, _ = decodeU64(k, v, kindTapIndex)
		_, _ = decodeBytes(k, v, kindMeta)
		// Origin and index runs that decode re-encode to the same value.
		if r, err := decodeOriginRun(originKey(5), v); err == nil {
			require.Equal(t, v, encodeOriginRun(r))
		}
		ik := nodeSeqKey(pOriginIdx, "n", 1, 3)
		if r, err := decodeIndexRun(ik, v); err == nil {
			require.Equal(t, v, encodeIndexRun(r))
		}
		if ne, err := decodeNodeEpoch(k, v); err == nil {
			// A node epoch written before its later fields re-encodes
			// with them: the value then decodes to the same record.
			ne2, err := decodeNodeEpoch(k, encodeNodeEpoch(&ne))
			require.NoError(t, err)
			require.Equal(t, encodeNodeEpoch(&ne), encodeNodeEpoch(&ne2))
		}
	})
}

// TestInternerKeepsStrings: the strings of records decoded with one
// interner stay what they were after thousands more values are decoded with
// it (the card and pass ids are carved from shared slabs), including empty
// and slab-sized ids.
func TestInternerKeepsStrings(t *testing.T) {
	ids := func(i int) (card, pass string) {
		card, pass = fmt.Sprintf("04%012X", i), fmt.Sprintf("P-%d", i*7919)
		switch i % 500 {
		case 1:
			card, pass = "", ""
		case 2:
			pass = strings.Repeat("p", pairSlab)
		}
		return card, pass
	}
	in := newInterner()
	var kept []engine.TapRecord
	for i := range 3000 {
		card, pass := ids(i)
		v := encodeTap(&engine.TapRecord{Tap: engine.Tap{ID: engine.TapID{Device: "d", Seq: uint64(i)}, Card: card, At: wlEpoch},
			JournalSeq: uint64(i + 1), Pass: pass, Decision: engine.Decision{Pass: pass}})
		var r engine.TapRecord
		require.NoError(t, decodeTapInto(journalKey(uint64(i+1)), v, &r, in))
		kept = append(kept, r)
	}
	for i, r := range kept {
		card, pass := ids(i)
		require.Equal(t, card, r.Card, "record %d", i)
		require.Equal(t, pass, r.Pass, "record %d", i)
		require.Equal(t, pass, r.Decision.Pass, "record %d", i)
	}
}

// TestOptions: Open clones, fills defaults and validates (Pebble's order):
// the caller's struct is never changed, defaults are valid, and a field out
// of range is refused by name.
func TestOptions(t *testing.T) {
	var nilOpts *Options
	d := nilOpts.Clone().EnsureDefaults()
	require.NoError(t, d.Validate())
	assert.Equal(t, 4096, d.QueueLen)
	assert.Equal(t, time.Second, d.DiskFullRetry)
	assert.Equal(t, int64(DefaultMemTableSize), d.MemTableSize)
	assert.GreaterOrEqual(t, d.JournalDecoders, 1)
	assert.LessOrEqual(t, d.JournalDecoders, 3)
	set := &Options{QueueLen: 7, JournalDecoders: 5, DiskFullRetry: time.Minute}
	set.EnsureDefaults()
	assert.Equal(t, []any{7, 5, time.Minute}, []any{set.QueueLen, set.JournalDecoders, set.DiskFullRetry}, "EnsureDefaults keeps what is set")

	mine := &Options{FS: vfs.NewMem(), QueueLen: 8}
	c := mine.Clone()
	c.QueueLen = 9
	assert.Equal(t, 8, mine.QueueLen, "a clone is a copy")
	l, err := Open("/ledger", mine)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	assert.Equal(t, &Options{FS: mine.FS, QueueLen: 8}, mine, "Open leaves the caller's options alone")

	for name, bad := range map[string]*Options{
		"QueueLen":               {QueueLen: -1},
		"GroupMax":               {GroupMax: 1 << 20},
		"CacheSizeBytes":         {CacheSizeBytes: -5},
		"MemTableSize":           {MemTableSize: 4 << 10},
		"L0Tables":               {L0Tables: 1},
		"MemTables":              {MemTables: 1},
		"DeviceSeqsMax":          {DeviceSeqsMax: -1},
		"JournalBatchLen":        {JournalBatchLen: 1 << 17},
		"JournalBatchesInFlight": {JournalBatchesInFlight: -2},
		"JournalDecoders":        {JournalDecoders: 65},
		"DiskFullRetry":          {DiskFullRetry: -time.Second},
	} {
		bad.FS = vfs.NewMem()
		err := bad.Clone().EnsureDefaults().Validate()
		require.ErrorIs(t, err, ErrInvalidOptions, name)
		assert.Contains(t, err.Error(), name)
		_, err = Open("/ledger", bad)
		require.ErrorIs(t, err, ErrInvalidOptions, name)
	}
	assert.ErrorIs(t, (&Options{}).Validate(), ErrInvalidOptions, "FS and Now unset")
}

// TestReadOnlyOpenOfNothing: a read-only or MustExist open of a directory
// that does not exist is ErrNotFound and creates nothing, on disk and in
// memory.
func TestReadOnlyOpenOfNothing(t *testing.T) {
	for _, o := range []Options{{ReadOnly: true}, {MustExist: true}} {
		dir := filepath.Join(t.TempDir(), "none")
		_, err := Open(dir, &o)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = os.Stat(dir)
		assert.ErrorIs(t, err, fs.ErrNotExist, "nothing created")
		mem := vfs.NewMem()
		o.FS = mem
		_, err = Open("/none", &o)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = mem.Stat("/none")
		assert.Error(t, err, "nothing created")
	}
}
