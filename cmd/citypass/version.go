package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { registerCommand("version", newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the citypass version: module version, commit and its date (from the build)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi, _ := debug.ReadBuildInfo()
			fmt.Fprintln(a.stdout, versionLine(bi))
			return nil
		},
	}
}

// versionLine says what was built, from the build information Go records
// in the binary: "citypass v1.2.0 commit 3bf4b08c1e2f (2026-11-28T12:15:00Z)
// linux/amd64 go1.26.8". A build outside a module or a VCS checkout says
// "(devel)" and "commit unknown"; a checkout with uncommitted changes adds
// "+changes".
func versionLine(bi *debug.BuildInfo) string {
	v, commit, date, dirty := "(devel)", "unknown", "", false
	if bi != nil {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	line := "citypass " + v + " commit " + commit
	if dirty {
		line += "+changes"
	}
	if date != "" {
		line += " (" + date + ")"
	}
	return fmt.Sprintf("%s %s/%s %s", line, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
