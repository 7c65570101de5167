// Package doccheck holds the test that keeps the repository's citations of
// its own documents true: every "docs/<name>.md" named in code, comments and
// documents exists, and every section it names, as in
// `docs/semantics.md, "Order of checks"` or `docs/semantics.md ("Usage")`,
// is a heading of that document. It has no code of its own.
package doccheck
