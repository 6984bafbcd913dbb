// Package harness owns a running lab: the real servers inside their
// namespaces (an HTTP server and a UDP echo responder each, with
// counters), starting and stopping them, the supervisor process that keeps
// a lab's servers running after "lvslab up" returns, and the IPVS director:
// its netlink handle, services and real servers, each forwarding method's
// wiring and sysctls (StartDirector), and the checks that name a
// miswired lab's cause.
//
// It builds on package topology and must not create or delete namespaces
// or links itself, nor touch the root namespace. A director pair's
// keepalived is package keepalived's (harness/keepalived), which builds on
// this one: harness never imports it, and a supervisor runs a pair only
// when handed one (Supervised).
//
// Linux only, as package topology: every file but this one is built for
// linux alone.
package harness
