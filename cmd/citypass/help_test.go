package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
)

// placeholder is what a flag's value is called in --help: FILE, DIR,
// YYYY-MM-DD, VENUE/GATE, HOST:PORT, N …
var placeholder = regexp.MustCompile(`^[A-Z][A-Z0-9]*([-/:][A-Z0-9]+)*$`)

// TestHelpIsTidy walks every command: each has a short description; each
// flag that takes a value names it with a placeholder in capitals (cobra
// takes the first `quoted` word of the usage, else the type: "string",
// "duration"), no other backquote is left to garble it, and a default pflag
// prints is not said again in the usage.
func TestHelpIsTidy(t *testing.T) {
	root := newRootCmd(&app{})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Name() != "completion" && c.Parent() != nil && c.Parent().Name() != "completion" {
			n++
			assert.NotEmpty(t, c.Short, "%s has a short description", c.CommandPath())
			assert.True(t, strings.HasPrefix(c.Use, c.Name()), "%s: Use %q starts with the command's name", c.CommandPath(), c.Use)
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				name, usage := pflag.UnquoteUsage(f)
				where := c.CommandPath() + " --" + f.Name
				assert.NotContains(t, usage, "`", "%s: a backquote is left in %q", where, usage)
				if f.Value.Type() != "bool" {
					assert.Regexp(t, placeholder, name, "%s: the value's placeholder", where)
					// The usage line calls the value the same.
					// The usage line calls the value the same (a list of
					// values such as csv|jsonl is not a placeholder; FILE.xml
					// is FILE).
					if m := regexp.MustCompile(`--` + f.Name + `[ =]([^\s\]|)]+)`).FindStringSubmatch(c.Use); m != nil {
						if v, _, _ := strings.Cut(m[1], "."); placeholder.MatchString(v) {
							assert.Equal(t, name, v, "%s: Use %q and --help name the value alike", where, c.Use)
						}
					}
				}
				switch f.DefValue {
				case "", "0", "false", "[]", "0s":
				default:
					assert.NotContains(t, usage, "default", "%s: pflag prints the default %q already", where, f.DefValue)
				}
			})
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	assert.Greater(t, n, 30, "commands walked")

	out, _, code := cli(t, t.TempDir(), "pass", "sell", "--help")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, 1, strings.Count(out, "citypass-data"), "the --data default is said once:\n%s", out)
	assert.Contains(t, out, "--card CARD")
	assert.Contains(t, out, "--data DIR")
}
