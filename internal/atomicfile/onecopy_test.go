package atomicfile_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnlyPlaceThatRenames: no other package of the module moves a file
// into place itself (os.Rename or os.Link outside tests): a file written
// for others to read goes through this package, which syncs the file and
// its directory, rather than through a copy that may forget one of them.
func TestOnlyPlaceThatRenames(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	fset := token.NewFileSet()
	files := 0
	var found []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == filepath.Join("internal", "atomicfile") || rel == "testdata" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		os := "" // the name the file imports package os under
		for _, im := range f.Imports {
			if im.Path.Value == `"os"` {
				os = "os"
				if im.Name != nil {
					os = im.Name.Name
				}
			}
		}
		if os == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == os && (sel.Sel.Name == "Rename" || sel.Sel.Name == "Link") {
				found = append(found, fset.Position(sel.Pos()).String())
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 100, "the walk saw the module's sources")
	assert.Empty(t, found, "these move files into place without internal/atomicfile")
}
