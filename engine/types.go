package engine

import (
	"fmt"
	"slices"
	"time"
)

// This file holds the domain records shared by engine, ledger and reconcile.
// Their meaning is stable: codes are persisted and never renumbered.

// Direction of a tap.
type Direction uint8

// Directions. Values are persisted.
const (
	Entry Direction = 0
	Exit  Direction = 1
)

func (d Direction) String() string {
	if d == Exit {
		return "exit"
	}
	return "entry"
}

// TapID identifies a tap across a fleet: the device that made it and that
// device's own strictly rising sequence number, from 1. (device, seq) is
// recorded once. A Tap handed to Validate with Seq 0 is numbered by the
// store: the next seq after the device's highest journaled one, in the
// transaction that journals it (so it never collides with a seq given
// explicitly, and concurrent gates never race for one).
type TapID struct {
	Device string
	Seq    uint64
}

func (id TapID) String() string { return fmt.Sprintf("%s#%d", id.Device, id.Seq) }

// Tap is one presentation of a credential at a gate.
type Tap struct {
	ID        TapID
	Card      string // card UID, upper-case hex
	Gate      string // "VENUE/GATE"
	Direction Direction
	At        time.Time // from the gate's clock; every rule is evaluated at At
	// Counter is the card's authenticated read counter (NTAG 424 SUN), when
	// HasCounter. It must rise from tap to tap or the tap is REPLAYED.
	Counter    uint32
	HasCounter bool
	// ProofFailed is set by the card layer when the credential's cryptographic
	// proof failed; such a tap is INVALID whatever the card.
	ProofFailed bool
}

// Reason is the stable code of a decision (docs/semantics.md, "Order of
// checks"). Values are persisted.
type Reason uint8

// Reasons. Codes are persisted: never renumber; a new reason takes the next
// code, whatever its place in the order of checks (STALE is check 6a).
const (
	ReasonOK              Reason = 0
	ReasonInvalid         Reason = 1
	ReasonReplayed        Reason = 2
	ReasonRevoked         Reason = 3
	ReasonBlocked         Reason = 4
	ReasonCanceled        Reason = 5
	ReasonProduct         Reason = 6
	ReasonNotYetValid     Reason = 7
	ReasonExpired         Reason = 8
	ReasonPassback        Reason = 9
	ReasonAlreadyRedeemed Reason = 10
	ReasonError           Reason = 11
	ReasonStale           Reason = 12 // a fleet node's state is too old (when_stale = "deny")
)

var reasonNames = [...]string{"OK", "INVALID", "REPLAYED", "REVOKED", "BLOCKED", "CANCELED",
	"PRODUCT", "NOT_YET_VALID", "EXPIRED", "PASSBACK", "ALREADY_REDEEMED", "ERROR", "STALE"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("REASON_%d", uint8(r))
}

// ParseReason reads a reason name as printed by String.
func ParseReason(s string) (Reason, error) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), nil
		}
	}
	return 0, fmt.Errorf("engine: unknown reason %q", s)
}

// Flags annotate an accepted entry. Bit positions are persisted.
type Flags uint8

// Flags of accepted entries (docs/semantics.md, "Order of checks").
const (
	FlagActivated    Flags = 1 << 0 // this tap started validity
	FlagAttention    Flags = 1 << 1 // child or other staff check
	FlagPassbackSoft Flags = 1 << 2 // inside a soft anti-passback window
	FlagWarnExpiring Flags = 1 << 3 // under 1 h of validity left
	FlagStale        Flags = 1 << 4 // decided on a fleet node's state older than the product allows
)

var flagNames = [...]string{"ACTIVATED", "ATTENTION", "PASSBACK_SOFT", "WARN_EXPIRING", "STALE"}

// Names returns the set flags' names in a stable order.
func (f Flags) Names() []string {
	out := []string{}
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Decision is the answer to a tap. A deny is a value, not an error.
type Decision struct {
	Accept     bool
	Reason     Reason
	Flags      Flags
	Pass       string    // resolved pass id; empty when none
	Product    string    // product id of the pass
	ValidUntil time.Time // end of validity (exclusive); zero when not activated
}

// PassStatus is the stored lifecycle state of a pass. Blocked and expired are
// derived (card block list; validity end at a given instant), not stored.
type PassStatus uint8

// Pass statuses. Values are persisted.
const (
	PassSold     PassStatus = 0 // sold, not yet activated
	PassActive   PassStatus = 1 // activated
	PassRefunded PassStatus = 2
)

func (s PassStatus) String() string {
	switch s {
	case PassSold:
		return "sold"
	case PassActive:
		return "active"
	case PassRefunded:
		return "refunded"
	}
	return fmt.Sprintf("status_%d", uint8(s))
}

// Pass is an entitlement as stored in the ledger.
type Pass struct {
	ID            string
	TariffVersion string // the version it was sold under; it keeps it
	Product       string
	Category      string
	Card          string   // current card UID
	Cards         []string // every card that carried it, oldest first (current last)
	SoldAt        time.Time
	PriceMinor    int64
	Currency      string
	Channel       string
	Status        PassStatus
	// FixedStart is the start of validity for fixed-clock/fixed_start passes
	// and at_sale passes; zero otherwise.
	FixedStart  time.Time
	ActivatedAt time.Time // zero until activated
	ValidUntil  time.Time // exclusive; zero until activated
	ActivateBy  time.Time // SoldAt + ActivateWithin: never-activated passes expire then
	RefundedAt  time.Time
}

// Card is what the ledger knows of a card UID.
type Card struct {
	UID         string
	Passes      []string // every pass sold onto or moved to the card, oldest first
	Revoked     bool     // replaced by another card; for good
	ReplacedBy  string
	ReplacedAt  time.Time // when it was replaced; zero when not, or replaced before the ledger kept it
	Blocked     bool
	BlockReason string // lost | stolen | fraud
	BlockedAt   time.Time
	LastCounter uint32 // last authenticated counter seen (HasCounter)
	HasCounter  bool
}

// Clone returns a copy of p that shares no slice with it (strings are
// immutable), as a store hands out and keeps values.
func (p Pass) Clone() Pass {
	p.Cards = slices.Clone(p.Cards)
	return p
}

// Clone returns a copy of c that shares no slice with it.
func (c Card) Clone() Card {
	c.Passes = slices.Clone(c.Passes)
	return c
}

// TapRecord is one journaled tap with its decision.
type TapRecord struct {
	Tap
	JournalSeq    uint64    // global journal order, assigned by the ledger
	RecordedAt    time.Time // ledger clock when journaled
	Venue         string
	Pass          string
	Product       string
	TariffVersion string
	Category      string
	Decision      Decision
}

// Account names of the double-entry ledger (docs/semantics.md, "Postings").
// Partner accounts are suffixed with ":<partner id>".
const (
	AccountSalesClearing   = "sales_clearing"
	AccountDeferredRevenue = "deferred_revenue"
	AccountRefundsPayable  = "refunds_payable"
	AccountPassRevenue     = "pass_revenue"
	AccountBreakageRevenue = "breakage_revenue"
	AccountPartnerCost     = "partner_cost"    // + ":" + partner
	AccountPartnerPayable  = "partner_payable" // + ":" + partner
	AccountBank            = "bank"
)

// PostingLine is one leg: exactly one of DebitMinor, CreditMinor is positive.
type PostingLine struct {
	Account     string
	DebitMinor  int64
	CreditMinor int64
}

// Posting is a balanced double-entry transaction in minor units.
type Posting struct {
	ID    string // deterministic: "sale/<pass>", "refund/<pass>", "close/<statement>", …
	At    time.Time
	Kind  string // sale | refund | pass_revenue | breakage | statement | payout
	Ref   string // pass id, statement id, payout id
	Lines []PostingLine
}

// Balanced reports whether the posting's debits equal its credits and every
// line is one-sided and non-negative.
func (p *Posting) Balanced() bool {
	var d, c int64
	for _, l := range p.Lines {
		if l.DebitMinor < 0 || l.CreditMinor < 0 || (l.DebitMinor > 0) == (l.CreditMinor > 0) {
			return false
		}
		d += l.DebitMinor
		c += l.CreditMinor
	}
	return len(p.Lines) >= 2 && d == c
}
