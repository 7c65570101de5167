package cardio

import (
	"bytes"
	"fmt"
	"strings"
)

// NDEF (NFC Forum) handling for the NTAG 424 DNA NDEF file E104: a 2-byte
// big-endian NLEN followed by the NDEF message; cardio writes and reads one
// short URI record.

// uriPrefixes is the NFC Forum URI RTD abbreviation table (codes 00–23).
var uriPrefixes = [...]string{
	"", "http://www.", "https://www.", "http://", "https://", "tel:", "mailto:",
	"ftp://anonymous:anonymous@", "ftp://ftp.", "ftps://", "sftp://", "smb://", "nfs://",
	"ftp://", "dav://", "news:", "telnet://", "imap:", "rtsp://", "urn:", "pop:", "sip:",
	"sips:", "tftp:", "btspp://", "btl2cap://", "btgoep://", "tcpobex://", "irdaobex://",
	"file://", "urn:epc:id:", "urn:epc:tag:", "urn:epc:pat:", "urn:epc:raw:", "urn:epc:", "urn:nfc:",
}

// ParseNDEFURI returns the URI of the first URI record in an NDEF file image
// (NLEN ‖ message). It never panics.
func ParseNDEFURI(file []byte) (string, error) {
	if len(file) < 2 {
		return "", fmt.Errorf("%w: NDEF file of %d bytes", ErrMalformed, len(file))
	}
	nlen := int(file[0])<<8 | int(file[1])
	if nlen == 0 {
		return "", fmt.Errorf("%w: empty NDEF message", ErrMalformed)
	}
	if nlen > len(file)-2 {
		return "", fmt.Errorf("%w: NLEN %d exceeds the %d bytes read", ErrMalformed, nlen, len(file)-2)
	}
	msg := file[2 : 2+nlen]
	for rec := 0; len(msg) > 0 && rec < 16; rec++ {
		hdr := msg[0]
		tnf := hdr & 0x07
		sr, il := hdr&0x10 != 0, hdr&0x08 != 0
		if hdr&0x20 != 0 {
			return "", fmt.Errorf("%w: chunked NDEF records are not supported", ErrMalformed)
		}
		p := 1
		need := func(n int) error {
			if len(msg) < p+n {
				return fmt.Errorf("%w: truncated NDEF record", ErrMalformed)
			}
			return nil
		}
		if err := need(1); err != nil {
			return "", err
		}
		typeLen := int(msg[p])
		p++
		var payloadLen int
		if sr {
			if err := need(1); err != nil {
				return "", err
			}
			payloadLen = int(msg[p])
			p++
		} else {
			if err := need(4); err != nil {
				return "", err
			}
			pl := uint32(msg[p])<<24 | uint32(msg[p+1])<<16 | uint32(msg[p+2])<<8 | uint32(msg[p+3])
			if pl > uint32(len(msg)) {
				return "", fmt.Errorf("%w: NDEF payload length %d", ErrMalformed, pl)
			}
			payloadLen = int(pl)
			p += 4
		}
		idLen := 0
		if il {
			if err := need(1); err != nil {
				return "", err
			}
			idLen = int(msg[p])
			p++
		}
		if err := need(typeLen + idLen + payloadLen); err != nil {
			return "", err
		}
		typ := msg[p : p+typeLen]
		p += typeLen + idLen
		payload := msg[p : p+payloadLen]
		p += payloadLen
		if tnf == 0x01 && bytes.Equal(typ, []byte("U")) {
			if len(payload) == 0 {
				return "", fmt.Errorf("%w: empty URI record", ErrMalformed)
			}
			code := int(payload[0])
			if code >= len(uriPrefixes) {
				return "", fmt.Errorf("%w: URI prefix code %02X", ErrMalformed, code)
			}
			return uriPrefixes[code] + string(payload[1:]), nil
		}
		if hdr&0x40 != 0 { // ME
			break
		}
		msg = msg[p:]
	}
	return "", fmt.Errorf("%w: no URI record in the NDEF message", ErrMalformed)
}

// URL template placeholders for Personalize: the tag mirrors 32 hex digits of
// encrypted PICCData at {picc} and the 16-hex-digit SDMMAC at {mac}.
const (
	PlaceholderPICC = "{picc}"
	PlaceholderMAC  = "{mac}"
	// DefaultURLTemplate is a template of the right shape; operators pass
	// their own host.
	DefaultURLTemplate = "https://citypass.invalid/t?picc_data={picc}&cmac={mac}"
)

// SUNLayout is an NDEF file image prepared for SUN mirroring and the file
// offsets (counted from the start of the file, NLEN included) that
// ChangeFileSettings needs.
type SUNLayout struct {
	File       []byte // NLEN ‖ NDEF message, placeholders filled with '0'
	PICCOffset int    // first of 32 hex digits of PICCData
	MACOffset  int    // first of 16 hex digits of SDMMAC (also the MAC input offset: plain SUN)
}

// BuildSUNNDEF lays out an NDEF URI record from a URL template holding
// exactly one {picc} before exactly one {mac}.
func BuildSUNNDEF(template string) (SUNLayout, error) {
	var l SUNLayout
	if strings.Count(template, PlaceholderPICC) != 1 || strings.Count(template, PlaceholderMAC) != 1 {
		return l, fmt.Errorf("cardio: URL template needs exactly one %s and one %s", PlaceholderPICC, PlaceholderMAC)
	}
	if strings.Index(template, PlaceholderPICC) > strings.Index(template, PlaceholderMAC) {
		return l, fmt.Errorf("cardio: URL template must have %s before %s", PlaceholderPICC, PlaceholderMAC)
	}
	code, rest := 0, template
	for c := 1; c < len(uriPrefixes); c++ { // the longest matching abbreviation wins
		if p := uriPrefixes[c]; strings.HasPrefix(template, p) && len(p) > len(uriPrefixes[code]) {
			code, rest = c, template[len(p):]
		}
	}
	piccIdx := strings.Index(rest, PlaceholderPICC)
	macIdx := strings.Index(rest, PlaceholderMAC) - len(PlaceholderPICC) + 32 // {picc} comes first
	rest = strings.Replace(rest, PlaceholderPICC, strings.Repeat("0", 32), 1)
	rest = strings.Replace(rest, PlaceholderMAC, strings.Repeat("0", 16), 1)
	payload := append([]byte{byte(code)}, rest...)
	if len(payload) > 255 || 2+4+len(payload) > NDEFFileSize {
		return l, fmt.Errorf("cardio: URL template too long for the NDEF file (%d bytes)", len(template))
	}
	msg := append([]byte{0xD1, 0x01, byte(len(payload)), 'U'}, payload...)
	file := append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
	const head = 2 + 4 + 1 // NLEN, record header, URI prefix code
	l.File = file
	l.PICCOffset = head + piccIdx
	l.MACOffset = head + macIdx
	return l, nil
}
