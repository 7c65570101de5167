package cardio

import (
	"context"
	"fmt"
)

// NTAG 424 DNA native commands (NT4H2421Gx §10), reader side. Each has a
// form without authentication (CommMode.Plain) and a Session method that
// sends it under EV2 secure messaging.

// NTAG 424 DNA files: native file number and size. The ISO file identifiers
// are E103, E104 and E105.
const (
	NTAGCCFileNo          byte = 1 // capability container, 32 bytes
	NTAGNDEFFileNo        byte = 2 // NDEF file, 256 bytes (SDM)
	NTAGProprietaryFileNo byte = 3 // proprietary file, 128 bytes

	NTAGCCFileSize          = 32
	NDEFFileSize            = 256
	NTAGProprietaryFileSize = 128
)

// Native instruction bytes.
const (
	insGetVersion         byte = 0x60
	insGetKeyVersion      byte = 0x64
	insAuthEV2First       byte = 0x71
	insAuthEV2NonFirst    byte = 0x77
	insGetCardUID         byte = 0x51
	insChangeFileSettings byte = 0x5F
	insChangeKey          byte = 0xC4
	insGetFileSettings    byte = 0xF5
	insGetFileCounters    byte = 0xF6
	insReadData           byte = 0xAD
	insWriteData          byte = 0x8D
	insReadSig            byte = 0x3C
)

// MaxWriteChunk is the most data one WriteData command carries: Personalize
// and Session.WriteData split longer writes, so a command fits a short APDU
// in every mode (7 header + 128 data + 16 padding + 8 MAC bytes).
const MaxWriteChunk = 128

// SignatureSize is the size of the NXP originality signature (secp224r1 r‖s).
const SignatureSize = 56

func dataHeader(fileNo byte, off, n int) ([]byte, error) {
	if off < 0 || off > 0xFFFFFF || n < 0 || n > 0xFFFFFF {
		return nil, fmt.Errorf("cardio: file %d offset %d length %d out of range", fileNo, off, n)
	}
	h := append([]byte{fileNo}, le3(off)...)
	return append(h, le3(n)...), nil
}

// GetKeyVersion asks for the version of key keyNo without authentication.
func GetKeyVersion(ctx context.Context, t Transmitter, keyNo byte) (byte, error) {
	b, err := NativeFrames(ctx, t, insGetKeyVersion, []byte{keyNo})
	if err != nil {
		return 0, fmt.Errorf("GetKeyVersion %d: %w", keyNo, err)
	}
	if len(b) != 1 {
		return 0, fmt.Errorf("GetKeyVersion %d: %w: answer of %d bytes", keyNo, ErrMalformed, len(b))
	}
	return b[0], nil
}

// GetKeyVersion asks for the version of key keyNo in CommMode.MAC.
func (s *Session) GetKeyVersion(ctx context.Context, t Transmitter, keyNo byte) (byte, error) {
	b, err := s.Command(ctx, t, insGetKeyVersion, []byte{keyNo}, nil, CommMAC)
	if err != nil {
		return 0, fmt.Errorf("GetKeyVersion %d: %w", keyNo, err)
	}
	if len(b) != 1 {
		return 0, fmt.Errorf("GetKeyVersion %d: %w: answer of %d bytes", keyNo, ErrMalformed, len(b))
	}
	return b[0], nil
}

// GetFileSettings reads a file's settings without authentication.
func GetFileSettings(ctx context.Context, t Transmitter, fileNo byte) (FileSettings, int, error) {
	b, err := NativeFrames(ctx, t, insGetFileSettings, []byte{fileNo})
	if err != nil {
		return FileSettings{}, 0, fmt.Errorf("GetFileSettings %d: %w", fileNo, err)
	}
	return ParseFileSettings(b)
}

// GetFileSettings reads a file's settings in CommMode.MAC, so the answer
// is the card's own.
func (s *Session) GetFileSettings(ctx context.Context, t Transmitter, fileNo byte) (FileSettings, int, error) {
	b, err := s.Command(ctx, t, insGetFileSettings, []byte{fileNo}, nil, CommMAC)
	if err != nil {
		return FileSettings{}, 0, fmt.Errorf("GetFileSettings %d: %w", fileNo, err)
	}
	return ParseFileSettings(b)
}

// ChangeFileSettings writes fs to file fileNo (CommMode.Full). The session
// must hold the file's Change key.
func (s *Session) ChangeFileSettings(ctx context.Context, t Transmitter, fileNo byte, fs FileSettings) error {
	if _, err := s.Command(ctx, t, insChangeFileSettings, []byte{fileNo}, fs.ChangeData(), CommFull); err != nil {
		return fmt.Errorf("ChangeFileSettings %d: %w", fileNo, err)
	}
	return nil
}

// ReadData reads n bytes (0: up to the end of the file) at off from a file
// whose read access is free (CommMode.Plain, no authentication).
func ReadData(ctx context.Context, t Transmitter, fileNo byte, off, n int) ([]byte, error) {
	h, err := dataHeader(fileNo, off, n)
	if err != nil {
		return nil, err
	}
	b, err := NativeFrames(ctx, t, insReadData, h)
	if err != nil {
		return nil, fmt.Errorf("ReadData file %d: %w", fileNo, err)
	}
	return b, nil
}

// ReadData reads n bytes (0: up to the end of the file) at off in mode, the
// communication mode the file's settings give the session's key
// (FileSettings.Access).
func (s *Session) ReadData(ctx context.Context, t Transmitter, fileNo byte, off, n int, mode CommMode) ([]byte, error) {
	h, err := dataHeader(fileNo, off, n)
	if err != nil {
		return nil, err
	}
	b, err := s.Command(ctx, t, insReadData, h, nil, mode)
	if err != nil {
		return nil, fmt.Errorf("ReadData file %d: %w", fileNo, err)
	}
	if n != 0 && len(b) != n {
		return nil, fmt.Errorf("ReadData file %d: %w: %d bytes for %d asked", fileNo, ErrMalformed, len(b), n)
	}
	return b, nil
}

// WriteData writes data at off to a file whose write access is free
// (CommMode.Plain, no authentication), in commands of at most MaxWriteChunk
// bytes.
func WriteData(ctx context.Context, t Transmitter, fileNo byte, off int, data []byte) error {
	return writeChunks(fileNo, off, data, func(h, chunk []byte) error {
		_, err := NativeFrames(ctx, t, insWriteData, append(h, chunk...))
		return err
	})
}

// WriteData writes data at off in mode (see Session.ReadData), in commands
// of at most MaxWriteChunk bytes.
func (s *Session) WriteData(ctx context.Context, t Transmitter, fileNo byte, off int, data []byte, mode CommMode) error {
	return writeChunks(fileNo, off, data, func(h, chunk []byte) error {
		_, err := s.Command(ctx, t, insWriteData, h, chunk, mode)
		return err
	})
}

func writeChunks(fileNo byte, off int, data []byte, send func(h, chunk []byte) error) error {
	if len(data) == 0 {
		return fmt.Errorf("cardio: WriteData file %d: no data", fileNo)
	}
	for p := 0; p < len(data); p += MaxWriteChunk {
		chunk := data[p:min(p+MaxWriteChunk, len(data))]
		h, err := dataHeader(fileNo, off+p, len(chunk))
		if err != nil {
			return err
		}
		if err := send(h, chunk); err != nil {
			return fmt.Errorf("WriteData file %d at %d: %w", fileNo, off+p, err)
		}
	}
	return nil
}

// FileCounters is the answer to GetFileCounters: the SDM read counter of
// the file.
type FileCounters struct {
	SDMReadCtr uint32
}

func parseFileCounters(b []byte) (FileCounters, error) {
	if len(b) != 5 {
		return FileCounters{}, fmt.Errorf("%w: GetFileCounters answer of %d bytes", ErrMalformed, len(b))
	}
	return FileCounters{SDMReadCtr: uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16}, nil
}

// GetFileCounters reads the SDM read counter of a file whose SDMCtrRet
// access is free (CommMode.Plain).
func GetFileCounters(ctx context.Context, t Transmitter, fileNo byte) (FileCounters, error) {
	b, err := NativeFrames(ctx, t, insGetFileCounters, []byte{fileNo})
	if err != nil {
		return FileCounters{}, fmt.Errorf("GetFileCounters %d: %w", fileNo, err)
	}
	return parseFileCounters(b)
}

// GetFileCounters reads the SDM read counter in CommMode.Full; the session
// must hold the file's SDMCtrRet key.
func (s *Session) GetFileCounters(ctx context.Context, t Transmitter, fileNo byte) (FileCounters, error) {
	b, err := s.Command(ctx, t, insGetFileCounters, []byte{fileNo}, nil, CommFull)
	if err != nil {
		return FileCounters{}, fmt.Errorf("GetFileCounters %d: %w", fileNo, err)
	}
	return parseFileCounters(b)
}

// ReadSig reads the NXP originality signature without authentication
// (Read_Sig, address 00, CommMode.Plain).
func ReadSig(ctx context.Context, t Transmitter) ([]byte, error) {
	b, err := NativeFrames(ctx, t, insReadSig, []byte{0x00})
	if err != nil {
		return nil, fmt.Errorf("Read_Sig: %w", err)
	}
	if len(b) != SignatureSize {
		return nil, fmt.Errorf("Read_Sig: %w: signature of %d bytes", ErrMalformed, len(b))
	}
	return b, nil
}

// ReadSig reads the originality signature under the session: a MACed
// command, an encrypted and MACed answer (CommMode.Full).
func (s *Session) ReadSig(ctx context.Context, t Transmitter) ([]byte, error) {
	b, err := s.Command(ctx, t, insReadSig, []byte{0x00}, nil, CommFull)
	if err != nil {
		return nil, fmt.Errorf("Read_Sig: %w", err)
	}
	if len(b) != SignatureSize {
		return nil, fmt.Errorf("Read_Sig: %w: signature of %d bytes", ErrMalformed, len(b))
	}
	return b, nil
}

// GetCardUID reads the card's UID under the session (CommMode.Full): the
// real UID even when the card presents a random ID.
func (s *Session) GetCardUID(ctx context.Context, t Transmitter) ([]byte, error) {
	b, err := s.Command(ctx, t, insGetCardUID, nil, nil, CommFull)
	if err != nil {
		return nil, fmt.Errorf("GetCardUID: %w", err)
	}
	return b, nil
}
