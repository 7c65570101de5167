package pcscgate_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/gate/pcscgate"
)

// What `citypass gate --reader auto --gate mucem/g1` wires together: a
// monitor, the credential reader, the engine, hooks, metrics and one line
// per decision. The Validator comes from engine.New on the ledger.
func ExampleGate_Run() {
	var v *engine.Validator // engine.New(ledger, catalog, nil)
	keys, _ := cardio.LoadKeys("/var/lib/citypass/keys.json")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry() // served with promhttp.HandlerFor(reg, …) on --metrics
	metrics, _ := gate.NewMetrics(reg)
	g, err := gate.New(gate.Config{
		Gate:     "mucem/g1",
		Device:   "mucem-g1",
		Read:     (&cardio.Reader{Keys: keys}).Read,
		Validate: v.Validate,
		OnAccept: "/usr/local/bin/open-turnstile",
		OnOutcome: func(o gate.Outcome) {
			fmt.Println(o.DecisionName(), o.ReasonName(), o.Credential.UID, o.Message)
		},
		Metrics: metrics,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := pcsc.Open(ctx, pcsc.Options{Readers: []string{"auto"}})
	defer m.Close()
	_ = g.Run(ctx, pcscgate.Events(ctx, m.Events())) // returns nil on SIGTERM
}
