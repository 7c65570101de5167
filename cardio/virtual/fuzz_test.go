package virtual

import (
	"context"
	"testing"

	"github.com/citypass/citypass/cardio"
)

// split cuts a fuzz input into length-prefixed APDUs.
func split(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 && len(out) < 64 {
		n := min(int(b[0]), len(b)-1)
		out = append(out, b[1:1+n])
		b = b[1+n:]
	}
	return out
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

var fuzzKeys = cardio.SingleKey{0x11, 0x22}

// FuzzNTAG424 sends arbitrary APDU streams to a blank and to a personalized
// virtual NTAG 424: the card answers every one with a status word.
func FuzzNTAG424(f *testing.F) {
	f.Add([]byte("\x05\xff\xca\x00\x00\x00\x05\x90\x60\x00\x00\x00\x05\x90\xaf\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		blank := NewNTAG424([7]byte{4, 1, 2, 3, 4, 5, 6})
		blank.SetRand(zeroReader{})
		perso := NewNTAG424([7]byte{4, 1, 2, 3, 4, 5, 6})
		perso.SetRand(zeroReader{})
		if _, err := cardio.Personalize(context.Background(), perso, fuzzKeys, "", &cardio.PersonalizeOptions{Rand: zeroReader{}, OriginalityKeys: TestOriginalityKeys()}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*NTAG424{blank, perso} {
			for _, apdu := range split(b) {
				r, err := c.Transmit(apdu)
				if err != nil || len(r) < 2 {
					t.Fatalf("answer % X, %v to % X", r, err, apdu)
				}
			}
		}
	})
}

// FuzzDESFire does the same for the virtual DESFire.
func FuzzDESFire(f *testing.F) {
	f.Add([]byte("\x09\x90\x5a\x00\x00\x03\x55\x7a\xc1\x00\x08\x90\x71\x00\x00\x02\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewDESFire([7]byte{4, 1, 2, 3, 4, 5, 6}, fuzzKeys, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.SetRand(zeroReader{})
		for _, apdu := range split(b) {
			r, err := c.Transmit(apdu)
			if err != nil || len(r) < 2 {
				t.Fatalf("answer % X, %v to % X", r, err, apdu)
			}
		}
	})
}
