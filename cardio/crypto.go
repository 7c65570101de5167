package cardio

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// BlockSize is the AES block size.
const BlockSize = 16

// CMAC computes the AES-CMAC (RFC 4493) of msg under key (16, 24 or 32 bytes).
func CMAC(key, msg []byte) ([16]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return [16]byte{}, fmt.Errorf("cardio: CMAC key: %w", err)
	}
	return cmacBlock(b, msg), nil
}

// cmacSubkeys derives K1 and K2 (RFC 4493 §2.3).
func cmacSubkeys(b cipher.Block) (k1, k2 [16]byte) {
	var l [16]byte
	b.Encrypt(l[:], l[:])
	k1 = dbl(l)
	k2 = dbl(k1)
	return k1, k2
}

func dbl(in [16]byte) (out [16]byte) {
	var carry byte
	for i := 15; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	// Constant time: XOR 0x87 when the top bit was set.
	out[15] ^= byte(subtle.ConstantTimeByteEq(carry, 1)) * 0x87
	return out
}

func cmacBlock(b cipher.Block, msg []byte) [16]byte {
	k1, k2 := cmacSubkeys(b)
	n := (len(msg) + 15) / 16
	complete := n > 0 && len(msg)%16 == 0
	if n == 0 {
		n = 1
	}
	var last [16]byte
	rest := msg[(n-1)*16:]
	if complete {
		subtle.XORBytes(last[:], rest, k1[:])
	} else {
		copy(last[:], rest)
		last[len(rest)] = 0x80
		subtle.XORBytes(last[:], last[:], k2[:])
	}
	var x [16]byte
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x[:], x[:], msg[i*16:(i+1)*16])
		b.Encrypt(x[:], x[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	b.Encrypt(x[:], x[:])
	return x
}

// Truncate returns the odd-index bytes 1, 3, …, 15 of a CMAC: the 8-byte
// MACt of NTAG 424 SUN (SDMMAC) and DESFire EV2 secure messaging.
func Truncate(mac [16]byte) [8]byte {
	var t [8]byte
	for i := range t {
		t[i] = mac[2*i+1]
	}
	return t
}

// Equal compares two MACs or authentication tokens in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// aesECB encrypts one block.
func aesECB(key Key, in [16]byte) [16]byte {
	b, _ := aes.NewCipher(key[:]) // a Key is always 16 bytes
	b.Encrypt(in[:], in[:])
	return in
}

// cbcEncrypt encrypts src (a multiple of 16 bytes) with AES-CBC.
func cbcEncrypt(key Key, iv [16]byte, src []byte) ([]byte, error) {
	if len(src)%16 != 0 {
		return nil, fmt.Errorf("%w: CBC input of %d bytes", ErrMalformed, len(src))
	}
	b, _ := aes.NewCipher(key[:])
	out := make([]byte, len(src))
	cipher.NewCBCEncrypter(b, iv[:]).CryptBlocks(out, src)
	return out, nil
}

// cbcDecrypt decrypts src (a multiple of 16 bytes) with AES-CBC.
func cbcDecrypt(key Key, iv [16]byte, src []byte) ([]byte, error) {
	if len(src)%16 != 0 || len(src) == 0 {
		return nil, fmt.Errorf("%w: CBC ciphertext of %d bytes", ErrMalformed, len(src))
	}
	b, _ := aes.NewCipher(key[:])
	out := make([]byte, len(src))
	cipher.NewCBCDecrypter(b, iv[:]).CryptBlocks(out, src)
	return out, nil
}

// CBCEncrypt encrypts src (a multiple of 16 bytes) with AES-128-CBC.
func CBCEncrypt(key Key, iv [16]byte, src []byte) ([]byte, error) { return cbcEncrypt(key, iv, src) }

// CBCDecrypt decrypts src (a non-empty multiple of 16 bytes) with AES-128-CBC.
func CBCDecrypt(key Key, iv [16]byte, src []byte) ([]byte, error) { return cbcDecrypt(key, iv, src) }

// EncryptBlock encrypts one block with AES-128 (ECB).
func EncryptBlock(key Key, in [16]byte) [16]byte { return aesECB(key, in) }

// PadISO appends 80 and zero bytes up to a multiple of 16 (ISO/IEC 9797-1
// method 2). A full block of padding is added to aligned input.
func PadISO(b []byte) []byte {
	out := make([]byte, len(b), len(b)+16)
	copy(out, b)
	out = append(out, 0x80)
	for len(out)%16 != 0 {
		out = append(out, 0)
	}
	return out
}

// UnpadISO removes ISO/IEC 9797-1 method 2 padding.
func UnpadISO(b []byte) ([]byte, error) {
	for i := len(b) - 1; i >= 0 && i >= len(b)-16; i-- {
		switch b[i] {
		case 0x00:
			continue
		case 0x80:
			return b[:i], nil
		}
		break
	}
	return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
}

// CMACKey computes CMAC under a Key.
func cmacKey(key Key, msg []byte) [16]byte {
	b, _ := aes.NewCipher(key[:])
	return cmacBlock(b, msg)
}

// CMACKey is CMAC under a 16-byte Key.
func CMACKey(key Key, msg []byte) [16]byte { return cmacKey(key, msg) }

// DiversifyAES128 derives a per-card AES-128 key from master with NXP AN10922
// §2.2: CMAC(master, 01 ‖ M) where the CMAC input is always two blocks — 01 ‖ M
// is padded with 80 00 … to 32 bytes (subkey K2) unless it is exactly 32 bytes
// (subkey K1). A stock CMAC differs whenever 01 ‖ M is 16 bytes or shorter.
// M (typically UID ‖ AID ‖ system identifier) must be 1..31 bytes.
func DiversifyAES128(master Key, m []byte) (Key, error) {
	if len(m) == 0 || len(m) > 31 {
		return Key{}, fmt.Errorf("cardio: AN10922 diversification input of %d bytes (want 1..31)", len(m))
	}
	b, _ := aes.NewCipher(master[:])
	k1, k2 := cmacSubkeys(b)
	var d [32]byte
	d[0] = 0x01
	copy(d[1:], m)
	if len(m) == 31 {
		subtle.XORBytes(d[16:], d[16:], k1[:])
	} else {
		d[1+len(m)] = 0x80
		subtle.XORBytes(d[16:], d[16:], k2[:])
	}
	var x [16]byte
	subtle.XORBytes(x[:], x[:], d[:16])
	b.Encrypt(x[:], x[:])
	subtle.XORBytes(x[:], x[:], d[16:])
	b.Encrypt(x[:], x[:])
	return Key(x), nil
}

type cipherBlock = cipher.Block

func aesNew(k []byte) (cipher.Block, error) { return aes.NewCipher(k) }
