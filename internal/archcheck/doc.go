// Package archcheck holds no code: its test checks the module's import
// rules (the shape in STYLE.md and each package's doc.go), so that an
// arrow from the domain to an adapter fails a test instead of waiting for
// a review.
//
//   - engine imports nothing that does I/O: no os, net, os/exec or
//     syscall, and none of ledger, cardio, fleet, web or reconcile;
//   - tariff imports no adapter either (it reads one file, in LoadFile);
//   - gate builds without cgo: neither it nor anything it imports needs
//     cardio/pcsc or github.com/ebfe/scard;
//   - only cardio/pcsc imports github.com/ebfe/scard;
//   - only fleet/natsio imports nats.go and nats-server; engine, tariff,
//     ledger, reconcile and cardio do not depend on them at all.
package archcheck
