package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// Key prefixes (one byte, then fixed-width big-endian numbers or raw ids).
// Persisted; never renumber. The layout is documented in docs/formats.md,
// "Ledger".
const (
	pSchema    byte = 0x01 // 0x01 "schema" → schema version; 0x01 "tariffs" → tariff count
	pTariff    byte = 0x02 // 0x02 id → StoredTariff
	pPass      byte = 0x10 // 0x10 pass id → Pass
	pCard      byte = 0x11 // 0x11 card uid → Card
	pUsage     byte = 0x12 // 0x12 pass id → Usage
	pTapID     byte = 0x20 // 0x20 device 0x00 seq(8) → journal seq
	pJournal   byte = 0x21 // 0x21 journal seq(8) → TapRecord
	pTime      byte = 0x22 // 0x22 at(8) journal seq(8) → empty
	pPosting   byte = 0x30 // 0x30 posting id → Posting
	pBalance   byte = 0x31 // 0x31 account → Balance
	pStatement byte = 0x40 // retired: 0x40 statement id → statement of an earlier release
	pRecord    byte = 0x41 // 0x41 table 0x00 id → record bytes (Records)
	pMeta      byte = 0x50 // 0x50 name → bytes (PutMeta)
)

// schemaVersion is the key layout version written by this release; Open
// upgrades a ledger of an earlier version (migrate.go).
const schemaVersion = 3

var (
	keySchema      = append([]byte{pSchema}, "schema"...)
	keyTariffCount = append([]byte{pSchema}, "tariffs"...)
)

func strKey(p byte, id string) []byte {
	k := make([]byte, 1+len(id))
	k[0] = p
	copy(k[1:], id)
	return k
}

func tapIDKey(device string, seq uint64) []byte {
	k := make([]byte, 0, 1+len(device)+1+8)
	k = append(k, pTapID)
	k = append(k, device...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// deviceTapPrefix bounds the tap-id keys of one device.
func deviceTapPrefix(device string) []byte {
	k := make([]byte, 0, 2+len(device))
	k = append(k, pTapID)
	k = append(k, device...)
	return append(k, 0)
}

func parseTapIDKey(k []byte) (device string, seq uint64, ok bool) {
	if len(k) < 1+1+8 || k[0] != pTapID || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[1 : len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:]), true
}

func journalKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = pJournal
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func parseJournalKey(k []byte) (uint64, bool) {
	if len(k) != 9 || k[0] != pJournal {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

// timeOrder maps an instant to an unsigned number that sorts like the
// instant; the zero time sorts first.
func timeOrder(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()) ^ (1 << 63)
}

func timeKey(at time.Time, seq uint64) []byte {
	k := make([]byte, 17)
	k[0] = pTime
	binary.BigEndian.PutUint64(k[1:], timeOrder(at))
	binary.BigEndian.PutUint64(k[9:], seq)
	return k
}

func timeBound(at time.Time) []byte {
	k := make([]byte, 9)
	k[0] = pTime
	binary.BigEndian.PutUint64(k[1:], timeOrder(at))
	return k
}

func parseTimeKey(k []byte) (order, seq uint64, ok bool) {
	if len(k) != 17 || k[0] != pTime {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(k[1:9]), binary.BigEndian.Uint64(k[9:]), true
}

// upperBound returns the smallest key greater than every key with prefix p.
func upperBound(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// describeKey renders a key for messages.
func describeKey(k []byte) string {
	if len(k) == 0 {
		return "<empty>"
	}
	if len(k) == 1 {
		return tableName(k[0])
	}
	switch k[0] {
	case pTapID:
		if d, s, ok := parseTapIDKey(k); ok {
			return fmt.Sprintf("tap %s#%d", d, s)
		}
	case pJournal:
		if s, ok := parseJournalKey(k); ok {
			return "journal " + strconv.FormatUint(s, 10)
		}
	case pTime:
		if o, s, ok := parseTimeKey(k); ok {
			return fmt.Sprintf("time-index %d/%d", o, s)
		}
	case pSchema:
		return "schema " + strconv.Quote(string(k[1:]))
	case pTariff:
		return "tariff " + strconv.Quote(string(k[1:]))
	case pPass:
		return "pass " + strconv.Quote(string(k[1:]))
	case pCard:
		return "card " + strconv.Quote(string(k[1:]))
	case pUsage:
		return "usage " + strconv.Quote(string(k[1:]))
	case pPosting:
		return "posting " + strconv.Quote(string(k[1:]))
	case pBalance:
		return "balance " + strconv.Quote(string(k[1:]))
	case pStatement:
		return "statement " + strconv.Quote(string(k[1:]))
	case pRecord:
		if table, id, ok := bytes.Cut(k[1:], []byte{0}); ok {
			return string(table) + " " + strconv.Quote(string(id))
		}
		return "record " + strconv.Quote(string(k[1:]))
	case pMeta:
		return "meta " + strconv.Quote(string(k[1:]))
	}
	return fmt.Sprintf("%x", k)
}

// tableName names the table of a key prefix in messages ("the journal").
func tableName(p byte) string {
	switch p {
	case pSchema:
		return "the schema records"
	case pTariff:
		return "the tariffs"
	case pPass:
		return "the passes"
	case pCard:
		return "the cards"
	case pUsage:
		return "the usage records"
	case pTapID:
		return "the tap-id index"
	case pJournal:
		return "the journal"
	case pTime:
		return "the time index"
	case pPosting:
		return "the postings"
	case pBalance:
		return "the account balances"
	case pStatement:
		return "the statements of earlier releases"
	case pRecord:
		return "the records (statements, payouts)"
	case pMeta:
		return "the metadata"
	}
	return fmt.Sprintf("table %#x", p)
}
