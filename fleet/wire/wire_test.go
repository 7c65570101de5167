package wire

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
)

// TestUploadFromRecords: an upload built from records already encoded (as
// a node's uplink builds it from its journal) is byte for byte the upload
// EncodeUpload builds from the decoded batch, and decodes to that batch.
func TestUploadFromRecords(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	b := &fleet.Batch{Node: "gate-7", Epoch: 0xfeed, First: 41, Last: 43, SentAt: at.Add(time.Hour), ClockOffset: -3 * time.Second, ClockKnown: true}
	var raws [][]byte
	for seq := b.First; seq <= b.Last; seq++ {
		r := engine.TapRecord{JournalSeq: seq, RecordedAt: at, Venue: "MUSEUM", Pass: "P1", Product: "cp24-adult", TariffVersion: "v1", Category: "adult",
			Tap:      engine.Tap{ID: engine.TapID{Device: "gate-7/a", Seq: seq}, Card: "04AA", Gate: "MUSEUM/G1", At: at.Add(time.Duration(seq) * time.Second), Counter: uint32(seq), HasCounter: true},
			Decision: engine.Decision{Accept: true, Reason: engine.ReasonOK, Pass: "P1", Product: "cp24-adult", ValidUntil: at.Add(24 * time.Hour)}}
		b.Records = append(b.Records, r)
		raws = append(raws, ledger.EncodeTapRecord(&r))
	}
	data := EncodeUploadRecords(b, raws)
	assert.Equal(t, EncodeUpload(b), data)
	got, err := DecodeUpload(data)
	require.NoError(t, err)
	assert.Equal(t, b, got)
}
