// Package capture owns packet captures of a lab's links: an AF_PACKET
// socket opened inside a node's namespace on one of its links, a filter on
// host, port and protocol, and pcapng output, streamed to a writer or kept
// in a bounded ring for a test that may fail. Every link is one interface
// block named "node:link", with the kernel's receive timestamps.
//
// It reads packets and nothing else: it must not change a link, a route or
// a sysctl, nor put the link in promiscuous mode (a node's link is a veth
// whose peer is a bridge port, so the node's own link already sees every
// packet that node sends and receives).
//
// The filter is evaluated in Go on decoded packets rather than compiled to
// classic BPF: gopacket compiles tcpdump expressions only through libpcap
// and cgo, which lvslab's static binary (also the VM's init) does without.
//
// The capture itself is Linux only; the filter, the ring and the pcapng
// writer are plain Go and tested on any system.
package capture
