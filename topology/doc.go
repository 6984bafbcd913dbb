// Package topology owns what a lab is and how it exists in the kernel: the
// Spec (nodes by role, L2 segments, addresses, the virtual service address),
// its validation and address planning, building it from network namespaces,
// bridges and veth pairs over netlink, running code inside a node, and
// tearing everything down again, including what a crashed run left behind.
//
// One topology serves every forwarding method. A lab has two L2 segments:
// "front" (client, director, router) and "back" (director, router, real
// servers). The client reaches the VIP through the director and the real
// servers' own addresses through the router. What differs between modes is
// only the real servers' default route (Spec.Mode): through the director for
// NAT, so replies are un-NATed on their way back; through the router for
// direct, DR and TUN, so replies reach the client without passing the
// director. Keeping one wiring means a benchmark compares modes on exactly
// the same links.
//
// Every namespace is named "lvs-<lab>-<node>" and bind-mounted under
// /run/netns so that "ip netns exec" can enter it. Bridges live in a
// namespace of their own ("lvs-<lab>-sw"). Nothing is created in the root
// namespace and the root namespace gets no route into a lab. Before anything
// is created, the lab's namespaces are recorded in a state directory
// (/run/lvslab/<lab>), filled under a temporary name and renamed into place,
// so that Remove and Sweep remove exactly what lvslab made and nothing else.
// A lab's name passes CheckLabName before any path is built from it; its
// directory holds a lock (flock) taken exclusively to build or remove it and
// shared to use it; Remove acts only on state this user wrote, deletes only
// namespaces named lvs-<lab>-<node>, and kills only processes of this user
// started marked as the lab's (MarkCommand) and, if recorded, still the
// process recorded (process.go).
//
// The lab's bridges hold a static forwarding entry for every node's link
// unless the spec asks for a learning switch (Switch, switch.go). A node
// given CPUs of its own is a station of the machine model (cpus.go): its
// receive processing, and that of the bridge ports leading to it, is
// steered to those CPUs with RPS, written through a sysfs mounted on a
// throw-away thread inside the node's namespace; PinStations binds the
// lab's recorded processes and IPVS's estimator there. The flags that
// pick, rename, rewire and place a topology are SpecFlags (flags.go).
//
// A node's link can be impaired as a real link is (impair.go): netem and
// a TBF rate as qdiscs on the link inside the node, read back from the
// kernel rather than recorded. ParseLinks reads the NODE[:LINK] words of
// the commands that act on links.
//
// This package must not touch the root namespace's links, routes, sysctls
// or firewall, nor bind any process but those a lab records and the
// caller's own (PinSelf), and it starts no servers: that is package harness.
//
// Linux only: every file but this one is built for linux alone (network
// namespaces, netlink, mounts, CPU affinity), so that go build and go vet
// of ./... pass on any GOOS, where the lvslab command says it needs Linux.
package topology
