package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// systemdWords splits a unit file value into words as systemd does for
// Environment= and ExecStart=: on whitespace, with "…" and '…' quoting
// (the quotes removed) and backslash escapes. ok is false for an unclosed
// quote.
func systemdWords(s string) (words []string, ok bool) {
	var w strings.Builder
	in, quote, escaped := false, rune(0), false
	for _, r := range s {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, in = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words, quote == 0 && !escaped
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// TestSystemdUnits: every unit in packaging/systemd runs a citypass
// command line that the CLI accepts (its command exists, its flags parse,
// required flags are there), with the unit's own Environment= defaults and
// with the values its comments and the README tell an operator to put in
// its EnvironmentFile; every Environment= assignment is one systemd
// accepts (a value with spaces must be quoted, or systemd splits it and
// drops the rest); each runs as the citypass user with CITYPASS_DATA as
// its only writable path.
func TestSystemdUnits(t *testing.T) {
	units, err := filepath.Glob("../../packaging/systemd/*.service")
	require.NoError(t, err)
	require.Len(t, units, 4)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)

	// What the README and the units' comments put in the environment
	// files; each unit is also tried with its optional files empty.
	envFiles := map[string][]map[string]string{
		"citypass-gate@.service": {
			{"CITYPASS_GATE": "mucem/g1"},
			{"CITYPASS_GATE": "mucem/g1", "CITYPASS_READER": "ACS ACR1252", "CITYPASS_GATE_ARGS": "--on-accept /usr/local/lib/citypass/open-gate"},
		},
		"citypass-hub.service": {
			{},
			{"CITYPASS_HUB_ARGS": "--dashboard 127.0.0.1:8080"},
			{"CITYPASS_HUB_ARGS": "--dashboard 0.0.0.0:8080 --dashboard-token-file /etc/citypass/web.token --metrics 127.0.0.1:9464"},
		},
		"citypass-serve.service": {
			{},
			{"CITYPASS_SERVE_ARGS": "--listen 0.0.0.0:8080 --token-file /etc/citypass/web.token"},
		},
		"citypass-sync.service": {{}},
	}
	for _, path := range units {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			assert.Contains(t, string(readme), name, "the README names the unit")
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			env := map[string]string{}
			var exec, user string
			var writable []string
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
					continue
				}
				key, value, ok := strings.Cut(line, "=")
				require.True(t, ok, "%s: %q", name, line)
				switch key {
				case "Environment":
					words, ok := systemdWords(value)
					require.True(t, ok, "%s: unclosed quote in %q", name, line)
					for _, w := range words {
						k, v, ok := strings.Cut(w, "=")
						require.True(t, ok && envName.MatchString(k),
							"%s: systemd ignores %q in %q (quote a value with spaces: Environment=\"NAME=a b\")", name, w, line)
						env[k] = v
					}
				case "ExecStart":
					exec = value
				case "User":
					user = value
				case "ReadWritePaths":
					writable = strings.Fields(value)
				}
			}
			require.NoError(t, sc.Err())
			assert.Equal(t, "citypass", user)
			assert.Equal(t, []string{env["CITYPASS_DATA"]}, writable, "the data dir is the only writable path")
			assert.Equal(t, "/var/lib/citypass", env["CITYPASS_DATA"])
			require.NotEmpty(t, exec)

			cases := envFiles[name]
			require.NotEmpty(t, cases, "%s: say what its environment file holds", name)
			for _, file := range cases {
				vars := map[string]string{}
				for k, v := range env {
					vars[k] = v
				}
				for k, v := range file {
					vars[k] = v
				}
				words, ok := systemdWords(exec)
				require.True(t, ok)
				// systemd's expansion: a word that is exactly $NAME becomes the
				// value's words; ${NAME} is replaced within its word.
				var argv []string
				for _, w := range words {
					w = strings.ReplaceAll(w, "%i", "mucem-g1")
					if m := regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`).FindStringSubmatch(w); m != nil {
						argv = append(argv, strings.Fields(vars[m[1]])...)
						continue
					}
					argv = append(argv, regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).ReplaceAllStringFunc(w, func(s string) string {
						return vars[s[2:len(s)-1]]
					}))
				}
				require.Equal(t, "/usr/local/bin/citypass", argv[0], "the path the README installs to")
				root := newRootCmd(&app{})
				cmd, rest, err := root.Find(argv[1:])
				require.NoError(t, err, "%s: %v", name, argv)
				require.NotEqual(t, root, cmd, "%s: %v names a command", name, argv)
				require.NoError(t, cmd.ParseFlags(rest), "%s: %v", name, argv)
				require.NoError(t, cmd.ValidateRequiredFlags(), "%s: %v", name, argv)
				require.NoError(t, cmd.ValidateArgs(cmd.Flags().Args()), "%s: %v", name, argv)
				for _, f := range []string{"listen", "dashboard"} {
					if fl := cmd.Flags().Lookup(f); fl != nil && fl.Changed {
						assert.NotEmpty(t, fl.Value.String(), "%s: %v: --%s has its value", name, argv, f)
					}
				}
			}
		})
	}
}
