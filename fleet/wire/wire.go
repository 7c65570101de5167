package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
)

// uploadMagic starts an upload; the digit is the format version.
var uploadMagic = []byte("CPU1")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrBadUpload reports an upload that does not decode.
var ErrBadUpload = errors.New("wire: bad upload")

// MaxUploadBytes bounds an upload (the hub's NATS max payload is 8 MiB).
const MaxUploadBytes = 6 << 20

// UploadID is the message id of an upload: the batch's
// "<node>:<epoch>:<first>-<last>" and a CRC-32C of its records' bytes. The
// content digest matters: a node restored from an old copy of its disk gives
// the same seqs to other taps, and an id naming only the range would make
// the stream's duplicate window drop the new content silently (docs/
// fleet.md, "Uploads"); with the digest the hub receives it and quarantines
// it.
func UploadID(b *fleet.Batch) string {
	h := crc32.New(crcTable)
	for i := range b.Records {
		h.Write(ledger.EncodeTapRecord(&b.Records[i]))
	}
	return fmt.Sprintf("%s:%08x", b.MsgID(), h.Sum32())
}

// EncodeUpload encodes a batch:
//
//	"CPU1" ‖ node ‖ epoch ‖ first ‖ last ‖ sent_at ‖ clock_known ‖
//	clock_offset ‖ n ‖ n × (len ‖ record) ‖ CRC-32C of all before it
//
// with uvarint lengths and numbers, varint nanoseconds, and each record as
// ledger.EncodeTapRecord writes it.
func EncodeUpload(b *fleet.Batch) []byte {
	records := make([][]byte, len(b.Records))
	for i := range b.Records {
		records[i] = ledger.EncodeTapRecord(&b.Records[i])
	}
	return EncodeUploadRecords(b, records)
}

// EncodeUploadRecords encodes an upload of b's header (Node to
// ClockOffset; b.Records is not read) and records, each as
// ledger.EncodeTapRecord writes it (as ledger.JournalRaw hands them out).
func EncodeUploadRecords(b *fleet.Batch, records [][]byte) []byte {
	size := len(uploadMagic) + len(b.Node) + 8*binary.MaxVarintLen64 + 4
	for _, r := range records {
		size += binary.MaxVarintLen32 + len(r)
	}
	out := append(make([]byte, 0, size), uploadMagic...)
	out = binary.AppendUvarint(out, uint64(len(b.Node)))
	out = append(out, b.Node...)
	out = binary.AppendUvarint(out, b.Epoch)
	out = binary.AppendUvarint(out, b.First)
	out = binary.AppendUvarint(out, b.Last)
	out = binary.AppendVarint(out, b.SentAt.UnixNano())
	if b.ClockKnown {
		out = append(out, 1)
	} else {
		out = append(out, 0)
	}
	out = binary.AppendVarint(out, int64(b.ClockOffset))
	out = binary.AppendUvarint(out, uint64(len(records)))
	for _, r := range records {
		out = binary.AppendUvarint(out, uint64(len(r)))
		out = append(out, r...)
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
}

// DecodeUpload reads an upload and checks it (fleet.Batch.Check).
func DecodeUpload(data []byte) (*fleet.Batch, error) {
	bad := func(format string, args ...any) (*fleet.Batch, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadUpload, fmt.Sprintf(format, args...))
	}
	if len(data) > MaxUploadBytes {
		return bad("%d bytes, at most %d", len(data), MaxUploadBytes)
	}
	if len(data) < len(uploadMagic)+4 || string(data[:len(uploadMagic)]) != string(uploadMagic) {
		return bad("not an upload (no %q header)", uploadMagic)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return bad("checksum mismatch")
	}
	p := body[len(uploadMagic):]
	var err error
	uv := func() uint64 {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			err = errors.New("truncated number")
			p = nil
			return 0
		}
		p = p[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(p)
		if n <= 0 {
			err = errors.New("truncated number")
			p = nil
			return 0
		}
		p = p[n:]
		return v
	}
	bytesN := func(n uint64) []byte {
		if n > uint64(len(p)) {
			err = errors.New("length beyond the upload")
			p = nil
			return nil
		}
		b := p[:n]
		p = p[n:]
		return b
	}
	b := &fleet.Batch{}
	b.Node = string(bytesN(uv()))
	b.Epoch, b.First, b.Last = uv(), uv(), uv()
	b.SentAt = time.Unix(0, sv()).UTC()
	known := bytesN(1)
	b.ClockKnown = len(known) == 1 && known[0] == 1
	b.ClockOffset = time.Duration(sv())
	n := uv()
	if err != nil {
		return bad("header: %v", err)
	}
	if n > fleet.MaxBatchRecords {
		return bad("%d records, at most %d", n, fleet.MaxBatchRecords)
	}
	b.Records = make([]engine.TapRecord, 0, n)
	for i := uint64(0); i < n; i++ {
		raw := bytesN(uv())
		if err != nil {
			return bad("record %d: %v", i, err)
		}
		r, derr := ledger.DecodeTapRecord(raw)
		if derr != nil {
			return bad("record %d: %v", i, derr)
		}
		b.Records = append(b.Records, r)
	}
	if len(p) != 0 {
		return bad("%d bytes after the last record", len(p))
	}
	if err := b.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadUpload, err)
	}
	return b, nil
}

// Ack tells a node what the hub has made durable of one of its epochs:
// every node seq up to HighWater. A node re-sends from HighWater+1.
type Ack struct {
	Epoch     uint64 `json:"epoch"`
	HighWater uint64 `json:"high_water"`
}

// Report is what a node tells the hub at each contact.
type Report struct {
	Epoch uint64 `json:"epoch"`
	// LastSeq is the node's last durable journal seq.
	LastSeq uint64 `json:"last_seq"`
	// NodeTime is the node's clock when it sent the report (RFC 3339 nano).
	NodeTime time.Time `json:"node_time"`
	// StateAsOf is the node's state_as_of (the hub time its copy of the
	// hub's state is complete up to); absent before it loaded any.
	StateAsOf time.Time `json:"state_as_of,omitzero"`
	// Epochs are earlier epochs of this node's id the node still knows of
	// (none after a wipe).
}

// ReportReply is the hub's answer to a report.
type ReportReply struct {
	HubTime time.Time `json:"hub_time"`
	// Acks holds the hub's high-water mark of the reported epoch.
	Ack Ack `json:"ack"`
	// ClockOffset is hub time minus node time as the hub measured it when
	// the report arrived (the one-way delay is in the error).
	ClockOffset time.Duration `json:"clock_offset_ns"`
}

// Marshal encodes a JSON message.
func Marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed struct types of this package are marshalled
	}
	return b
}

// Unmarshal decodes a JSON message into v, naming what it was.
func Unmarshal(data []byte, v any, what string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("wire: bad %s: %w", what, err)
	}
	return nil
}
