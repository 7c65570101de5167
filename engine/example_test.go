package engine_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// An integrator's turnstile: open the ledger, build a Validator on the tariff
// catalog, and ask it about each tap. Validate returns once the tap is durably
// journaled. A denied tap is a decision; an error means the gate stays shut.
// (This ledger does not store the tariff: datadir.Init makes a data dir that
// does, which every citypass command can then open.)
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "citypass-example-")
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	catalog, _ := tariff.NewCatalog(tariff.SampleTariff())
	v, _ := engine.New(l, catalog, nil)

	paris, _ := time.LoadLocation("Europe/Paris")
	sold := time.Date(2026, 11, 27, 9, 0, 0, 0, paris)
	_, _ = v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A1B2C3D4E5F6", At: sold})

	for seq, at := range []time.Time{sold.Add(time.Hour), sold.Add(2 * time.Hour)} {
		res, err := v.Validate(ctx, engine.Tap{
			ID:   engine.TapID{Device: "mucem-g1", Seq: uint64(seq + 1)},
			Card: "04A1B2C3D4E5F6", Gate: "mucem/g1", At: at,
		})
		if err != nil {
			fmt.Println("gate stays shut:", err)
			continue
		}
		fmt.Println(res.Decision.Accept, res.Decision.Reason, res.Decision.Flags.Names(), res.Message)
	}
	// Output:
	// true OK [ACTIVATED] Welcome. Valid until 28/11 10:00.
	// false ALREADY_REDEEMED [] Already used here.
}
