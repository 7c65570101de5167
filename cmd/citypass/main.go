// Command citypass is the operator's and integrator's command line for the
// citypass engine: tariffs, passes, taps, gates, reconciliation and reports.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
