//go:build linux

package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// A lab with two directors is a high-availability pair: the directors take
// turns to hold the VIP, which the VRRP master (keepalived, in package
// harness) keeps on its front link and moves by gratuitous ARP. So the
// client reaches the VIP on-link, not through one director's address, and
// in NAT mode the real servers route their replies through the floating
// address, which the master holds on the real servers' segment. Such a
// lab is IPv4 only (VRRPv2 and the IPVS sync daemon's default group are
// IPv4) and has no routed mode: a plain router has nothing to fail over.

// Names of the two directors of PaperHA.
const (
	Director1 = "director1"
	Director2 = "director2"
)

// PaperHA is the paper's lab with a second director beside the first, on
// the front and back segments: the pair a carrier-grade site runs, with
// keepalived moving the VIP between them. Director1 is .2 and director2 .3
// on both segments; the floating back-side address is the segment's last
// host address (192.0.2.254).
func PaperHA(opts ...Option) *Spec {
	return Paper(append([]Option{WithName("paperha"), WithoutIPv6(), withSecondDirector}, opts...)...)
}

// withSecondDirector renames the paper's director director1 and adds
// director2 after it, on the same segments.
func withSecondDirector(s *Spec) {
	for i, n := range s.Nodes {
		if n.Role != RoleDirector {
			continue
		}
		s.Nodes[i].Name = Director1
		second := NodeSpec{Name: Director2, Role: RoleDirector}
		for _, l := range n.Links {
			second.Links = append(second.Links, LinkSpec{Segment: l.Segment})
		}
		s.Nodes = append(s.Nodes[:i+1], append([]NodeSpec{second}, s.Nodes[i+1:]...)...)
		return
	}
}

// IsHA says whether the spec is a director pair.
func (s *Spec) IsHA() bool { return len(s.ByRole(RoleDirector)) == 2 }

// FrontSegment is the segment the client stands on: where the VIP lives in
// an HA lab.
func (s *Spec) FrontSegment() string {
	for _, c := range s.ByRole(RoleClient) {
		if len(c.Links) > 0 {
			return c.Links[0].Segment
		}
	}
	return ""
}

// BackSegment is the real servers' segment (the first real server's):
// where the floating address lives in an HA lab.
func (s *Spec) BackSegment() string {
	for _, rs := range s.ByRole(RoleRealServer) {
		if len(rs.Links) > 0 {
			return rs.Links[0].Segment
		}
	}
	return ""
}

// checkHA names what a spec with two directors (or a floating address
// without them) gets wrong; bad collects the errors.
func checkHA(p *Spec, bad func(string, ...any)) {
	if !p.IsHA() {
		if p.Floating.IsValid() {
			bad("floating %s is the real servers' gateway of a director pair: give the lab two directors, or leave floating out", p.Floating)
		}
		return
	}
	if p.Mode == ModeRouted {
		bad("mode routed has no virtual service to fail over: a lab with two directors runs direct, nat, dr or tun")
	}
	if p.VIP.IPv6.IsValid() {
		bad("vip.ipv6 %s: a lab with two directors is IPv4 only (keepalived moves the IPv4 VIP): leave vip.ipv6 and the segments' ipv6 prefixes out", p.VIP.IPv6)
	}
	for _, seg := range p.Segments {
		if seg.IPv6.IsValid() {
			bad("segment %s has an ipv6 prefix: a lab with two directors is IPv4 only: leave it out", seg.Name)
		}
	}
	if front := p.FrontSegment(); front != "" && front == p.BackSegment() {
		bad("the client and the real servers share segment %s: a lab with two directors needs the client on a front segment of its own", front)
	}
}

// planFloating claims the floating address (planning it as the back
// segment's last host address when none is given) in an HA lab.
func planFloating(p *Spec, segs map[string]SegmentSpec, claim func(netip.Addr, string)) error {
	if !p.IsHA() {
		return nil
	}
	back, ok := segs[p.BackSegment()]
	if !ok {
		return nil // reported by the node checks
	}
	if !p.Floating.IsValid() {
		a, ok := lastHost(back.IPv4)
		if !ok {
			return fmt.Errorf("segment %s (%s) has no address for the floating gateway: use a larger prefix", back.Name, back.IPv4)
		}
		p.Floating = a
	}
	if !p.Floating.Is4() || !back.IPv4.Contains(p.Floating) || !isHost(back.IPv4, p.Floating) {
		return fmt.Errorf("floating %s is not a host address of the real servers' segment %s (%s)", p.Floating, back.Name, back.IPv4)
	}
	claim(p.Floating, "the floating address")
	return nil
}

// lastHost is the highest host address of an IPv4 prefix (.254 of a /24).
func lastHost(prefix netip.Prefix) (netip.Addr, bool) {
	size := 1 << (32 - prefix.Bits())
	return hostAddr(prefix, size-2)
}

// Reboot gives a node a fresh namespace, wired and configured as Build
// left it: what a director that restarted has (no IPVS table, no address
// keepalived added, empty caches). A restarted machine is not a restarted
// process: the kernel's connection table of a crashed director outlives
// its keepalived, so only a new namespace shows what a restarted master
// really knows. Every process in the node must be gone and every handle
// on it closed first; the node's handles are reopened in place.
func (l *Lab) Reboot(name string) error {
	n := l.byName[name]
	if n == nil {
		return fmt.Errorf("lab %s has no node %s", l.Spec.Name, name)
	}
	// The switch's ends go first, so that nothing left in the old
	// namespace (a socket keeps it alive) stays on a bridge.
	for _, link := range n.Links {
		veth, err := l.sw.nl.LinkByName(n.Name + "-" + link.Segment)
		if err == nil {
			err = l.sw.nl.LinkDel(veth)
		}
		if err != nil {
			return fmt.Errorf("reboot %s: remove its link to %s: %w", name, link.Segment, err)
		}
	}
	n.close()
	if err := deleteNamespace(n.Namespace); err != nil {
		return fmt.Errorf("reboot %s: %w", name, err)
	}
	if _, err := createNamespaces([]string{n.Namespace}); err != nil {
		return fmt.Errorf("reboot %s: %w", name, err)
	}
	fresh, err := openNode(n.NodeSpec, l.Spec)
	if err != nil {
		return fmt.Errorf("reboot %s: %w", name, err)
	}
	n.ns, n.nl, n.quit, n.pool = fresh.ns, fresh.nl, fresh.quit, nil
	n.factoryOnce = sync.Once{}
	if err := l.plug(n); err != nil {
		return fmt.Errorf("reboot %s: %w", name, err)
	}
	if err := l.configure(n); err != nil {
		return fmt.Errorf("reboot %s: %w", name, err)
	}
	// Its links are new, and so are their MAC addresses and bridge ports.
	if err := errors.Join(l.pinAddresses(), l.steerReceive()); err != nil {
		return fmt.Errorf("reboot %s: %w", name, err)
	}
	return nil
}

// Switch is the namespace that holds the lab's bridges: where a fault
// between two nodes of one segment (the link between a pair's directors)
// is injected.
func (l *Lab) Switch() *Node { return l.sw }
