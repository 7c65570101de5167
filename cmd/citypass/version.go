package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { registerCommand("version", newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	return localCmd(&cobra.Command{
		Use:   "version",
		Short: "Print the citypass version: module version, commit and its date (from the build)",
		Long: `Prints what was built: the module version, the commit and its date, the platform and the Go
release, from what the build recorded in the binary.

The commit is known when the binary was built
  - with ` + "`make build`" + ` (it reads the commit with git and passes it to the linker), in a clone or a
    git worktree;
  - with ` + "`go build`" + ` in a clone whose .git is a directory, with Go's VCS stamping on (-buildvcs,
    on by default; a GOFLAGS=-buildvcs=false in the environment turns it off);
  - with ` + "`go install github.com/citypass/citypass/cmd/citypass@VERSION`" + ` (the module version).
Otherwise it says "commit unknown": a ` + "`go build`" + ` in a git worktree (its .git is a file, which
Go does not take for a repository), from a source archive, or with stamping off. "+changes"
after the commit means the checkout had uncommitted changes.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi, _ := debug.ReadBuildInfo()
			fmt.Fprintln(a.stdout, versionLine(bi, linkerStamp))
			return nil
		},
	})
}

// Set by `make build` with -ldflags -X from git (the Makefile's
// VERSION_LDFLAGS): the commit, its time (RFC 3339, UTC) and "true" for a
// checkout with uncommitted changes. Go's own VCS stamping takes precedence
// when it has a commit; these cover a git worktree, whose .git file Go does
// not recognise, and builds with -buildvcs=false.
var (
	buildCommit string
	buildTime   string
	buildDirty  string
)

// stamp is a commit as a build recorded it.
type stamp struct {
	commit, time string
	dirty        bool
}

// linkerStamp is what the linker was given.
var linkerStamp = stamp{commit: buildCommit, time: buildTime, dirty: buildDirty == "true"}

// versionLine says what was built, from the build information Go records
// in the binary, else from the linker's stamp: "citypass v1.2.0 commit
// 3bf4b08c1e2f (2026-11-28T12:15:00Z) linux/amd64 go1.26.8". A build outside
// a module says "(devel)"; without a commit from either, "commit unknown"; a
// checkout with uncommitted changes adds "+changes".
func versionLine(bi *debug.BuildInfo, ld stamp) string {
	v := "(devel)"
	var vcs stamp
	if bi != nil {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcs.commit = s.Value
			case "vcs.time":
				vcs.time = s.Value
			case "vcs.modified":
				vcs.dirty = s.Value == "true"
			}
		}
	}
	st := vcs
	if st.commit == "" {
		st = ld
	}
	commit := st.commit
	if commit == "" {
		commit = "unknown"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	line := "citypass " + v + " commit " + commit
	if st.dirty {
		line += "+changes"
	}
	if st.time != "" {
		line += " (" + st.time + ")"
	}
	return fmt.Sprintf("%s %s/%s %s", line, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
