//go:build linux

package check

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
	"github.com/lvslab/lvslab/topology"
)

// maxServerNodes leaves room in a lab (topology.MaxNodes) for the
// directors, the client and the router; more real-server addresses than
// this share nodes as secondary addresses.
const maxServerNodes = topology.MaxNodes - 4

// placeRealServers puts every real-server address on a segment: the
// director's subnet that holds it, else a subnet behind the router.
func (d *Design) placeRealServers(uses []*realUse, serve *Serve) {
	perNode := (len(uses) + maxServerNodes - 1) / maxServerNodes
	var last *ServerPlan
	for _, u := range uses {
		s := d.segmentOf(u.Addr)
		if s == nil {
			s = d.remoteSegment(u)
		}
		if last != nil && len(last.Addrs) < perNode && last.Segment == s.name {
			last.Addrs = append(last.Addrs, u.Addr)
			last.merge(u)
			continue
		}
		sp := &ServerPlan{Node: fmt.Sprintf("rs%d", len(d.Servers)+1), Addrs: []netip.Addr{u.Addr}, Segment: s.name}
		sp.merge(u)
		sp.Gateways = d.gatewaysFor(sp, s)
		d.Servers = append(d.Servers, sp)
		last = sp
	}
	for _, sp := range d.Servers {
		for _, a := range sp.Addrs {
			for _, e := range sp.Listen {
				if _, ok := serve.For(a, e.Port); !ok {
					d.assume("the application answers every request: 200 to any GET, an echo to UDP (no serve entry names it)",
						"--serve", nil, subjApp(a, e.Port))
				}
			}
		}
	}
}

func (sp *ServerPlan) merge(u *realUse) {
	for _, e := range u.Listen {
		if !slices.Contains(sp.Listen, e) {
			sp.Listen = append(sp.Listen, e)
		}
	}
	for _, v := range u.VIPs {
		if !slices.Contains(sp.VIPs, v) {
			sp.VIPs = append(sp.VIPs, v)
		}
	}
	for _, m := range u.Methods {
		if !slices.Contains(sp.Methods, m) {
			sp.Methods = append(sp.Methods, m)
		}
	}
	sp.Where = append(sp.Where, u.Where...)
}

// remoteSegment is the subnet, behind the router, of a real server no
// director's subnet holds: routed there by the capture's routes, or by
// assumption.
func (d *Design) remoteSegment(u *realUse) *segPlan {
	s := d.segmentFor(around(u.Addr))
	s.remote = true
	if !s.router4.IsValid() && s.v4.IsValid() {
		s.router4, _ = d.pool.high(s.v4)
	}
	if !s.router6.IsValid() && s.v6.IsValid() {
		s.router6, _ = d.pool.high(s.v6)
	}
	captured := false
	for _, dir := range d.Directors {
		if dir.Machine != nil {
			captured = true
		}
	}
	if !captured {
		d.assume(fmt.Sprintf("real server %s is on %s, which no interface of a director holds: reached through a router", u.Addr, s.describe()),
			"--capture", u.Where, subjReal(u.Addr))
	}
	return s
}

// gatewaysFor are a real server's default gateways (one per family): in
// NAT the director pair's VIP on its subnet (the floating gateway) or
// the first director's address there; in DR and TUN the router, so that
// replies bypass the director.
func (d *Design) gatewaysFor(sp *ServerPlan, s *segPlan) []netip.Addr {
	nat := slices.Contains(sp.Methods, harness.MethodNAT)
	subj := subjReal(sp.Addrs[0])
	if !nat || s.remote {
		d.routerOn(s)
		d.assume(fmt.Sprintf("real servers on %s send replies through the network's router", s.describe()), "", sp.Where, subj)
		var out []netip.Addr
		for _, a := range []netip.Addr{s.router4, s.router6} {
			if a.IsValid() {
				out = append(out, a)
			}
		}
		return out
	}
	if gw := d.natGateway(sp, s, subj); gw.IsValid() {
		return []netip.Addr{gw}
	}
	return nil
}

func (d *Design) natGateway(sp *ServerPlan, s *segPlan, subj string) netip.Addr {
	for _, dir := range d.Directors {
		for _, in := range dir.Conf.Instances {
			for _, v := range in.VIPs {
				if s.v4.Contains(v.Prefix.Addr()) {
					d.assume(fmt.Sprintf("real servers on %s route through %s, the VIP of %s (%s)", s.describe(), v.Prefix.Addr(), in.Name, posOf(v.Pos)),
						"", sp.Where, subj)
					return v.Prefix.Addr()
				}
			}
		}
	}
	for _, dir := range d.allDirectors() {
		for _, la := range dir.addrs {
			if la.seg == s && la.addr.Is4() {
				d.assume(fmt.Sprintf("real servers on %s route through %s's address %s", s.describe(), dir.Name, la.addr), "", sp.Where, subj)
				return la.addr
			}
		}
		if dir.Machine != nil {
			if it, p, ok := dir.Machine.Connected(sp.Addrs[0]); ok {
				for _, a := range it.Addrs {
					if a.Addr().Is4() && a.Masked() == p.Masked() {
						d.assume(fmt.Sprintf("real servers on %s route through %s's address %s", s.describe(), dir.Name, a.Addr()), "", sp.Where, subj)
						return a.Addr()
					}
				}
			}
		}
	}
	return netip.Addr{}
}

func (d *Design) allDirectors() []*Director {
	if d.rulesDirector != nil {
		return []*Director{d.rulesDirector}
	}
	return d.Directors
}

// routerOn gives the lab's router an address on a segment: the gateway
// a captured director routes through there, else a free host address.
func (d *Design) routerOn(s *segPlan) {
	if s.router4.IsValid() {
		return
	}
	for _, dir := range d.Directors {
		if dir.Machine == nil {
			continue
		}
		for _, r := range dir.Machine.Routes {
			if r.Via.IsValid() && r.Via.Is4() && s.v4.Contains(r.Via) {
				s.router4 = r.Via
			}
			if r.Via.IsValid() && r.Via.Is6() && s.v6.Contains(r.Via) {
				s.router6 = r.Via
			}
		}
	}
	if !s.router4.IsValid() && s.v4.IsValid() {
		s.router4, _ = d.pool.high(s.v4)
	}
	if !s.router6.IsValid() && s.v6.IsValid() {
		s.router6, _ = d.pool.high(s.v6)
	}
}

// planOutside adds the lab's own client segment behind the router, and
// the router to every segment clients reach a VIP on.
func (d *Design) planOutside() error {
	for _, s := range d.segs {
		if d.frontSegment(s) {
			d.routerOn(s)
		}
	}
	o, ok := freePrefix(outsidePrefixes, d.prefixes(), d.inputAddrs())
	if !ok {
		return errors.New("every documentation prefix is used by the input: the lab has no subnet left for its own client")
	}
	out := d.segmentFor(o)
	out.outside = true
	if d.anyIPv6() {
		o6, ok := freePrefix(outside6Prefixes, d.prefixes(), d.inputAddrs())
		if !ok {
			return errors.New("the input uses 2001:db8:ffff:ffff::/64 and 2001:db8:fffe:ffff::/64: the lab has no IPv6 subnet left for its client")
		}
		out.v6 = o6
	}
	d.routerOn(out)
	return nil
}

// frontSegment says whether clients reach a VIP on the segment.
func (d *Design) frontSegment(s *segPlan) bool {
	if h := d.vipHolder(); h != nil {
		_, ok := s.devs[h.Node]
		return ok && !s.remote
	}
	for _, dir := range d.Directors {
		dev, ok := s.devs[dir.Node]
		if !ok {
			continue
		}
		_, facts := devsOf(dir.Conf)
		if f := facts[dev]; f != nil && slices.ContainsFunc(f.vips, func(v conf.VIP) bool { return d.isServiceAddr(v.Prefix.Addr()) }) {
			return true
		}
	}
	return false
}

// isServiceAddr says whether a virtual service listens on a (a VIP that
// is only a gateway is not one clients reach).
func (d *Design) isServiceAddr(a netip.Addr) bool {
	return slices.ContainsFunc(d.Services, func(s Service) bool { return slices.Contains(s.Addrs, a) })
}

func (d *Design) anyIPv6() bool {
	for _, s := range d.Services {
		for _, a := range s.Addrs {
			if a.Is6() {
				return true
			}
		}
	}
	return false
}

// maxLocalRoutes bounds the local routes a rules director gets: VIPs are
// grouped by /24 where no other address of the lab shares it.
const maxLocalRoutes = 1024

// vipPrefixes cover a rules file's VIPs: a /24 (/120) where only VIPs
// live in it, the address itself otherwise.
func (d *Design) vipPrefixes() []netip.Prefix {
	others := map[netip.Prefix]bool{}
	for _, sp := range d.Servers {
		for _, a := range sp.Addrs {
			others[wide(a)] = true
		}
	}
	for _, p := range d.prefixes() {
		others[wide(p.Addr())] = true
	}
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, s := range d.Services {
		for _, a := range s.Addrs {
			p := wide(a)
			if others[p] {
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

func wide(a netip.Addr) netip.Prefix {
	bits := 24
	if a.Is6() {
		bits = 120
	}
	p, _ := a.Prefix(bits)
	return p
}

// rulesDirectorNode is the director of a rules file: its front link, a
// link on every real servers' subnet, and its VIPs as local routes.
func (d *Design) rulesDirectorNode() topology.NodeSpec {
	dir := d.rulesDirector
	n := topology.NodeSpec{Name: dir.Node, Role: topology.RoleDirector}
	for _, s := range d.segs {
		if s.outside {
			continue
		}
		var addrs []netip.Addr
		for _, la := range dir.addrs {
			if la.seg == s {
				addrs = append(addrs, la.addr)
			}
		}
		if len(addrs) > 0 {
			n.Links = append(n.Links, linkOn(s, "", addrs...))
		}
	}
	front := dir.addrs[0].seg
	n.Routes = append(n.Routes, topology.Route{Via: front.router4})
	n.Routes = append(n.Routes, d.localVIPRoutes()...)
	return n
}
