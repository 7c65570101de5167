package cardio

import (
	"bytes"
	"context"
	"testing"
)

// Fuzz tests: every parser of card data never panics. Seeds live in
// testdata/fuzz/<FuzzName>; `go test -fuzz FuzzX` explores further.

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0x90, 0x00})
	f.Add([]byte{0x01, 0x61, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err == nil && len(r.Data) != len(b)-2 {
			t.Fatalf("data %d bytes from %d", len(r.Data), len(b))
		}
		_ = r.Err()
	})
}

func FuzzParseCommand(f *testing.F) {
	f.Add([]byte{0x90, 0x71, 0, 0, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseCommand(b)
		if err != nil {
			return
		}
		enc, err := a.Bytes()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", a, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip % X → % X", b, enc)
		}
	})
}

func FuzzParseATR(f *testing.F) {
	f.Add([]byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseATR(b)
		if err == nil && !info.Contactless {
			t.Fatal("parsed ATR not contactless")
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	f.Add(bytes.Repeat([]byte{4}, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVersion(b)
		if err == nil {
			_ = v.Medium().String()
		}
	})
}

func FuzzParseSUN(f *testing.F) {
	f.Add("https://sdm.example/?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086")
	f.Fuzz(func(t *testing.T, s string) {
		msg, err := ParseSUN(s)
		if err != nil {
			return
		}
		if len(msg.PICCData) != 16 || len(msg.MAC) != 8 {
			t.Fatalf("accepted %d/%d-byte fields", len(msg.PICCData), len(msg.MAC))
		}
		_, _, _ = VerifySUN(msg, SingleKey{})
	})
}

func FuzzParseNDEFURI(f *testing.F) {
	l, err := BuildSUNNDEF(DefaultURLTemplate)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(l.File)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseNDEFURI(b)
		if err == nil && len(u) > len(b)+len("urn:epc:raw:") {
			t.Fatal("URI longer than the file")
		}
	})
}

// frames is a Transmitter that answers with successive length-prefixed
// chunks of a fuzz input, then 6A82.
type frames struct{ b []byte }

func (fr *frames) Transmit([]byte) ([]byte, error) {
	if len(fr.b) == 0 {
		return []byte{0x6A, 0x82}, nil
	}
	n := int(fr.b[0])
	fr.b = fr.b[1:]
	n = min(n, len(fr.b))
	out := fr.b[:n]
	fr.b = fr.b[n:]
	return append([]byte(nil), out...), nil
}

// FuzzSessionResponse feeds arbitrary DESFire/NTAG EV2 frames to secure
// messaging: MAC check, decryption and unpadding never panic.
func FuzzSessionResponse(f *testing.F) {
	f.Add([]byte("\x1a\x70\x75\x60\x55\x68\x85\x05\xb5\x2a\x5e\x26\xe5\x9e\x32\x9c\xd6\x59\x5f\x67\x22\x98\xea\x41\xb7\x91\x00"))
	f.Add([]byte("\x03\x01\x91\xaf\x0a\x01\x02\x03\x04\x05\x06\x07\x08\x91\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mode := range []CommMode{CommPlain, CommMAC, CommFull} {
			s := &Session{enc: Key{1}, mac: Key{2}, ti: [4]byte{1, 2, 3, 4}, valid: true}
			_, _ = s.Command(context.Background(), &frames{b: b}, 0x51, nil, nil, mode)
		}
	})
}

// FuzzReadCredential runs the whole reader against arbitrary card answers.
func FuzzReadCredential(f *testing.F) {
	f.Add([]byte("\x09\x04\xa2\x3b\x5a\x6c\x12\x90\x90\x00"), uint8(1))
	f.Add([]byte("\x09\x04\xa2\x3b\x5a\x6c\x12\x90\x90\x00\x02\x90\x00\x02\x90\x00\x04\x00\x01\x90\x00"), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, m uint8) {
		opts := &ReadOptions{Medium: Medium(m % 9), Rand: bytes.NewReader(make([]byte, 64)), InsecureUID: m&0x80 != 0}
		_, err := ReadCredential(context.Background(), &frames{b: b}, SingleKey{0x42, 0x17}, opts)
		if err == nil && m%9 == uint8(MediumNTAG424DNA) {
			// a random answer verifying a SUN MAC would be a forgery
			t.Fatalf("fuzzed answers produced a verified NTAG credential")
		}
	})
}

// FuzzParseKeyFile: the key-file parser never panics and never puts key
// material into its errors.
func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(keyFileHeader + "\nntag-app = 000102030405060708090a0b0c0d0e0f\nsun-meta = 000102030405060708090a0b0c0d0e0f\nsun-file-read = 000102030405060708090a0b0c0d0e0f\ndesfire-app = 000102030405060708090a0b0c0d0e0f\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKeyFile(bytes.NewReader(b), "keys")
		if err != nil {
			return
		}
		if k == nil {
			t.Fatal("nil keys without error")
		}
	})
}
