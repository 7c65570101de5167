package datadir_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// An integrator creates the data dir once, then opens it at every start:
// the ledger, the catalog of the tariff versions it stores, and a Validator.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "citypass-datadir-")
	defer os.RemoveAll(dir)

	d, err := datadir.Init(ctx, dir, tariff.SampleTariff(), nil) // ledger + stored tariff + keys
	if err != nil {
		fmt.Println(err)
		return
	}
	d.Close()

	d, err = datadir.Open(ctx, dir, nil) // what every later start does
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	paris, _ := time.LoadLocation("Europe/Paris")
	sold := time.Date(2026, 11, 27, 9, 0, 0, 0, paris)
	_, _ = d.Validator.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A1B2C3D4E5F6", At: sold})
	res, err := d.Validator.Validate(ctx, engine.Tap{
		ID:   engine.TapID{Device: "mucem-g1", Seq: 1},
		Card: "04A1B2C3D4E5F6", Gate: "mucem/g1", At: sold.Add(time.Hour),
	})
	if err != nil {
		fmt.Println("gate stays shut:", err)
		return
	}
	fmt.Println(res.Decision.Accept, res.Message)
	// Output:
	// true Welcome. Valid until 28/11 10:00.
}
