package explain

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryPrefixIsDropped reads the repository's sources and checks that
// every error text a package starts with its own name ("ledger: …") loses
// that prefix in a sentence, wherever the error is wrapped: a package that
// adds sentinels with a new prefix must be listed in packagePrefixes.
func TestEveryPrefixIsDropped(t *testing.T) {
	root := filepath.Join("..")
	pkgs := map[string]bool{}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			pkgs[filepath.Base(filepath.Dir(path))] = true
			files = append(files, path)
		}
		return nil
	})
	require.NoError(t, err)
	prefixed := regexp.MustCompile(`^([a-z0-9]+): `)
	seen := 0
	fset := token.NewFileSet()
	for _, path := range files {
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, path, src, 0)
		require.NoError(t, err, path)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !(sel.Sel.Name == "New" || sel.Sel.Name == "Errorf") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			text, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			m := prefixed.FindStringSubmatch(text)
			if m == nil || !pkgs[m[1]] || m[1] == "main" {
				return true
			}
			seen++
			for _, e := range []error{errors.New(text), fmt.Errorf("doing it: %w", errors.New(text))} {
				got := Sentence(e)
				assert.False(t, strings.HasPrefix(strings.ToLower(got), m[0]) || strings.Contains(got, ": "+m[0]),
					"%s: %q keeps its package prefix: %q (add %q to packagePrefixes)", fset.Position(lit.Pos()), text, got, m[0])
			}
			return true
		})
	}
	assert.Greater(t, seen, 200, "error texts with a package prefix found")
}
