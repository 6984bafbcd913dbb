// Package loadgen drives HTTP load at a lab and measures it: closed-loop
// clients as WebBench ran them (N clients, zero think time) and open-loop
// constant rate (latency from each request's scheduled send time, so a
// stalled server cannot hide its stall). Each request uses a new TCP
// connection (the paper's "valid TCP connections per second") or, with
// keep-alive, one connection per client and target.
//
// The clients are shared out over one event loop per CPU the process may
// use, as wrk's threads share theirs: raw non-blocking socket calls on an
// epoll instance, no goroutine, timer or allocation per request, so that
// the load generator costs no more CPU per request than wrk and leaves the
// machine to the system it measures. Sockets come from the client (a
// node makes them inside its namespace) and connections rotate over the
// client's source addresses. Every run is bounded by a duration and a
// request count and stops by itself; no request outlives the duration.
// Results carry an HdrHistogram of latencies, errors by kind, a
// per-second series and per-real-server counts (from the X-Real-Server
// header). What a run holds in memory grows with its clients, never with
// its duration (MemoryBound). lvslab load's flags for a run's settings
// are declared and checked here (Flags, flags.go).
//
// This package only sends traffic to the targets it is given; it does not
// build labs or change their configuration.
//
// Linux only: epoll and raw socket calls; every file but this one is
// built for linux alone.
package loadgen
