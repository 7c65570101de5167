package pcscd_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/pcsc/pcscd"
	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
)

// TestStartInsertRestartClose runs a daemon, reads a card on each slot,
// restarts pcscd and closes it: stopped by PID, its directory removed.
func TestStartInsertRestartClose(t *testing.T) {
	pcsctest.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d, err := pcscd.Start(ctx, pcscd.Options{FriendlyName: "CityPass Unit PCD"})
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			assert.NoError(t, d.Close())
		}
	})
	assert.Equal(t, "CityPass Unit PCD 00 01", d.Reader(1))
	assert.Equal(t, d.Port(0)+1, d.Port(1))
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(d.Port(1)), d.Addr(1))
	names, err := pcsc.ListReaders()
	require.NoError(t, err)
	for slot := range pcscd.Slots {
		assert.Contains(t, names, d.Reader(slot))
	}

	for i, slot := range []int{0, 1} {
		uid := []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, byte(i)}
		in, err := d.Insert(ctx, slot, &pcsctest.UIDCard{UID: uid}, nil)
		require.NoError(t, err)
		c, err := pcsc.WaitCard(ctx, d.Reader(slot))
		require.NoError(t, err, "slot %d", slot)
		rsp, err := c.Transmit(pcsctest.GetUID)
		require.NoError(t, err)
		assert.Equal(t, append(uid, 0x90, 0x00), rsp, "slot %d", slot)
		require.NoError(t, c.Close())
		require.NoError(t, in.Close())
	}
	_, err = d.Insert(ctx, 2, &pcsctest.UIDCard{}, nil)
	assert.ErrorContains(t, err, "slot 2")

	pid := d.PID()
	require.Positive(t, pid)
	require.NoError(t, d.Restart(ctx))
	assert.NotEqual(t, pid, d.PID())
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the first pcscd was stopped by PID")
	assert.Equal(t, 2, d.Starts())
	log, err := os.ReadFile(filepath.Join(d.Dir(), "pcscd.log"))
	require.NoError(t, err)
	assert.Equal(t, string(log), d.Log())
	conf, err := os.ReadFile(filepath.Join(d.Dir(), "reader.conf.d", "vpcd"))
	require.NoError(t, err)
	assert.Contains(t, string(conf), `FRIENDLYNAME "CityPass Unit PCD"`)

	pid, dir := d.PID(), d.Dir()
	require.NoError(t, d.Close())
	closed = true
	assert.Zero(t, d.PID())
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH)
	assert.NoDirExists(t, dir, "Close removes the directory Start made")
	_, err = pcsc.ListReaders()
	assert.ErrorIs(t, err, pcsc.ErrServiceDown)
	assert.Error(t, d.Restart(ctx), "no Restart after Close")
	require.NoError(t, d.Close(), "Close twice")

	// The next Start of this process may go ahead.
	d2, err := pcscd.Start(ctx, pcscd.Options{})
	require.NoError(t, err)
	assert.Equal(t, pcscd.DefaultFriendlyName+" 00 00", d2.Reader(0))
	require.NoError(t, d2.Close())
}

func TestOptionsErrors(t *testing.T) {
	pcsctest.Require(t)
	_, err := pcscd.Start(t.Context(), pcscd.Options{StopGrace: -1})
	assert.ErrorContains(t, err, "negative")
	// A failed Start holds nothing: the next one goes ahead.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	d, err := pcscd.Start(ctx, pcscd.Options{})
	require.NoError(t, err)
	require.NoError(t, d.Close())
}

// TestAvailableSaysWhy points the package at a missing daemon and driver.
func TestAvailableSaysWhy(t *testing.T) {
	old := pcscd.PcscdPath
	pcscd.PcscdPath = "/nonexistent/pcscd"
	err := pcscd.Available()
	pcscd.PcscdPath = old
	require.ErrorIs(t, err, pcscd.ErrUnavailable)
	assert.ErrorContains(t, err, "/nonexistent/pcscd not found")
	pcscd.PcscdPath = "/nonexistent/pcscd"
	_, err = pcscd.Start(t.Context(), pcscd.Options{})
	pcscd.PcscdPath = old
	require.ErrorIs(t, err, pcscd.ErrUnavailable, "Start checks Available")

	old = pcscd.DriverPath
	pcscd.DriverPath = "/nonexistent/libifdvpcd.so"
	err = pcscd.Available()
	pcscd.DriverPath = old
	require.ErrorIs(t, err, pcscd.ErrUnavailable)
	assert.ErrorContains(t, err, "vsmartcard-vpcd")
}
