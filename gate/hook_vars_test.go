package gate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/gate"
)

// TestHookVarsDocumentHookEnv: the list `gate --help` prints is exactly the
// variables a hook gets, in order.
func TestHookVarsDocumentHookEnv(t *testing.T) {
	env := gate.HookEnv(&gate.Outcome{})
	require.Len(t, env, len(gate.HookVars))
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		assert.Equal(t, gate.HookVars[i].Name, name)
		assert.NotEmpty(t, gate.HookVars[i].Meaning)
	}
}
