package archcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/citypass/citypass"

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list runs `go list -json` on the module's packages.
func list(t *testing.T) map[string]pkg {
	t.Helper()
	// The go command of the toolchain running the test, else the PATH's.
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gocmd); err != nil {
		gocmd = "go"
	}
	cmd := exec.Command(gocmd, "list", "-json=ImportPath,Imports,Deps", module+"/...")
	cmd.Dir = "../.."
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "go list: %s", errb.String())
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	require.Greater(t, len(pkgs), 20, "go list found the module's packages")
	return pkgs
}

func matches(path string, prefixes []string) bool {
	for _, pre := range prefixes {
		if path == pre || strings.HasPrefix(path, pre+"/") {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	pkgs := list(t)
	get := func(name string) pkg {
		p, ok := pkgs[name]
		require.True(t, ok, "package %s exists", name)
		return p
	}
	adapters := []string{module + "/ledger", module + "/cardio", module + "/fleet", module + "/web", module + "/reconcile",
		module + "/datadir", module + "/gate", module + "/bench", module + "/demo"}

	for _, imp := range get("engine").Imports {
		assert.False(t, matches(imp, []string{"os", "net", "os/exec", "syscall", "io/fs", "net/http"}), "engine imports %s, which does I/O", imp)
		assert.False(t, matches(imp, adapters), "engine imports %s", imp)
	}
	for _, imp := range get("tariff").Imports {
		assert.False(t, matches(imp, append([]string{module + "/engine"}, adapters...)), "tariff imports %s", imp)
		assert.False(t, matches(imp, []string{"net", "os/exec", "syscall"}), "tariff imports %s", imp)
	}
	cgo := []string{module + "/cardio/pcsc", "github.com/ebfe/scard"}
	for _, dep := range get("gate").Deps {
		assert.False(t, matches(dep, cgo), "gate depends on %s: it must build without cgo", dep)
	}
	nats := []string{"github.com/nats-io/nats.go", "github.com/nats-io/nats-server"}
	for _, name := range []string{"engine", "tariff", "ledger", "reconcile", "cardio"} {
		for _, dep := range get(name).Deps {
			assert.False(t, matches(dep, nats), "%s depends on %s", name, dep)
		}
	}
	for name, p := range pkgs {
		for _, imp := range p.Imports {
			if matches(imp, []string{"github.com/ebfe/scard"}) {
				assert.Equal(t, "cardio/pcsc", name, "%s imports %s", name, imp)
			}
			if matches(imp, nats) {
				assert.Equal(t, "fleet/natsio", name, "%s imports %s", name, imp)
			}
		}
	}
}
