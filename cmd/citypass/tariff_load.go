package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/tariff"
)

// newTariffLoadCmd is `tariff load FILE`: validate a tariff file and add it to
// the ledger as a new version. Passes already sold keep their version; sales
// from its effective_from date use it.
func newTariffLoadCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "load FILE",
		Short: "Add a tariff version to the ledger (passes already sold keep theirs)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return a.runTariffLoad(args[0]) },
	}
}

func (a *app) runTariffLoad(path string) error {
	t, err := tariff.LoadFile(path)
	if err != nil {
		return err
	}
	l, release, err := a.openLedger()
	if err != nil {
		return err
	}
	defer release()
	if err := a.refuseOnNode(l, "tariff load"); err != nil {
		return err
	}
	cat, err := datadir.AddTariff(a.ctx(), l, t)
	if err == nil && a.shared != nil {
		a.shared.Validator.SetCatalog(cat) // the running hub decides with it now
	}
	if err != nil {
		if errors.Is(err, datadir.ErrTariffExists) {
			return fmt.Errorf("%s: tariff version %q is already loaded; give the new version its own id", path, t.ID)
		}
		return err
	}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(map[string]string{"tariff": t.ID, "effective_from": t.EffectiveFrom.Format("2006-01-02")})
	}
	fmt.Fprintf(a.stdout, "loaded tariff %s, effective from %s\n", t.ID, t.EffectiveFrom.Format("2006-01-02"))
	return nil
}
