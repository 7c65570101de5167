// Package memstore is an in-memory engine.Store for tests and examples.
//
// It honours the Store contract: an Update whose fn returns an error keeps
// none of its writes; reads inside a transaction see its own writes; tap ids
// are journaled once and numbered in commit order; postings must balance and
// their ids are unique. Nothing is durable: a process exit loses everything.
// FailNextCommit simulates a commit (fsync) failure.
package memstore
