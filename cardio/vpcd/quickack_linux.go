package vpcd

import (
	"errors"
	"net"
	"syscall"
)

// quickAck sets TCP_QUICKACK on conn so the kernel acknowledges the next
// segment at once instead of delaying the ACK (up to 40 ms) while vpcd waits
// to send the second half of a split message.
func quickAck(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
	return errors.Join(err, serr)
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
