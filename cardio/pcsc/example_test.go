package pcsc_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
)

// A reader loop: every presented card is read once and closed; a card that
// leaves mid-read is "tap again", never a failure to journal.
func ExampleOpen() {
	ctx := context.Background()
	keys, _ := cardio.LoadKeys("/var/lib/citypass/keys.json")
	m, err := pcsc.Open(ctx, pcsc.Options{Readers: []string{"auto"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for ev := range m.Events() {
		switch ev.Kind {
		case pcsc.CardPresent:
			cred, err := cardio.ReadCredential(ctx, ev.Card, keys, &cardio.ReadOptions{ATR: ev.ATR})
			ev.Card.Close()
			switch {
			case errors.Is(err, cardio.ErrCardRemoved):
				fmt.Println(ev.Reader, "tap again")
			case err != nil:
				fmt.Println(ev.Reader, "error:", err)
			default:
				fmt.Println(ev.Reader, cred.UID, cred.Counter)
			}
		case pcsc.ServiceDown:
			fmt.Println("pcscd unavailable, retrying:", ev.Err)
		}
	}
}
