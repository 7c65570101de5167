// Package gate is the loop behind `citypass gate`: it turns each card
// presented on a reader into an engine.Tap, asks for a decision, drives the
// actuator hooks and counts everything in Prometheus metrics. It is an
// application of engine and cardio, not part of card I/O: it knows no reader
// stack, and builds and is tested without cgo; gate/pcscgate feeds it from a
// PC/SC reader monitor (cardio/pcsc).
//
// For each CardPresent event, Gate.Handle:
//
//  1. reads the credential (Config.Read, normally cardio.Reader.Read) within
//     Config.ReadTimeout, then closes the card;
//  2. maps the outcome of the read:
//     - card gone (cardio.ErrCardRemoved) or read timeout: OutcomeTapAgain —
//     no tap id is used, nothing is journaled, no hook runs;
//     - proof failure with a known UID (*cardio.ProofError: a wrong MAC or
//     key, or a UID-only card without --insecure-uid): a tap with
//     ProofFailed set, which the engine journals as INVALID;
//     - any other read failure (unknown medium without a UID, reader
//     failure): OutcomeUnreadable, nothing journaled, the deny hook runs;
//  3. numbers the tap (Config.NextSeq: the device's strictly rising
//     sequence), stamps it with Config.Now and calls Config.Validate within
//     Config.DecideTimeout (engine.Validator.Validate journals durably before
//     it answers);
//  4. runs --on-accept or --on-deny (Config.OnAccept / OnDeny) with the
//     decision in CITYPASS_* environment variables, bounded by
//     Config.HookTimeout, its whole process group killed on timeout and
//     when the hook's shell ends (a background child it left dies with it);
//  5. reports the Outcome to Config.OnOutcome (the command prints one line
//     per decision) and to the metrics.
//
// Gate.Run consumes Events (from pcscgate.Events over a pcsc.Monitor) until
// the context ends or the channel closes. Presentations are handled one at a time in event order;
// the hooks run synchronously so a gate never opens for two taps at once.
//
// Metrics (NewMetrics): citypass_gate_taps_total{decision,reason},
// citypass_gate_card_read_seconds, citypass_gate_decision_seconds,
// citypass_gate_hook_failures_total{hook}, citypass_gate_pcsc_up and
// citypass_gate_readers; on a fleet node (NewSyncMetrics), the sync's
// citypass_gate_sync_acknowledged_seq, citypass_gate_sync_backlog,
// citypass_gate_sync_connected and citypass_gate_sync_state_age_seconds.
package gate
