package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/citypass/citypass/ledger"
)

// StateBatch is a message of the state stream, or a page of a snapshot
// (docs/fleet.md, "State down").
type StateBatch struct {
	// HubEpoch is the hub ledger's epoch: a node that holds state of
	// another hub ledger (a replaced hub) starts over from a snapshot.
	HubEpoch uint64
	// Rev is the change-log revision: of the change (a change message), the
	// newest the hub had published (a heartbeat), or the snapshot's.
	Rev uint64
	// Beat marks a heartbeat: the node that applied it has every change
	// the hub committed before HubTime.
	Beat bool
	// HubTime: of a heartbeat, what it covers; of a snapshot, when it began.
	HubTime time.Time
	// StreamSeq (snapshots): the state stream sequence to resume after.
	StreamSeq uint64
	// More (snapshots): further pages follow, after the last item.
	More  bool
	Items []ledger.StateItem
}

var stateMagic = []byte("CPS1")

// ErrBadState reports a state message that does not decode.
var ErrBadState = errors.New("wire: bad state message")

// EncodeState encodes a state batch:
//
//	"CPS1" ‖ hub_epoch ‖ rev ‖ flags (1: beat, 2: more) ‖ hub_time ‖
//	stream_seq ‖ n ‖ n × (kind ‖ len ‖ id ‖ len ‖ value) ‖ CRC-32C
func EncodeState(b *StateBatch) []byte {
	size := len(stateMagic) + 64
	for _, it := range b.Items {
		size += 1 + 2*binary.MaxVarintLen32 + len(it.ID) + len(it.Value)
	}
	out := append(make([]byte, 0, size), stateMagic...)
	out = binary.AppendUvarint(out, b.HubEpoch)
	out = binary.AppendUvarint(out, b.Rev)
	var flags byte
	if b.Beat {
		flags |= 1
	}
	if b.More {
		flags |= 2
	}
	out = append(out, flags)
	var t int64
	if !b.HubTime.IsZero() {
		t = b.HubTime.UnixNano()
	}
	out = binary.AppendVarint(out, t)
	out = binary.AppendUvarint(out, b.StreamSeq)
	out = binary.AppendUvarint(out, uint64(len(b.Items)))
	for _, it := range b.Items {
		out = append(out, byte(it.Kind))
		out = binary.AppendUvarint(out, uint64(len(it.ID)))
		out = append(out, it.ID...)
		out = binary.AppendUvarint(out, uint64(len(it.Value)))
		out = append(out, it.Value...)
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
}

// DecodeState reads what EncodeState wrote.
func DecodeState(data []byte) (*StateBatch, error) {
	if len(data) < len(stateMagic)+4 || string(data[:len(stateMagic)]) != string(stateMagic) {
		return nil, fmt.Errorf("%w: no %q header", ErrBadState, stateMagic)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadState)
	}
	r := reader{p: body[len(stateMagic):]}
	b := &StateBatch{}
	b.HubEpoch, b.Rev = r.uv(), r.uv()
	flags := r.n(1)
	if len(flags) == 1 {
		b.Beat, b.More = flags[0]&1 != 0, flags[0]&2 != 0
	}
	if t := r.sv(); t != 0 {
		b.HubTime = time.Unix(0, t).UTC()
	}
	b.StreamSeq = r.uv()
	n := r.uv()
	if n > uint64(len(r.p)) {
		return nil, fmt.Errorf("%w: %d items in %d bytes", ErrBadState, n, len(r.p))
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		kind := r.n(1)
		id := r.n(r.uv())
		val := r.n(r.uv())
		if r.err == nil {
			b.Items = append(b.Items, ledger.StateItem{Kind: ledger.StateKind(kind[0]), ID: string(id), Value: append([]byte(nil), val...)})
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadState, r.err)
	}
	if len(r.p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadState, len(r.p))
	}
	return b, nil
}

// reader reads varints and byte strings; the first error sticks.
type reader struct {
	p   []byte
	err error
}

func (r *reader) uv() uint64 {
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.fail("truncated number")
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *reader) sv() int64 {
	v, n := binary.Varint(r.p)
	if n <= 0 {
		r.fail("truncated number")
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *reader) n(n uint64) []byte {
	if n > uint64(len(r.p)) {
		r.fail("length beyond the message")
		return nil
	}
	b := r.p[:n]
	r.p = r.p[n:]
	return b
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.p = nil
}

// SnapshotRequest asks the hub for a page of its state after an item.
type SnapshotRequest struct {
	AfterKind byte   `json:"after_kind,omitempty"`
	AfterID   string `json:"after_id,omitempty"`
	// Max items in the page; the hub caps it.
	Max int `json:"max,omitempty"`
}
