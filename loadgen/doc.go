// Package loadgen drives HTTP load at a lab and measures it: closed-loop
// clients as WebBench ran them (N clients, zero think time) and open-loop
// constant rate (latency from each request's scheduled send time, so a
// stalled server cannot hide its stall). Each request uses a new TCP
// connection (the paper's "valid TCP connections per second") or, with
// keep-alive, one connection per client.
//
// Dials happen inside the client namespace and rotate over the client's
// source addresses. Every run is bounded by a duration and a request count
// and stops by itself. Results carry an HdrHistogram of latencies, errors
// by kind, a per-second series and per-real-server counts (from the
// X-Real-Server header).
//
// This package only sends traffic to the targets it is given; it does not
// build labs or change their configuration.
package loadgen
