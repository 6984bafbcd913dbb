//go:build linux

package topology

import "net/netip"

// Routes returns the routes a node needs in the spec's mode. The client
// reaches the real servers' segments through the router (the director in
// routed mode or when there is no router) and the VIP through the
// director (on-link in a lab with two directors, whose VRRP master answers
// for it); real servers send everything through the director (the pair's
// floating address) in NAT and routed mode and through the router
// otherwise. Directors and routers only forward.
func (s *Spec) Routes(node string) []Route {
	n, ok := s.Node(node)
	if !ok || len(n.Links) == 0 {
		return nil
	}
	if s.Mode == ModeCustom {
		return n.Routes
	}
	director, hasDirector := first(s, RoleDirector)
	router, hasRouter := first(s, RoleRouter)
	var out []Route
	switch n.Role {
	case RoleClient:
		front := n.Links[0].Segment
		gw, ok := router, hasRouter
		if s.Mode == ModeRouted || !ok {
			gw, ok = director, hasDirector
		}
		for _, seg := range s.Segments {
			if _, on := n.Link(seg.Name); on || !s.hasRealServerOn(seg.Name) || !ok {
				continue
			}
			out = append(out, viaOn(gw, front, seg.IPv4, seg.IPv6)...)
		}
		switch {
		case s.IsHA():
			// Whichever director is the VRRP master answers ARP for the VIP.
			out = append(out, Route{Dst: hostPrefix(s.VIP.IPv4), Dev: front})
		case hasDirector:
			out = append(out, viaOn(director, front, hostPrefix(s.VIP.IPv4), hostPrefix(s.VIP.IPv6))...)
		}
	case RoleRealServer:
		gw, ok := router, hasRouter
		if s.Mode == ModeNAT || s.Mode == ModeRouted || !ok {
			gw, ok = director, hasDirector
		}
		switch {
		case ok && s.IsHA() && gw.Role == RoleDirector:
			out = append(out, Route{Via: s.Floating})
		case ok:
			out = append(out, viaOn(gw, n.Links[0].Segment, netip.Prefix{}, netip.Prefix{})...)
		}
	}
	return out
}

// viaOn routes dst4 and dst6 through gw's addresses on a segment; a zero
// prefix with a valid gateway is the default route.
func viaOn(gw NodeSpec, segment string, dst4, dst6 netip.Prefix) []Route {
	link, ok := gw.Link(segment)
	if !ok {
		return nil
	}
	var out []Route
	if len(link.IPv4) > 0 {
		out = append(out, Route{Dst: dst4, Via: link.IPv4[0]})
	}
	// A valid IPv6 destination, or the default route when the lab is dual stack.
	if len(link.IPv6) > 0 && (dst6.IsValid() || !dst4.IsValid()) {
		out = append(out, Route{Dst: dst6, Via: link.IPv6[0]})
	}
	return out
}

func hostPrefix(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func first(s *Spec, r Role) (NodeSpec, bool) {
	nodes := s.ByRole(r)
	if len(nodes) == 0 {
		return NodeSpec{}, false
	}
	return nodes[0], true
}

func (s *Spec) hasRealServerOn(segment string) bool {
	for _, rs := range s.ByRole(RoleRealServer) {
		if _, ok := rs.Link(segment); ok {
			return true
		}
	}
	return false
}
