package doccheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// root is the repository's top directory.
const root = "../.."

var (
	// A citation: docs/<name>.md, then optionally the section in quotes, after
	// a comma or in parentheses.
	citation = regexp.MustCompile(`docs/([A-Za-z0-9._-]+\.md)(?:(?:,\s*|\s*\(\s*)"([^"]+)")?`)
	// A comment's or a Markdown list's line break inside a citation.
	continuation = regexp.MustCompile(`\n[ \t]*(?://|#)?[ \t]*`)
	heading      = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$`)
)

// sources lists the files whose citations are checked: Go, Markdown, TOML
// and shell files, outside testdata and hidden directories.
func sources(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".go", ".md", ".toml", ".sh":
			out = append(out, path)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// headings returns the headings of the document docs/name, or false when
// it does not exist.
func headings(t *testing.T, name string, cache map[string]map[string]bool) (map[string]bool, bool) {
	t.Helper()
	if h, ok := cache[name]; ok {
		return h, h != nil
	}
	b, err := os.ReadFile(filepath.Join(root, "docs", name))
	if os.IsNotExist(err) {
		cache[name] = nil
		return nil, false
	}
	require.NoError(t, err)
	h := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
		h[strings.Trim(m[1], "`")] = true
	}
	cache[name] = h
	return h, true
}

// names reports whether section is one of the headings h, or the start of
// one up to its punctuation ("Taps up" names "Taps up, exactly once").
func names(h map[string]bool, section string) bool {
	if h[section] {
		return true
	}
	for k := range h {
		if rest, ok := strings.CutPrefix(k, section); ok && rest != "" && strings.ContainsRune(",:;(—", []rune(rest)[0]) {
			return true
		}
	}
	return false
}

func TestCitationsOfDocsResolve(t *testing.T) {
	cache := map[string]map[string]bool{}
	var problems []string
	n := 0
	for _, path := range sources(t) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		text := continuation.ReplaceAllString(string(b), " ")
		for _, m := range citation.FindAllStringSubmatch(text, -1) {
			n++
			rel, _ := filepath.Rel(root, path)
			h, ok := headings(t, m[1], cache)
			switch {
			case !ok:
				problems = append(problems, rel+": cites docs/"+m[1]+", which does not exist")
			case m[2] != "" && !names(h, m[2]):
				problems = append(problems, rel+": cites docs/"+m[1]+", \""+m[2]+"\", which is no heading there")
			}
		}
	}
	sort.Strings(problems)
	require.Empty(t, problems)
	require.Greater(t, n, 10, "the walk found too few citations to prove anything")
}

// outside names documents that are not in the repository: the product
// spec and the research notes the project started from. Code cites
// docs/*.md instead, which say the same in the repository's own words.
var outside = regexp.MustCompile(`\bSPEC(\.md)?\s*§|\bSPEC\.md\b|\bresearch[/ ](§|E[0-9]|[a-z]+\.md)|\brules §`)

// TestCodeCitesOnlyTheRepository: no Go, TOML or shell file cites a
// document outside the repository.
func TestCodeCitesOnlyTheRepository(t *testing.T) {
	var problems []string
	n := 0
	for _, path := range sources(t) {
		if filepath.Ext(path) == ".md" {
			continue
		}
		n++
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		text := continuation.ReplaceAllString(string(b), " ")
		for _, m := range outside.FindAllString(text, -1) {
			rel, _ := filepath.Rel(root, path)
			problems = append(problems, rel+": cites "+m+", which is not in the repository (cite docs/*.md)")
		}
	}
	sort.Strings(problems)
	require.Empty(t, problems)
	require.Greater(t, n, 100, "the walk found too few files")
}
