package cardio

import (
	"bytes"
	"context"
	"fmt"
)

// Medium is the kind of card presented. Values are stable.
type Medium uint8

// Media.
const (
	MediumUnknown    Medium = 0
	MediumNTAG424DNA Medium = 1
	MediumDESFireEV1 Medium = 2
	MediumDESFireEV2 Medium = 3
	MediumDESFireEV3 Medium = 4
	MediumUltralight Medium = 5
	MediumClassic    Medium = 6
	MediumISO14443_4 Medium = 7 // ISO 14443-4 card that is neither NTAG 424 nor DESFire
	MediumStorage    Medium = 8 // other PC/SC part 3 storage card (FeliCa, Mini, Plus SL1/2 …)
)

var mediumNames = [...]string{"unknown", "ntag424dna", "desfire-ev1", "desfire-ev2", "desfire-ev3",
	"ultralight", "classic", "iso14443-4", "storage"}

// String is the medium's stable lower-case name (metrics, logs).
func (m Medium) String() string {
	if int(m) < len(mediumNames) {
		return mediumNames[m]
	}
	return fmt.Sprintf("medium(%d)", uint8(m))
}

// Secure reports whether the medium offers a cryptographic proof cardio checks.
func (m Medium) Secure() bool {
	return m == MediumNTAG424DNA || m == MediumDESFireEV2 || m == MediumDESFireEV3
}

// ATRInfo is what an ATR says about a contactless card.
type ATRInfo struct {
	// Contactless is true when the ATR has the PC/SC contactless shape
	// (3B 8n 80 01 …).
	Contactless bool
	// Storage is true for a PC/SC part 3 storage-card ATR (RID A000000306);
	// Standard and CardName are then set.
	Storage  bool
	Standard byte   // SS: 03 = ISO 14443 A part 3, 11 = FeliCa, …
	CardName uint16 // NN NN, e.g. 0x0003 Ultralight, 0x0001 Classic 1K
	// Historical holds the historical bytes (for ISO 14443-4 A, from the ATS).
	Historical []byte
	// Medium is the best guess from the ATR alone: a storage card's kind,
	// MediumISO14443_4 for an ISO-4 card (GetVersion tells NTAG 424 from
	// DESFire), or MediumUnknown.
	Medium Medium
}

var pcscRID = []byte{0xA0, 0x00, 0x00, 0x03, 0x06}

// ParseATR classifies a contactless ATR as PC/SC part 3 readers build it. It
// never panics; an ATR that does not have the contactless shape yields
// Medium MediumUnknown and an error.
func ParseATR(atr []byte) (ATRInfo, error) {
	var info ATRInfo
	if len(atr) < 5 || atr[0] != 0x3B || atr[1]&0xF0 != 0x80 || atr[2] != 0x80 || atr[3] != 0x01 {
		return info, fmt.Errorf("%w: not a contactless ATR (% X)", ErrMalformed, truncate(atr, 32))
	}
	n := int(atr[1] & 0x0F)
	if len(atr) < 4+n+1 {
		return info, fmt.Errorf("%w: ATR declares %d historical bytes, has %d", ErrMalformed, n, len(atr)-5)
	}
	var tck byte
	for _, b := range atr[1 : 4+n+1] {
		tck ^= b
	}
	if tck != 0 {
		return info, fmt.Errorf("%w: ATR checksum mismatch", ErrMalformed)
	}
	info.Contactless = true
	info.Historical = bytes.Clone(atr[4 : 4+n])
	h := info.Historical
	// Storage card: 80 4F 0C A0 00 00 03 06 SS NN NN 00 00 00 00.
	if len(h) >= 11 && h[0] == 0x80 && h[1] == 0x4F && h[2] >= 0x0C && bytes.Equal(h[3:8], pcscRID) {
		info.Storage = true
		info.Standard = h[8]
		info.CardName = uint16(h[9])<<8 | uint16(h[10])
		switch info.CardName {
		case 0x0003, 0x003A, 0x003D:
			info.Medium = MediumUltralight
		case 0x0001, 0x0002, 0x0026, 0x0036, 0x0037:
			info.Medium = MediumClassic // Plus SL1 speaks Crypto1 like a Classic
		default:
			info.Medium = MediumStorage
		}
		return info, nil
	}
	info.Medium = MediumISO14443_4
	return info, nil
}

// cardNames are the PC/SC part 3 card names (pcsc-tools smartcard_list.txt).
var cardNames = map[uint16]string{
	0x0001: "MIFARE Classic 1K", 0x0002: "MIFARE Classic 4K", 0x0003: "MIFARE Ultralight",
	0x0026: "MIFARE Mini", 0x0036: "MIFARE Plus SL1 2K", 0x0037: "MIFARE Plus SL1 4K",
	0x0038: "MIFARE Plus SL2 2K", 0x0039: "MIFARE Plus SL2 4K", 0x003A: "MIFARE Ultralight C",
	0x003B: "FeliCa", 0x003D: "MIFARE Ultralight EV1",
}

// Name is the PC/SC part 3 name of a storage card ("MIFARE Ultralight"),
// "ISO 14443-4" for other contactless cards, or "".
func (i ATRInfo) Name() string {
	switch {
	case i.Storage:
		if n, ok := cardNames[i.CardName]; ok {
			return n
		}
		return fmt.Sprintf("storage card %04X", i.CardName)
	case i.Contactless:
		return "ISO 14443-4"
	}
	return ""
}

// Version is the decoded answer to the native GetVersion command (three
// frames: hardware, software, production data).
type Version struct {
	HWVendor, HWType, HWSubType, HWMajor, HWMinor, HWStorage, HWProtocol byte
	SWVendor, SWType, SWSubType, SWMajor, SWMinor, SWStorage, SWProtocol byte
	UID                                                                  []byte // 7 bytes, or nil when the card hides it (random ID)
	Batch                                                                []byte
	Week, Year                                                           byte
}

// ParseVersion decodes the concatenated GetVersion frames (at least 7+7+14
// bytes). It never panics.
func ParseVersion(b []byte) (Version, error) {
	var v Version
	if len(b) < 28 {
		return v, fmt.Errorf("%w: GetVersion answer has %d bytes, want >= 28", ErrMalformed, len(b))
	}
	v.HWVendor, v.HWType, v.HWSubType, v.HWMajor, v.HWMinor, v.HWStorage, v.HWProtocol = b[0], b[1], b[2], b[3], b[4], b[5], b[6]
	v.SWVendor, v.SWType, v.SWSubType, v.SWMajor, v.SWMinor, v.SWStorage, v.SWProtocol = b[7], b[8], b[9], b[10], b[11], b[12], b[13]
	v.UID = bytes.Clone(b[14:21])
	v.Batch = bytes.Clone(b[21:26])
	v.Week, v.Year = b[26], b[27]
	return v, nil
}

// Medium classifies the card from its hardware version.
func (v Version) Medium() Medium {
	if v.HWVendor != 0x04 { // NXP
		return MediumISO14443_4
	}
	switch v.HWType {
	case 0x04: // NTAG
		if v.HWMajor == 0x30 {
			return MediumNTAG424DNA
		}
	case 0x01, 0x81: // DESFire (0x81: DESFire Light/EV-x variants report 0x01 | 0x80)
		switch v.HWMajor {
		case 0x00, 0x01:
			return MediumDESFireEV1
		case 0x12, 0x22:
			return MediumDESFireEV2
		case 0x30, 0x33:
			return MediumDESFireEV3
		}
	}
	return MediumISO14443_4
}

// GetVersion runs the native GetVersion command and its additional frames.
func GetVersion(ctx context.Context, t Transmitter) (Version, error) {
	b, err := NativeFrames(ctx, t, 0x60, nil)
	if err != nil {
		return Version{}, fmt.Errorf("GetVersion: %w", err)
	}
	return ParseVersion(b)
}

// GetUID asks the reader for the card's UID with the PC/SC part 3 GET DATA
// pseudo-APDU FF CA 00 00 00.
func GetUID(ctx context.Context, t Transmitter) ([]byte, error) {
	r, err := Exchange(ctx, t, APDU{CLA: 0xFF, INS: 0xCA, Le: 256})
	if err != nil {
		return nil, fmt.Errorf("GET DATA UID: %w", err)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("GET DATA UID: %w", err)
	}
	if n := len(r.Data); n != 4 && n != 7 && n != 10 {
		return nil, fmt.Errorf("GET DATA UID: %w: %d-byte UID", ErrMalformed, n)
	}
	return r.Data, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
