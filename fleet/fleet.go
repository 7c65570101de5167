package fleet

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/citypass/citypass/engine"
)

// Role is what a data dir is in a fleet.
type Role string

// Roles. Persisted in a data dir's identity.
const (
	Standalone Role = "standalone" // one ledger, no fleet (the default)
	Hub        Role = "hub"        // the back office: the authoritative ledger
	Node       Role = "node"       // a gate, validator or desk that syncs with a hub
)

// ErrBadNodeID reports a node id outside NodeIDPattern.
var ErrBadNodeID = errors.New("fleet: bad node id")

// NodeIDPattern is the form of a node id: a lower-case letter or digit,
// then up to 62 lower-case letters, digits or dashes.
var NodeIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CheckNodeID returns an error naming id when it is not a valid node id.
func CheckNodeID(id string) error {
	if !NodeIDPattern.MatchString(id) {
		return fmt.Errorf("node id %q: want 1 to 63 lower-case letters, digits or dashes, starting with a letter or digit: %w", id, ErrBadNodeID)
	}
	return nil
}

// Origin says where a record journaled at the hub came from.
type Origin struct {
	Node    string
	Epoch   uint64 // the node ledger's epoch
	NodeSeq uint64 // the record's journal seq at the node
	// NodeRecordedAt is the node's clock when it journaled the record.
	NodeRecordedAt time.Time
	// UploadedAt is the hub's clock when it journaled the record.
	UploadedAt time.Time
	// ClockOffset is hub clock minus node clock, as the node last measured
	// it before the upload (zero and ClockKnown false when never measured).
	ClockOffset time.Duration
	ClockKnown  bool
}

// NodeEpoch is what the hub knows of one incarnation (epoch) of a node's
// ledger.
type NodeEpoch struct {
	Node  string
	Epoch uint64
	// HighWater: every node seq 1..HighWater has been received and is
	// journaled, recognized as a duplicate of a journaled record, or
	// quarantined.
	HighWater uint64
	// Reported is the node's last journal seq as the node last reported it;
	// it may be above HighWater (the backlog, or, for an epoch the node no
	// longer runs, records at risk).
	Reported    uint64
	Records     uint64 // records journaled under this origin
	Duplicates  uint64 // records received that the hub already held under another origin
	Quarantined uint64
	// FirstContact and LastContact are hub times of the first and latest
	// upload or report of this epoch.
	FirstContact time.Time
	LastContact  time.Time
	// ClockOffset is hub clock minus node clock at LastContact.
	ClockOffset time.Duration
	ClockKnown  bool
	// FirstTapAt and LastTapAt bound the tap times of the records received
	// from this epoch (zero before the first).
	FirstTapAt, LastTapAt time.Time
	// StateAsOf is the node's state_as_of as it last reported it: the hub
	// time its copy of the hub's state is complete up to (zero before it
	// first loaded it, or from a node that does not report it).
	StateAsOf time.Time
}

// AtRisk returns the node seqs the node reported that the hub has not
// received: nil when none. For an epoch the node still runs this is its
// backlog; for an older epoch (a wiped or replaced disk) they may be lost.
func (ne *NodeEpoch) AtRisk() (first, last uint64, ok bool) {
	if ne.Reported > ne.HighWater {
		return ne.HighWater + 1, ne.Reported, true
	}
	return 0, 0, false
}

// Quarantined is a record the hub keeps without applying it: its tap id was
// already journaled from another origin with other content, or the node
// sent other content for a node seq the hub already holds (a node ledger
// rolled back), or it names a pass the hub does not know. It is listed by
// fleet status and ledger check and never blocks the records behind it.
type Quarantined struct {
	Origin Origin
	Record engine.TapRecord // as the node journaled it (JournalSeq = node seq)
	Reason string
}

// Batch is one upload: the consecutive journal records First..Last of one
// node epoch (docs/fleet.md, "Taps up").
type Batch struct {
	Node        string
	Epoch       uint64
	First, Last uint64
	// SentAt is the node's clock when it built the batch.
	SentAt time.Time
	// ReceivedAt is when the hub's taps stream stored the batch (the node's
	// upload reached the hub), on the hub's clock; zero when not known. Not
	// sent by the node: the hub sets it from the stream before Ingest.
	ReceivedAt time.Time
	// ClockOffset is the node's last measured offset (hub − node).
	ClockOffset time.Duration
	ClockKnown  bool
	// Records are the node's records, JournalSeq = node seq, RecordedAt =
	// the node's clock.
	Records []engine.TapRecord
}

// MaxBatchRecords bounds the records of one batch.
const MaxBatchRecords = 4096

// MsgID is the batch's message id: "<node>:<epoch>:<first>-<last>".
func (b *Batch) MsgID() string {
	return fmt.Sprintf("%s:%d:%d-%d", b.Node, b.Epoch, b.First, b.Last)
}

// Check verifies a batch's shape: a valid node id, a non-zero epoch, and
// records numbered First..Last without a gap.
func (b *Batch) Check() error {
	if err := CheckNodeID(b.Node); err != nil {
		return err
	}
	if b.Epoch == 0 {
		return fmt.Errorf("batch %s: epoch 0", b.MsgID())
	}
	if b.First == 0 || b.Last < b.First || b.Last-b.First+1 != uint64(len(b.Records)) {
		return fmt.Errorf("batch %s: %d records for seqs %d-%d", b.MsgID(), len(b.Records), b.First, b.Last)
	}
	if len(b.Records) > MaxBatchRecords {
		return fmt.Errorf("batch %s: %d records, at most %d", b.MsgID(), len(b.Records), MaxBatchRecords)
	}
	for i := range b.Records {
		if want := b.First + uint64(i); b.Records[i].JournalSeq != want {
			return fmt.Errorf("batch %s: record %d has seq %d, want %d", b.MsgID(), i, b.Records[i].JournalSeq, want)
		}
	}
	return nil
}

// contactAt returns ne with its last contact moved to t unless it is later
// already: contacts may be taken out of order (a report answered late, an
// upload delivered again).
func (ne NodeEpoch) contactAt(t time.Time) NodeEpoch {
	if t.After(ne.LastContact) {
		ne.LastContact = t
	}
	return ne
}

// SameRecord reports whether two journal records carry the same tap and
// the same decision (their journal seqs and recording times may differ).
func SameRecord(a, b *engine.TapRecord) bool {
	return a.Tap.SameContent(&b.Tap) && a.Venue == b.Venue && a.Pass == b.Pass &&
		a.Decision.Accept == b.Decision.Accept && a.Decision.Reason == b.Decision.Reason &&
		a.Decision.Flags == b.Decision.Flags && a.Decision.ValidUntil.Equal(b.Decision.ValidUntil)
}

// Contact returns ne after a report from its node at hub time now: the
// node's last seq and state_as_of (neither ever lowered: a report may
// arrive late) and its clock offset (hub − node).
func Contact(ne NodeEpoch, now time.Time, lastSeq uint64, offset time.Duration, stateAsOf time.Time) NodeEpoch {
	ne.Reported = max(ne.Reported, lastSeq)
	ne = ne.contactAt(now)
	ne.ClockOffset, ne.ClockKnown = offset, true
	if stateAsOf.After(ne.StateAsOf) {
		ne.StateAsOf = stateAsOf
	}
	return ne
}

// SeqFloor is the floor above which a node numbers its taps (engine.Options.
// SeqFloor): the ledger's creation time in seconds, shifted left 20 bits.
// A ledger created later starts above every seq an earlier one of the same
// node gave, unless that one gave over a million taps per second of the
// time between the two creations (docs/fleet.md, "Tap numbering").
func SeqFloor(ledgerCreated time.Time) uint64 {
	if ledgerCreated.Unix() <= 0 {
		return 0
	}
	return uint64(ledgerCreated.Unix()) << 20
}

// Lagging returns the nodes that may still hold taps of [start, end): a
// node with a record of that span received from any of its epochs, and no
// contact (from any epoch) since end. Sorted. A close of the span at the
// hub waits for them (docs/fleet.md, "Completeness").
func Lagging(epochs []NodeEpoch, start, end time.Time) []string {
	type nodeView struct {
		taps    bool
		contact time.Time
	}
	nodes := map[string]*nodeView{}
	for _, ne := range epochs {
		v := nodes[ne.Node]
		if v == nil {
			v = &nodeView{}
			nodes[ne.Node] = v
		}
		if ne.LastContact.After(v.contact) {
			v.contact = ne.LastContact
		}
		if !ne.FirstTapAt.IsZero() && ne.FirstTapAt.Before(end) && !ne.LastTapAt.Before(start) {
			v.taps = true
		}
	}
	var out []string
	for id, v := range nodes {
		if v.taps && v.contact.Before(end) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
