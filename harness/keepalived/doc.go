// Package keepalived runs a director pair: the real keepalived (Debian's
// package) in both directors of an HA lab (topology.PaperHA). VRRP moves
// the VIP, and on the back segment the floating gateway, to the master;
// keepalived's checkers keep each director's IPVS table; with Options.Sync
// keepalived also runs the kernel's sync daemon, master on the VRRP master
// and backup on the other, swapped by keepalived itself on every
// transition (its ipvswrapper.c). keepalived, not lvslab, owns the daemon
// in such a lab: the kernel allows one master and one backup daemon per
// namespace, and only keepalived knows when to swap them; lvslab reads it
// (harness.Director.SyncDaemons) and drives it directly only in a lab
// without keepalived.
//
// It owns the pair's API (Pair, Director, Options; pair.go, options.go),
// the configuration it writes for each director (config.go, from the
// template keepalived.conf.tmpl), keepalived's processes (process.go),
// the events keepalived writes to its notify FIFOs (events.go), watching
// the VIP and the client's neighbour entry (watch.go), the faults a
// director suffers (faults.go), the pair's status (status.go) and the
// options a lab's supervisor runs its pair with (supervise.go).
//
// It must not touch a lab beyond its two directors (and the switch, to cut
// them apart), run real servers (package harness) or build and remove labs
// (package topology). Dependencies point down: it imports harness and
// topology, and harness never imports it (a supervisor runs the pair only
// when handed RunSaved).
package keepalived
