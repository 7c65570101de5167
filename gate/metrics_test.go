package gate_test

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/gate"
)

// gauges gathers reg's unlabelled gauges by name.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if g := m.GetGauge(); g != nil {
				out[mf.GetName()] = g.GetValue()
			}
		}
	}
	return out
}

// TestSyncMetrics: the sync gauges show the status as it is at each
// scrape, and no state age before the node has any of the hub's state.
func TestSyncMetrics(t *testing.T) {
	var mu sync.Mutex
	st := gate.SyncStatus{Backlog: 3}
	reg := prometheus.NewRegistry()
	require.NoError(t, gate.NewSyncMetrics(reg, func() gate.SyncStatus {
		mu.Lock()
		defer mu.Unlock()
		return st
	}, func() time.Time { return now0 }))

	assert.Equal(t, map[string]float64{
		"citypass_gate_sync_acknowledged_seq": 0,
		"citypass_gate_sync_backlog":          3,
		"citypass_gate_sync_connected":        0,
	}, gauges(t, reg))

	mu.Lock()
	st = gate.SyncStatus{Acked: 42, Connected: true, StateAsOf: now0.Add(-90 * time.Second)}
	mu.Unlock()
	assert.Equal(t, map[string]float64{
		"citypass_gate_sync_acknowledged_seq":  42,
		"citypass_gate_sync_backlog":           0,
		"citypass_gate_sync_connected":         1,
		"citypass_gate_sync_state_age_seconds": 90,
	}, gauges(t, reg))
}
