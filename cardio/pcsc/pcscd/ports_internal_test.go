package pcscd

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio/pcsc"
)

// TestStartOnTakenPorts: when another process takes a vpcd port between
// its choice and pcscd's start, the slot is never listed and Start tries
// again on another pair.
func TestStartOnTakenPorts(t *testing.T) {
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pcscd: %v (CI=true: the pcscd end-to-end tests must run)", err)
		}
		t.Skipf("pcscd: %v; install pcscd and vsmartcard-vpcd and run as root", err)
	}
	// Another process's listeners on a pair of ports, as vpcd binds them.
	var taken []net.Listener
	for try := 0; try < 10 && taken == nil; try++ {
		p, err := freePortPair()
		require.NoError(t, err)
		var pair []net.Listener
		for _, port := range []int{p, p + 1} {
			if l, err := net.Listen("tcp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port))); err == nil {
				pair = append(pair, l)
			}
		}
		if len(pair) == 2 {
			taken = pair
			break
		}
		for _, l := range pair {
			l.Close()
		}
	}
	require.Len(t, taken, 2, "a pair of ports to take")
	for _, l := range taken {
		defer l.Close()
	}
	busy := taken[0].Addr().(*net.TCPAddr).Port
	picks := 0
	defer func(f func() (int, error)) { pickPortPair = f }(pickPortPair)
	pickPortPair = func() (int, error) {
		picks++
		if picks == 1 {
			return busy, nil
		}
		return freePortPair()
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d, err := Start(ctx, Options{FriendlyName: "CityPass Taken PCD", ReadyTimeout: 3 * time.Second})
	require.NoError(t, err)
	defer func() { assert.NoError(t, d.Close()) }()
	assert.Equal(t, 2, picks, "a second pair after the taken one")
	assert.NotEqual(t, busy, d.Port(0))
	names, err := pcsc.ListReaders()
	require.NoError(t, err)
	for slot := range Slots {
		assert.Contains(t, names, d.Reader(slot))
	}
}
