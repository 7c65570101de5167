package reconcile

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFPCountsMatchesAMap: the fingerprint table counts like a Go map of the
// original keys, across growth, zero key included.
func TestFPCountsMatchesAMap(t *testing.T) {
	var tab fpCounts
	want := map[string]int32{}
	var buf []byte
	for i := range 20000 {
		pass, day := fmt.Sprintf("P%d", i%7001), int32(i%3)
		key := fmt.Sprintf("%s/%d", pass, day)
		var k fp
		k, buf = fingerprint(buf, day, pass)
		assert.Equal(t, want[key], tab.get(k), key)
		want[key]++
		assert.Equal(t, want[key], tab.add(k, 1), key)
	}
	assert.Equal(t, len(want), tab.len())
	assert.Equal(t, int32(0), tab.get(fp{}))
	require.Equal(t, int32(2), tab.add(fp{}, 2))
	assert.Equal(t, len(want)+1, tab.len())

	// Parts are length-prefixed: ("ab","c") and ("a","bc") differ.
	a, _ := fingerprint(nil, 1, "ab", "c")
	b, _ := fingerprint(nil, 1, "a", "bc")
	assert.NotEqual(t, a, b)

	// Four slots to a cache line.
	assert.Equal(t, uintptr(16), unsafe.Sizeof(fpSlot{}))
}

// TestFPCountsAddBelow: addBelow counts like a map capped at the limit, and
// reports when the count was already there; the zero key too.
func TestFPCountsAddBelow(t *testing.T) {
	var tab fpCounts
	want := map[string]int32{}
	var buf []byte
	for i := range 30000 {
		pass, limit := fmt.Sprintf("P%d", i%4999), int32(1+i%3)
		var k fp
		k, buf = fingerprint(buf, limit, pass)
		key := fmt.Sprintf("%s/%d", pass, limit)
		added := tab.addBelow(k, limit)
		require.Equal(t, want[key] < limit, added, "%s at %d", key, i)
		if added {
			want[key]++
		}
		require.Equal(t, want[key], tab.get(k), key)
	}
	require.Equal(t, len(want), tab.len())
	assert.True(t, tab.addBelow(fp{}, 2))
	assert.True(t, tab.addBelow(fp{}, 2))
	assert.False(t, tab.addBelow(fp{}, 2))
	assert.Equal(t, int32(2), tab.get(fp{}))
	assert.Equal(t, len(want)+1, tab.len())
}
