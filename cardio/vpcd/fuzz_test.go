package vpcd

import (
	"io"
	"net"
	"testing"
)

type echoCard struct{}

func (echoCard) ATR() []byte { return []byte{0x3B, 0x80, 0x80, 0x01, 0x01} }
func (echoCard) Transmit(cmd []byte) ([]byte, error) {
	return append(cmd[:len(cmd):len(cmd)], 0x90, 0x00), nil
}
func (echoCard) Reset() {}

// FuzzServe feeds arbitrary bytes from the reader's side: framing, control
// bytes, truncated frames. The card side must answer or fail, never panic
// or hang.
func FuzzServe(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x04})
	f.Add([]byte{0x00, 0x01, 0x01, 0x00, 0x05, 0xFF, 0xCA, 0x00, 0x00, 0x00})
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01, 0x03})
	f.Add([]byte{0xFF, 0xFF, 0x00})
	f.Add([]byte{0x00, 0x00})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		reader, card := net.Pipe()
		in := &Insertion{card: echoCard{}}
		done := make(chan error, 1)
		go func() { done <- in.serve(card) }()
		go func() {
			// Drain answers so the card never blocks on a write.
			io.Copy(io.Discard, reader)
		}()
		go func() {
			// serve may stop reading early (an answer too long for a
			// frame); closing its end below then unblocks this write.
			reader.Write(data)
			reader.Close()
		}()
		err := <-done
		card.Close()
		if err == nil {
			t.Fatal("serve returned nil")
		}
	})
}
