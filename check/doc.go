// Package check runs an operator's own load-balancer configuration in a
// lab: their keepalived.conf (one file per director, or one for both
// with @NAME lines) or their IPVS rules (ipvsadm -S -n), on a real IPVS
// kernel, with the real keepalived.
//
// It owns what the operator brings (the files, the capture of their
// directors, what their application answers, the remapping of their
// addresses), the lab planned from it, the checks and their report. A
// lab built from a file cannot find what is wrong with that file, so the
// lab takes from the file only what keepalived and IPVS do with it
// (elections, timers, checkers, schedulers, sync); every other fact comes
// from the operator's capture and serve files or is an Assumption, listed
// in the report, and a check that rests on one is Assumed, never Pass.
// The operator's file is never given behaviour of lvslab's: the copies
// keepalived runs differ only where a lab needs them to (pid files,
// FIFOs, scripts replaced by stubs), each such Change reported by line.
// It also owns lvslab check's flags and where a check runs, this host
// or the VM (flags.go, where.go).
//
// It builds on packages topology, harness, harness/keepalived and
// loadgen, and must not touch the root namespace or write anywhere but
// the lab's state directory and the output the caller names.
package check
