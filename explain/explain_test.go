package explain_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/explain"
	"github.com/citypass/citypass/ledger"
)

func TestSentence(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unknown pass", fmt.Errorf("pass P-1: %w", engine.ErrUnknownPass), "Pass P-1: there is no such pass."},
		{"refund refused", fmt.Errorf("pass P-2 has 3 accepted entries: %w", engine.ErrRefundRefused),
			"Pass P-2 has 3 accepted entries: the refund is not allowed."},
		{"bad request", fmt.Errorf("card \"zz\": want hex: %w", engine.ErrBadRequest), `Card "zz": want hex: the request is not valid.`},
		{"live pass", fmt.Errorf("selling: %w", &engine.LivePassError{Card: "04A1", Pass: "P-3"}),
			"Selling: card 04A1 already carries the live pass P-3: a card carries one live pass at a time."},
		{"locked", &ledger.LockedError{Dir: "/d/ledger", PID: 42, Command: "citypass gate", Err: errors.New("resource temporarily unavailable")},
			"The ledger is in use by another program (process 42, citypass gate): stop it or wait, then try again."},
		{"bare sentinel", engine.ErrCardBlocked, "This card is blocked."},
		{"prefix inside", fmt.Errorf("reading pass P-9: %w", errors.New("ledger: not quite found")), "Reading pass P-9: not quite found."},
		{"path left alone", errors.New("open /srv/reconcile: permission denied"), "Open /srv/reconcile: permission denied."},
		{"read-only", fmt.Errorf("storing: %w", ledger.ErrReadOnly), "Storing: the ledger was opened read-only: this command cannot change it."},
		{"unknown error with a prefix", errors.New("engine: new pass id already used"), "New pass id already used."},
		{"plain", errors.New("--at \"x\": want RFC 3339"), "--at \"x\": want RFC 3339."},
		{"clone", fmt.Errorf("refusing the card on %q: %w", "desk", &cardio.OriginalityError{UID: "04A1B2C3D4E5F6",
			Err: errors.New("its originality signature does not verify under NXP's public key")}),
			`Refusing the card on "desk": card 04A1B2C3D4E5F6 is not a genuine NXP NTAG 424 DNA (a clone or an emulator): its originality signature does not verify under NXP's public key.`},
		{"not blank", fmt.Errorf("personalize: %w: key 0 is neither the factory key nor this card's key", cardio.ErrNotBlank),
			"Personalize: the card is not blank: key 0 is neither the factory key nor this card's key."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := explain.Sentence(tt.err)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, "engine:")
			assert.NotContains(t, got, "ledger:")
		})
	}
	assert.Empty(t, explain.Sentence(nil))
}
