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
	assert.True(t, strings.HasPrefix(versionLine(bi), "citypass v1.4.0 commit 3bf4b08c1e2f+changes (2026-11-28T12:15:00Z) "), versionLine(bi))
	assert.True(t, strings.HasPrefix(versionLine(nil), "citypass (devel) commit unknown "), versionLine(nil))
	assert.NotContains(t, versionLine(&debug.BuildInfo{}), "dev ")
}
