package engine

import (
	"fmt"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// This file is the one place where a decision becomes the text a gate shows
// a visitor (docs/gate-messages.md). Every text is a key of one message
// catalog (golang.org/x/text/message/catalog) with an English and a French
// translation; a gate picks its language (Language), by default the
// tariff's (tariff.Tariff.GateLanguage).

// Language is the language of gate messages: "en" or "fr".
type Language string

// Languages of the gate messages.
const (
	English Language = "en"
	French  Language = "fr"
)

// Languages lists the languages of the message catalog.
var Languages = []Language{English, French}

// ParseLanguage reads a language code ("en", "fr"); empty means English.
func ParseLanguage(s string) (Language, error) {
	switch Language(s) {
	case "", English:
		return English, nil
	case French:
		return French, nil
	}
	return "", fmt.Errorf("language %q: want en or fr: %w", s, ErrBadRequest)
}

// Message keys. The English text of each is in gateTexts.
const (
	msgWelcome      = "welcome"
	msgGoodbye      = "goodbye"
	msgChild        = "child"
	msgSoftPassback = "soft-passback"
	msgExpiring     = "expiring"
	msgValidUntil   = "valid-until"
	msgInvalid      = "invalid"
	msgReplayed     = "replayed"
	msgRevoked      = "revoked"
	msgBlocked      = "blocked"
	msgCanceled     = "canceled"
	msgProduct      = "product"
	msgNotYet       = "not-yet-valid"
	msgExpired      = "expired"
	msgPassback     = "passback"
	msgPassbackWait = "passback-wait"
	msgRedeemed     = "already-redeemed"
	msgStale        = "stale"
	msgError        = "error"
	msgTapAgain     = "tap-again"
	msgUnreadable   = "unreadable"
)

// gateTexts is the catalog: key → English, French. French is written as a
// French visitor reads it at a turnstile: polite imperative ("Veuillez"),
// 24-hour times with "h" ("10h00"), "passe" for the card's pass.
var gateTexts = map[string][2]string{
	msgWelcome:      {"Welcome.", "Bienvenue."},
	msgGoodbye:      {"Goodbye.", "Au revoir."},
	msgChild:        {"Staff check: child pass.", "Contrôle : pass enfant."},
	msgSoftPassback: {"Entry noted: recent entry.", "Entrée notée : passage récent."},
	msgExpiring:     {"Less than 1 hour left.", "Moins d'une heure restante."},
	msgValidUntil:   {"Valid until %s.", "Valable jusqu'au %s."},
	msgInvalid:      {"Card not recognised.", "Carte non reconnue."},
	msgReplayed:     {"Card not accepted. Please see staff.", "Carte refusée. Veuillez vous adresser au personnel."},
	msgRevoked:      {"This card was replaced. Please see staff.", "Cette carte a été remplacée. Veuillez vous adresser au personnel."},
	msgBlocked:      {"Card blocked. Please see staff.", "Carte bloquée. Veuillez vous adresser au personnel."},
	msgCanceled:     {"Pass refunded.", "Pass remboursé."},
	msgProduct:      {"Pass not valid here.", "Pass non valable ici."},
	msgNotYet:       {"Pass not valid yet.", "Pass pas encore valable."},
	msgExpired:      {"Pass expired.", "Pass expiré."},
	msgPassback:     {"Just used here. Please wait.", "Pass déjà utilisé ici. Veuillez patienter."},
	msgPassbackWait: {"Just used here. Please wait %d min.", "Pass déjà utilisé ici. Veuillez patienter %d min."},
	msgRedeemed:     {"Already used here.", "Déjà utilisé ici."},
	msgStale:        {"Offline too long. Please see staff.", "Hors ligne depuis trop longtemps. Veuillez vous adresser au personnel."},
	msgError:        {"Gate error. Please see staff.", "Erreur du portique. Veuillez vous adresser au personnel."},
	msgTapAgain:     {"Please tap again.", "Veuillez présenter à nouveau votre carte."},
	msgUnreadable:   {"Card not accepted.", "Carte non acceptée."},
}

// dateLayouts is how a validity end is written in each language: "28/11
// 10:00" in English (the `tap --json` object), "28/11 à 10h00" in French.
var dateLayouts = map[Language]string{English: "02/01 15:04", French: "02/01 à 15h04"}

var printers = func() map[Language]*message.Printer {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for key, t := range gateTexts {
		if err := b.SetString(language.English, key, t[0]); err != nil {
			panic(err)
		}
		if err := b.SetString(language.French, key, t[1]); err != nil {
			panic(err)
		}
	}
	return map[Language]*message.Printer{
		English: message.NewPrinter(language.English, message.Catalog(b)),
		French:  message.NewPrinter(language.French, message.Catalog(b)),
	}
}()

func printer(lang Language) *message.Printer {
	if p, ok := printers[lang]; ok {
		return p
	}
	return printers[English]
}

// Message returns the English text a gate shows for a decision, e.g.
// "Welcome. Valid until 28/11 10:00.". Times are shown in loc (the tariff's
// zone); nil means the time's own zone.
func Message(d Decision, dir Direction, loc *time.Location) string {
	return MessageIn(English, d, dir, 0, loc)
}

// MessageIn returns the text a gate shows for a decision in lang. wait is
// how long a PASSBACK denial asks the visitor to wait (PassbackWait); zero
// leaves it out. Times are shown in loc; nil means the time's own zone. An
// unknown language is English.
func MessageIn(lang Language, d Decision, dir Direction, wait time.Duration, loc *time.Location) string {
	p := printer(lang)
	if d.Accept {
		if dir == Exit {
			return p.Sprintf(msgGoodbye)
		}
		msg := p.Sprintf(msgWelcome)
		if d.Flags&FlagAttention != 0 {
			msg += " " + p.Sprintf(msgChild)
		}
		if d.Flags&FlagPassbackSoft != 0 {
			msg += " " + p.Sprintf(msgSoftPassback)
		}
		if !d.ValidUntil.IsZero() {
			until := d.ValidUntil
			if loc != nil {
				until = until.In(loc)
			}
			if d.Flags&FlagWarnExpiring != 0 {
				msg += " " + p.Sprintf(msgExpiring)
			}
			layout, ok := dateLayouts[lang]
			if !ok {
				layout = dateLayouts[English]
			}
			msg += " " + p.Sprintf(msgValidUntil, until.Format(layout))
		}
		return msg
	}
	switch d.Reason {
	case ReasonInvalid:
		return p.Sprintf(msgInvalid)
	case ReasonReplayed:
		return p.Sprintf(msgReplayed)
	case ReasonRevoked:
		return p.Sprintf(msgRevoked)
	case ReasonBlocked:
		return p.Sprintf(msgBlocked)
	case ReasonCanceled:
		return p.Sprintf(msgCanceled)
	case ReasonProduct:
		return p.Sprintf(msgProduct)
	case ReasonNotYetValid:
		return p.Sprintf(msgNotYet)
	case ReasonExpired:
		return p.Sprintf(msgExpired)
	case ReasonPassback:
		if wait > 0 {
			return p.Sprintf(msgPassbackWait, int((wait+time.Minute-1)/time.Minute))
		}
		return p.Sprintf(msgPassback)
	case ReasonAlreadyRedeemed:
		return p.Sprintf(msgRedeemed)
	case ReasonStale:
		return p.Sprintf(msgStale)
	}
	return p.Sprintf(msgError)
}

// PassbackWait is how long a visitor denied at instant at must wait until
// retryAt (Result.RetryAt), rounded up to whole minutes; zero when either
// is unknown or retryAt has passed.
func PassbackWait(retryAt, at time.Time) time.Duration {
	if retryAt.IsZero() || at.IsZero() || !at.Before(retryAt) {
		return 0
	}
	w := retryAt.Sub(at)
	return (w + time.Minute - 1) / time.Minute * time.Minute
}

// TapAgainMessage is what a gate shows when a card left the field before it
// was read: the visitor should present it again.
func TapAgainMessage(lang Language) string { return printer(lang).Sprintf(msgTapAgain) }

// UnreadableMessage is what a gate shows for a card it cannot read at all
// (another system's card, a broken one).
func UnreadableMessage(lang Language) string { return printer(lang).Sprintf(msgUnreadable) }
