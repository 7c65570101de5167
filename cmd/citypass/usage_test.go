package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsageErrorsAreTyped: every mistake in the command line that cobra
// finds itself exits 2, and help exits 0, without looking at messages.
func TestUsageErrorsAreTyped(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown command", []string{"tapp"}, `unknown command "tapp"`},
		{"unknown sub-command", []string{"pass", "sel"}, `unknown command "sel" for "citypass pass"; did you mean sell?`},
		{"unknown sub-sub-command", []string{"card", "keys", "rotate"}, `unknown command "rotate"`},
		{"too many arguments", []string{"version", "now"}, ""},
		{"missing argument", []string{"tariff", "check"}, ""},
		{"unknown flag", []string{"version", "--colour"}, "unknown flag"},
		{"flag without value", []string{"tap", "--card"}, "flag needs an argument"},
		{"bad flag value", []string{"tap", "--card", "04AA", "--gate", "g", "--seq", "x"}, "invalid argument"},
		{"missing required flag", []string{"pass", "sell", "--card", "04A1B2C3D4E5F6"}, `required flag(s) "product" not set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := cli(t, dir, tc.args...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, strings.ToLower(stderr), strings.ToLower(tc.want))
		})
	}
	for _, args := range [][]string{{}, {"pass"}, {"card", "keys"}, {"help"}, {"pass", "--help"}} {
		out, stderr, code := cli(t, dir, args...)
		assert.Equal(t, exitOK, code, "%v: %s", args, stderr)
		assert.Contains(t, out, "Usage:", "%v prints help", args)
	}
}

// TestEveryCommandTypesItsUsageErrors: the walk reaches every command, so
// none is left to cobra's untyped errors.
func TestEveryCommandTypesItsUsageErrors(t *testing.T) {
	root := newRootCmd(&app{})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		require.NotNil(t, c.PreRunE, "%s checks its required flags as a usage error", c.CommandPath())
		if c.HasSubCommands() {
			require.True(t, c.Runnable(), "%s prints its help", c.CommandPath())
			require.NotNil(t, c.Args, "%s refuses unknown sub-commands", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	assert.Greater(t, n, 20, "commands walked")
}
