// Package explain says an error in words a sales-desk operator or a finance
// user reads without knowing Go: `citypass` prints every error through
// Sentence, and the dashboard shows its failures the same way.
//
// The library packages keep their prefixed sentinel errors ("engine: unknown
// pass") for integrators, who test them with errors.Is. Sentence recognises
// them the same way, with errors.Is and errors.As, never by matching message
// texts: each known sentinel's own text in the message is replaced by its
// plain phrase, so the context the code wrapped around it ("pass P-…")
// stays, and a package prefix ("engine: ", "ledger: ") left at the start of
// an unknown error is dropped.
package explain
