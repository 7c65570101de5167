package explain

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
)

// phrase is a sentinel and what it means in plain words.
type phrase struct {
	err   error
	plain string
}

// phrases lists the sentinels Sentence knows, most specific first.
var phrases = []phrase{
	{engine.ErrTapConflict, "this tap number was already used for a different tap"},
	{engine.ErrUnknownPass, "there is no such pass"},
	{engine.ErrUnknownCard, "this card has never carried a pass"},
	{engine.ErrUnknownProduct, "this product is not sold under the tariff in force"},
	{engine.ErrNoTariff, "no tariff is in force then"},
	{engine.ErrCardRevoked, "this card was replaced by another and can never carry a pass again"},
	{engine.ErrCardBlocked, "this card is blocked"},
	{engine.ErrCardNotBlocked, "this card is not blocked"},
	{engine.ErrCardUsed, "the new card must never have carried a pass"},
	{engine.ErrNotLive, "the pass is refunded, expired or past its activation deadline"},
	{engine.ErrRefundRefused, "the refund is not allowed"},
	{engine.ErrBadRequest, "the request is not valid"},
	{ledger.ErrFailed, "the ledger stopped after a storage error; restart the program"},
	{ledger.ErrClosed, "the ledger is closed"},
	{ledger.ErrTapConflict, "this tap number was already recorded"},
	{ledger.ErrExists, "it already exists"},
	{ledger.ErrNotFound, "it was not found"},
	{ledger.ErrUnbalanced, "the posting's debits and credits differ"},
	{ledger.ErrInvalid, "the record is not valid"},
	{ledger.ErrCorrupt, "the ledger holds a damaged record; run `citypass ledger check`"},
	{ledger.ErrReadOnly, "the ledger was opened read-only: this command cannot change it"},
	{datadir.ErrNotInitialized, "the data directory is not set up"},
	{datadir.ErrInitialized, "the data directory is already set up"},
	{datadir.ErrNoTariff, "no tariff is loaded"},
	{datadir.ErrTariffExists, "this tariff version is already loaded"},
	{reconcile.ErrPeriodOpen, "the period has not ended yet"},
	{reconcile.ErrNoStatement, "no partner has a contract for this kind of period"},
	{reconcile.ErrPeriodOrder, "the partner already has a statement for a later period"},
	{reconcile.ErrNothingToPay, "there is no closed, unpaid statement to pay: no payout file was written"},
	{reconcile.ErrEarlierOpen, "earlier periods with visits are not closed yet"},
	{reconcile.ErrRegenerate, "the stored statement can no longer be written again byte for byte (the journal or the tariff changed)"},
	{reconcile.ErrStatementExists, "this statement is already stored"},
	{reconcile.ErrNoDebtor, "no bank account is set for payouts: run `citypass reconcile payout config`"},
	{reconcile.ErrNoPayout, "there is no such payout"},
	{reconcile.ErrPayoutState, "the payout is not in a state that allows this"},
	{reconcile.ErrStatusConflict, "the bank's report contradicts an earlier one"},
	{reconcile.ErrKeyExists, "the signing key already exists"},
	{cardio.ErrKeysExist, "the key file already exists"},
	{cardio.ErrKeyFileMode, "the key file may be read by other users: run chmod 600 on it"},
	{cardio.ErrCardRemoved, "the card was taken away too soon"},
	{cardio.ErrProofFailed, "the card is not genuine or its keys differ"},
	{cardio.ErrNotBlank, "the card is not blank"},
	{cardio.ErrNotPersonalized, "the card does not hold what personalization wrote to it"},
}

// Sentence returns err as one sentence: its known sentinels in plain words,
// no package prefix at the start, a capital first letter and a full stop.
func Sentence(err error) string {
	if err == nil {
		return ""
	}
	var live *engine.LivePassError
	var locked *ledger.LockedError
	msg := err.Error()
	switch {
	case errors.As(err, &live):
		msg = strings.Replace(msg, live.Error(), fmt.Sprintf(
			"card %s already carries the live pass %s: a card carries one live pass at a time", live.Card, live.Pass), 1)
	case errors.As(err, &locked):
		msg = strings.Replace(msg, locked.Error(), lockedSentence(locked), 1)
	}
	for _, p := range phrases {
		if errors.Is(err, p.err) {
			msg = strings.Replace(msg, p.err.Error(), p.plain, 1)
		}
	}
	msg = dropPrefix(strings.TrimSpace(strings.ReplaceAll(msg, "\n", "; ")))
	if r, n := utf8.DecodeRuneInString(msg); n > 0 {
		msg = string(unicode.ToUpper(r)) + msg[n:]
	}
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") && !strings.HasSuffix(msg, "!") {
		msg += "."
	}
	return msg
}

func lockedSentence(e *ledger.LockedError) string {
	if e.PID > 0 {
		return fmt.Sprintf("the ledger is in use by another program (process %d, %s): stop it or wait, then try again", e.PID, e.Command)
	}
	return "the ledger is in use by another program: stop it or wait, then try again"
}

// packagePrefixes are the packages whose errors start with "name: ": the
// library's, the fleet's and the card stack's (TestEveryPrefixIsDropped
// finds them in the source).
var packagePrefixes = []string{"engine: ", "ledger: ", "reconcile: ", "stmtfile: ", "tariff: ", "cardio: ",
	"pcsc: ", "pcscd: ", "vpcd: ", "virtual: ", "datadir: ", "gate: ", "web: ", "history: ", "memstore: ", "demo: ", "bench: ",
	"fleet: ", "hub: ", "node: ", "natsio: ", "wire: ", "netproxy: ", "fleettest: ", "pcsctest: ", "sim: "}

// dropPrefix removes the package prefixes left in msg (errors the phrases
// did not cover) where a clause starts: at the start and after ": " or
// "; ". "reading pass P-1: ledger: not found" becomes "reading pass P-1:
// not found"; a path such as "/srv/ledger: …" is left alone.
func dropPrefix(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); {
		if i == 0 || strings.HasSuffix(msg[:i], ": ") || strings.HasSuffix(msg[:i], "; ") {
			for again := true; again; {
				again = false
				for _, p := range packagePrefixes {
					if strings.HasPrefix(msg[i:], p) {
						i += len(p)
						again = true
					}
				}
			}
			if i >= len(msg) {
				break
			}
		}
		b.WriteByte(msg[i])
		i++
	}
	return b.String()
}
