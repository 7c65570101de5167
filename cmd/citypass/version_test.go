package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVersionLine(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "3bf4b08c1e2fa0d9e8b7c6a5f4e3d2c1b0a99887"},
		{Key: "vcs.time", Value: "2026-11-28T12:15:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	ld := stamp{commit: "aaaaaaaaaaaabbbbbbbb", time: "2026-12-01T08:00:00Z"}
	assert.True(t, strings.HasPrefix(versionLine(bi, stamp{}), "citypass v1.4.0 commit 3bf4b08c1e2f+changes (2026-11-28T12:15:00Z) "), versionLine(bi, stamp{}))
	assert.True(t, strings.HasPrefix(versionLine(bi, ld), "citypass v1.4.0 commit 3bf4b08c1e2f+changes "), "Go's own stamp comes first")
	assert.True(t, strings.HasPrefix(versionLine(nil, stamp{}), "citypass (devel) commit unknown "), versionLine(nil, stamp{}))
	// A git worktree: Go stamps nothing, the linker's stamp from `make
	// build` says the commit.
	worktree := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	assert.True(t, strings.HasPrefix(versionLine(worktree, ld), "citypass (devel) commit aaaaaaaaaaaa (2026-12-01T08:00:00Z) "), versionLine(worktree, ld))
	ld.dirty = true
	assert.Contains(t, versionLine(worktree, ld), "commit aaaaaaaaaaaa+changes")
	assert.NotContains(t, versionLine(&debug.BuildInfo{}, stamp{}), "dev ")
}
