//go:build !linux

package vpcd

import (
	"errors"
	"net"
	"syscall"
)

// quickAck is a no-op where TCP_QUICKACK does not exist.
func quickAck(net.Conn) error { return nil }

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
