package vpcd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio/vpcd"
)

// fakeVPCD plays the driver's side of the protocol on a loopback listener.
type fakeVPCD struct {
	t  *testing.T
	ln net.Listener
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{t: t, ln: ln}
}

func (f *fakeVPCD) addr() string { return f.ln.Addr().String() }

func (f *fakeVPCD) accept() net.Conn {
	f.t.Helper()
	require.NoError(f.t, f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5*time.Second)))
	c, err := f.ln.Accept()
	require.NoError(f.t, err)
	require.NoError(f.t, c.SetDeadline(time.Now().Add(5*time.Second)))
	f.t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	// Split like Debian's vpcd 0.8 does: length and body in two writes.
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], uint16(len(msg)))
	_, err := c.Write(hdr[:])
	require.NoError(t, err)
	_, err = c.Write(msg)
	require.NoError(t, err)
}

func recv(t *testing.T, c net.Conn) []byte {
	t.Helper()
	var hdr [2]byte
	_, err := io.ReadFull(c, hdr[:])
	require.NoError(t, err)
	msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err = io.ReadFull(c, msg)
	require.NoError(t, err)
	return msg
}

// scriptCard answers GET UID and fails on a "tear" command.
type scriptCard struct {
	mu     sync.Mutex
	resets int
	cmds   [][]byte
}

var (
	testATR = []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}
	getUID  = []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}
	tear    = []byte{0x00, 0xB0, 0x00, 0x00, 0x00}
	uidRsp  = []byte{0x04, 0xA2, 0x3B, 0x5A, 0x6C, 0x12, 0x90, 0x90, 0x00}
)

func (c *scriptCard) ATR() []byte { return testATR }

func (c *scriptCard) Transmit(cmd []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cmds = append(c.cmds, cmd)
	switch {
	case bytes.Equal(cmd, getUID):
		return uidRsp, nil
	case bytes.Equal(cmd, tear):
		return nil, errors.New("torn")
	}
	return []byte{0x6D, 0x00}, nil
}

func (c *scriptCard) Reset() {
	c.mu.Lock()
	c.resets++
	c.mu.Unlock()
}

func (c *scriptCard) resetCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

func TestInsertProtocol(t *testing.T) {
	f := newFakeVPCD(t)
	card := &scriptCard{}
	var traced int
	in, err := vpcd.Insert(t.Context(), f.addr(), card, &vpcd.Options{OnTransmit: func(cmd, rsp []byte, err error) { traced++ }})
	require.NoError(t, err)
	c := f.accept()

	send(t, c, []byte{0x04})
	assert.Equal(t, testATR, recv(t, c), "get ATR")
	send(t, c, []byte{0x01}) // power on: no answer
	send(t, c, []byte{0x02}) // reset: no answer
	send(t, c, getUID)
	assert.Equal(t, uidRsp, recv(t, c), "APDU answer follows the control messages without a stray frame")
	send(t, c, []byte{0x00}) // power off
	send(t, c, []byte{0x04})
	assert.Equal(t, testATR, recv(t, c))
	assert.Equal(t, 3, card.resetCount(), "power on, reset and power off reset the card")
	assert.Equal(t, uint64(1), in.APDUs())
	assert.NoError(t, in.Err(), "still inserted")

	require.NoError(t, in.Close())
	assert.ErrorIs(t, in.Err(), vpcd.ErrRemoved)
	// Removal is seen by the reader as EOF.
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 1, traced)
}

func TestInsertLongAnswer(t *testing.T) {
	f := newFakeVPCD(t)
	big := bytes.Repeat([]byte{0xAB}, 4096)
	in, err := vpcd.Insert(t.Context(), f.addr(), cardFunc(func(cmd []byte) ([]byte, error) {
		return append(append([]byte(nil), big...), 0x90, 0x00), nil
	}), nil)
	require.NoError(t, err)
	defer in.Close()
	c := f.accept()
	long := bytes.Repeat([]byte{0x11}, 3000)
	send(t, c, long)
	rsp := recv(t, c)
	require.Len(t, rsp, 4098)
	assert.Equal(t, []byte{0x90, 0x00}, rsp[4096:])
}

type cardFunc func([]byte) ([]byte, error)

func (f cardFunc) ATR() []byte                         { return testATR }
func (f cardFunc) Transmit(cmd []byte) ([]byte, error) { return f(cmd) }

func TestCardFailureRemovesCard(t *testing.T) {
	f := newFakeVPCD(t)
	in, err := vpcd.Insert(t.Context(), f.addr(), &scriptCard{}, nil)
	require.NoError(t, err)
	c := f.accept()
	send(t, c, tear)
	// No answer: the connection closes as if the card left the field.
	_, err = c.Read(make([]byte, 2))
	assert.ErrorIs(t, err, io.EOF)
	<-in.Done()
	assert.ErrorContains(t, in.Err(), "torn")
	assert.ErrorContains(t, in.Close(), "torn", "Close reports why the card had already left")
}

func TestReaderClosed(t *testing.T) {
	f := newFakeVPCD(t)
	in, err := vpcd.Insert(t.Context(), f.addr(), &scriptCard{}, nil)
	require.NoError(t, err)
	c := f.accept()
	require.NoError(t, c.Close())
	<-in.Done()
	assert.ErrorIs(t, in.Err(), vpcd.ErrReaderClosed)
}

func TestRedialAfterReaderRestart(t *testing.T) {
	f := newFakeVPCD(t)
	in, err := vpcd.Insert(t.Context(), f.addr(), &scriptCard{}, &vpcd.Options{Redial: 10 * time.Millisecond})
	require.NoError(t, err)
	defer in.Close()
	c := f.accept()
	send(t, c, []byte{0x04})
	assert.Equal(t, testATR, recv(t, c))
	require.NoError(t, c.Close())

	c2 := f.accept()
	send(t, c2, getUID)
	assert.Equal(t, uidRsp, recv(t, c2))
	assert.Equal(t, 2, in.Sessions())
	assert.NoError(t, in.Err())
}

func TestContextCancelRemovesCard(t *testing.T) {
	f := newFakeVPCD(t)
	ctx, cancel := context.WithCancel(t.Context())
	in, err := vpcd.Insert(ctx, f.addr(), &scriptCard{}, nil)
	require.NoError(t, err)
	c := f.accept()
	cancel()
	<-in.Done()
	assert.ErrorIs(t, in.Err(), vpcd.ErrRemoved)
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	assert.NoError(t, in.Close())
}

func TestInsertNoReader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = vpcd.Insert(t.Context(), addr, &scriptCard{}, nil)
	assert.ErrorContains(t, err, "vpcd: connecting to "+addr)
	_, err = vpcd.Insert(t.Context(), addr, nil, nil)
	assert.Error(t, err)
}

// powerCard records the power control calls it gets.
type powerCard struct {
	scriptCard
	calls []string
}

func (c *powerCard) PowerOn()  { c.calls = append(c.calls, "on") }
func (c *powerCard) PowerOff() { c.calls = append(c.calls, "off") }
func (c *powerCard) Reset()    { c.calls = append(c.calls, "reset") }

func TestPowerControl(t *testing.T) {
	f := newFakeVPCD(t)
	card := &powerCard{}
	in, err := vpcd.Insert(t.Context(), f.addr(), card, nil)
	require.NoError(t, err)
	c := f.accept()
	send(t, c, []byte{0x01})
	send(t, c, []byte{0x02})
	send(t, c, []byte{0x00})
	send(t, c, []byte{0x04})
	assert.Equal(t, testATR, recv(t, c))
	require.NoError(t, in.Close())
	assert.Equal(t, []string{"on", "reset", "off"}, card.calls)
}
