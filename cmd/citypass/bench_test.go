package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBenchCLIUnknownWorkloadIsUsage(t *testing.T) {
	_, stderr, code := cli(t, t.TempDir(), "bench", "--only", "gate2")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `Unknown workload "gate2"`)
}

func TestBenchCLIJSONIsOneObject(t *testing.T) {
	// Workloads that need no child process: the test binary is not citypass.
	stdout, stderr, code := cli(t, t.TempDir(), "--json", "bench", "--quick", "--only", "decide")
	var m map[string]json.RawMessage
	dec := json.NewDecoder(stringsReader(stdout))
	require.NoError(t, dec.Decode(&m), stdout)
	assert.False(t, dec.More(), "exactly one JSON object on stdout")
	assert.Contains(t, m, "decide")
	assert.NotContains(t, m, "gate1", "only the workloads asked for")
	assert.Contains(t, stderr, "bench: decide run 1", "progress goes to stderr")

	var checks struct {
		Checks []struct {
			Name string
			Pass bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &checks))
	require.Len(t, checks.Checks, 1)
	assert.Equal(t, "decide ns/op", checks.Checks[0].Name)
	if checks.Checks[0].Pass {
		assert.Equal(t, exitOK, code)
	} else {
		assert.Equal(t, exitError, code, "a failed target exits 1")
	}
}

func TestBenchCLITable(t *testing.T) {
	stdout, _, code := cli(t, t.TempDir(), "bench", "--quick", "--only", "decide")
	assert.Contains(t, stdout, "per decision")
	assert.Contains(t, stdout, "median of 3 runs")
	if strings.Contains(stdout, "FAIL") {
		assert.Equal(t, exitError, code)
	} else {
		assert.Contains(t, stdout, "PASS")
		assert.Equal(t, exitOK, code)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
