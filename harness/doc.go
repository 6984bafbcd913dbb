// Package harness owns a running lab: the real servers inside their
// namespaces (an HTTP server and a UDP echo responder each, with counters),
// starting and stopping them, fault injection, and the supervisor that
// keeps the servers of a lab brought up by "lvslab up" serving after the
// command returns.
//
// It builds on package topology and must not create or delete namespaces
// or links itself, nor touch the root namespace.
package harness
