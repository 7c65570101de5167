package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/ledger"
)

// cliChildEnv makes the test binary run one citypass command (its
// arguments) and exit with its code: for commands run as another user or
// that must end the process.
const cliChildEnv = "CITYPASS_CLI_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(cliChildEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// childCLI runs citypass args in a child process (as user uid when
// asUser), within a deadline, and returns its streams and exit code.
func childCLI(t *testing.T, bin string, asUser bool, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), cliChildEnv+"=1")
	if asUser {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "citypass %v hung", args)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

// copyTree copies the directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	}))
}

// readOnlyTree makes every file and directory under dir read-only.
func readOnlyTree(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o555)
		}
		return os.Chmod(p, 0o444)
	}))
	t.Cleanup(func() {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

// Item 15: the read-only commands inspect a data dir nobody may write to
// (a backup): ledger check, journal export, report, pass show. A write
// is refused with a clear error, never a hang. Run as root, the commands
// run as user nobody in a child process: root writes through permissions.
func TestCLIReadOnlyDataDir(t *testing.T) {
	dir := initData(t)
	pass := sell(t, dir, "cp24-adult", "04A15001")
	_, _, code := cli(t, dir, "tap", "--card", "04A15001", "--gate", "mucem/main", "--at", "2026-11-27T10:00")
	require.Equal(t, 0, code)

	base, err := os.MkdirTemp("", "citypass-ro-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	ro := filepath.Join(base, "data")
	copyTree(t, dir, ro)
	readOnlyTree(t, ro)

	run := func(args ...string) (string, string, int) { return cli(t, ro, args...) }
	if os.Geteuid() == 0 {
		bin := filepath.Join(base, "citypass.test")
		self, err := os.ReadFile(os.Args[0])
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(bin, self, 0o755))
		run = func(args ...string) (string, string, int) {
			return childCLI(t, bin, true, append([]string{"--data", ro}, args...)...)
		}
		// The child really cannot write there.
		_, _, c := childCLI(t, bin, true, "--data", filepath.Join(ro, "new"), "init")
		require.Equal(t, 1, c, "nobody cannot create a data dir in the read-only copy")
	}
	out, stderr, code := run("ledger", "check")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, ": OK")
	out, stderr, code = run("journal", "export")
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, 2, strings.Count(out, "\n"), out)
	out, stderr, code = run("report", "sales", "--from", "2026-11-01", "--to", "2026-11-30")
	assert.Equal(t, 0, code, stderr)
	assert.NotEmpty(t, out)
	out, stderr, code = run("pass", "show", pass)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, pass)
	_, stderr, code = run("tap", "--card", "04A15001", "--gate", "mucem/main", "--at", "2026-11-27T11:00")
	assert.Equal(t, 1, code, "a write needs a writable data dir")
	assert.Contains(t, stderr, "cannot be written", "said as it is, not as a lock held by another program")
}

// corruptSST flips a byte in the middle of every sstable of a data dir's
// ledger and returns their names.
func corruptSST(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "ledger"))
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".sst") {
			continue
		}
		p := filepath.Join(dir, "ledger", e.Name())
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[len(b)/2] ^= 0xff
		require.NoError(t, os.WriteFile(p, b, 0o644))
		names = append(names, e.Name())
	}
	require.NotEmpty(t, names)
	return names
}

// Item 1: a flipped byte in an sstable: ledger check names the damaged file
// and exits 1, journal export and tap end with an error (exit 1, the tap
// journaled nothing): no command hangs. Each runs in a child process with a
// deadline.
func TestCLIDamagedLedger(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A01001")
	for i := range 30 {
		_, _, code := cli(t, dir, "tap", "--card", "04A01001", "--gate", "rtm-metro/g1", "--exit",
			"--at", time.Date(2026, 11, 27, 10, i, 0, 0, time.UTC).Format(time.RFC3339))
		require.Equal(t, 0, code)
	}
	// Closing a ledger leaves its data in the WAL: an offline flush puts it
	// in an sstable.
	flushLedger(t, dir)
	names := corruptSST(t, dir)
	bin := os.Args[0]
	out, stderr, code := childCLI(t, bin, false, "--data", dir, "ledger", "check")
	assert.Equal(t, 1, code, out+stderr)
	assert.Contains(t, out, "damaged")
	assert.Contains(t, out, names[0], "ledger check names the damaged file")
	_, stderr, code = childCLI(t, bin, false, "--data", dir, "journal", "export")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, ".sst")
	_, stderr, code = childCLI(t, bin, false, "--data", dir, "tap", "--card", "04A01001", "--gate", "rtm-metro/g1", "--exit", "--at", "2026-11-27T12:00:00Z")
	assert.Equal(t, 1, code, "the tap is not accepted: ERROR, gate shut")
	assert.Contains(t, stderr, ".sst")
	assert.NotContains(t, stderr, "panic")
}

// flushLedger writes a data dir's ledger into sstables.
func flushLedger(t *testing.T, dir string) {
	t.Helper()
	l, err := ledger.Open(datadir.LedgerDir(dir), &ledger.Options{MustExist: true})
	require.NoError(t, err)
	require.NoError(t, l.Flush())
	require.NoError(t, l.Close())
}

// Item 2: the data dir's file system is full (a small tmpfs, filled up):
// the read-only commands still answer, a tap ends within seconds with a
// disk-full error and journals nothing; once space is freed the ledger
// works again with everything acknowledged before. Needs mount (root with
// CAP_SYS_ADMIN); the ledger's own tests cover a full disk with an
// injected ENOSPC everywhere.
func TestCLIFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): the full-disk CLI test needs it", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	dir := filepath.Join(mnt, "data")
	_, stderr, code := cli(t, dir, "init")
	require.Equal(t, 0, code, stderr)
	pass := sell(t, dir, "cp24-adult", "04A02001")
	_, _, code = cli(t, dir, "tap", "--card", "04A02001", "--gate", "mucem/main", "--at", "2026-11-27T10:00")
	require.Equal(t, 0, code)
	fill := filepath.Join(mnt, "fill")
	f, err := os.Create(fill)
	require.NoError(t, err)
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	require.NoError(t, f.Close())

	bin := os.Args[0]
	out, stderr, code := childCLI(t, bin, false, "--data", dir, "ledger", "check")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, ": OK")
	out, stderr, code = childCLI(t, bin, false, "--data", dir, "pass", "show", pass)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, pass)
	start := time.Now()
	_, stderr, code = childCLI(t, bin, false, "--data", dir, "tap", "--card", "04A02001", "--gate", "rtm-metro/g1", "--at", "2026-11-27T11:00")
	t.Logf("tap on a full disk: %s", stderr)
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "full")
	assert.Less(t, time.Since(start), 20*time.Second)

	require.NoError(t, os.Remove(fill))
	out, stderr, code = childCLI(t, bin, false, "--data", dir, "--json", "tap", "--card", "04A02001", "--gate", "rtm-metro/g1", "--at", "2026-11-27T11:00")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"decision":"accept"`)
	out, _, code = childCLI(t, bin, false, "--data", dir, "journal", "export")
	require.Equal(t, 0, code)
	assert.Equal(t, 3, strings.Count(out, "\n"), "both taps, nothing lost:\n%s", out)
}
