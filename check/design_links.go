//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
	"github.com/lvslab/lvslab/topology"
)

// devFacts are what a keepalived file says of one interface of its
// director: the VIPs it holds, the source and peers of its adverts.
type devFacts struct {
	vips  []conf.VIP
	src   netip.Addr
	peers []netip.Addr
	where []Pos
}

// devsOf lists the interfaces a director's file names, in the order the
// file names them, with what it says of each.
func devsOf(f *conf.File) ([]string, map[string]*devFacts) {
	var order []string
	facts := map[string]*devFacts{}
	get := func(dev string, p conf.Pos) *devFacts {
		if dev == "" {
			return &devFacts{}
		}
		df := facts[dev]
		if df == nil {
			df = &devFacts{}
			facts[dev] = df
			order = append(order, dev)
		}
		df.where = append(df.where, posOf(p))
		return df
	}
	for _, in := range f.Instances {
		iface := in.Interface.Value
		df := get(iface, in.Interface.Pos)
		if in.UnicastSrcIP.Set {
			df.src = in.UnicastSrcIP.Value
		}
		for _, p := range in.UnicastPeers {
			df.peers = append(df.peers, p.Addr)
		}
		for _, v := range append(slices.Clone(in.VIPs), in.ExcludedVIPs...) {
			dev := v.Dev
			if dev == "" {
				dev = iface
			}
			vf := get(dev, v.Pos)
			vf.vips = append(vf.vips, v)
		}
		for _, t := range in.TrackInterfaces {
			get(t.Name, t.Pos)
		}
	}
	for _, g := range f.SyncGroups {
		for _, t := range g.TrackInterfaces {
			get(t.Name, t.Pos)
		}
	}
	if sd := f.Global.SyncDaemon; sd != nil {
		get(sd.Interface, sd.Pos)
	}
	return order, facts
}

// subnet is the subnet the file implies for an interface, of one
// family, and what implied it.
func (df *devFacts) subnet(v6 bool) (netip.Prefix, string, bool) {
	for _, v := range df.vips {
		if v.Prefix.Addr().Is6() == v6 && v.Prefix.Bits() < v.Prefix.Addr().BitLen() {
			return v.Prefix.Masked(), fmt.Sprintf("VIP %s (%s)", v.Prefix, posOf(v.Pos)), true
		}
	}
	if df.src.IsValid() && df.src.Is6() == v6 {
		return around(df.src), fmt.Sprintf("unicast_src_ip %s", df.src), true
	}
	for _, v := range df.vips {
		if v.Prefix.Addr().Is6() == v6 {
			return around(v.Prefix.Addr()), fmt.Sprintf("VIP %s (%s), whose prefix the file leaves out", v.Prefix.Addr(), posOf(v.Pos)), true
		}
	}
	for _, p := range df.peers {
		if p.Is6() == v6 {
			return around(p), fmt.Sprintf("unicast_peer %s", p), true
		}
	}
	return netip.Prefix{}, "", false
}

// planDirectorLinks gives each director its links: the captured ones,
// or those its file names, on subnets the file implies.
func (d *Design) planDirectorLinks(b *Bundle) {
	for _, dir := range b.Directors {
		if dir.Machine != nil {
			d.capturedLinks(dir)
			continue
		}
		d.assumedLinks(dir)
	}
}

// capturedLinks builds a director's interfaces as the capture shows
// them: an interface the file names and the capture lacks is not built,
// so that keepalived finds it missing as it would on the machine.
func (d *Design) capturedLinks(dir *Director) {
	for _, it := range dir.Machine.Interfaces {
		var v4, v6 netip.Prefix
		for _, p := range it.Addrs {
			switch {
			case p.Addr().Is4() && !v4.IsValid():
				v4 = p
			case p.Addr().Is6() && !v6.IsValid():
				v6 = p
			default:
				d.Unbuilt = append(d.Unbuilt, fmt.Sprintf("%s %s: address %s (the lab builds one subnet per family and interface)", dir.Name, it.Name, p))
			}
		}
		var s *segPlan
		switch {
		case v4.IsValid():
			s = d.segmentFor(v4)
		case v6.IsValid():
			s = d.segmentFor(v6)
		default:
			// An interface with no address still exists for keepalived.
			s = d.segmentFor(d.freeLabPrefix())
		}
		if v6.IsValid() && !s.v6.IsValid() {
			s.v6 = v6.Masked()
		}
		s.devs[dir.Node] = it.Name
	}
}

// freeLabPrefix is a prefix of the lab's own, for a link whose subnet
// does not matter.
func (d *Design) freeLabPrefix() netip.Prefix {
	p, _ := freePrefix(outsidePrefixes, d.prefixes(), d.inputAddrs())
	return p
}

func (d *Design) inputAddrs() []netip.Addr {
	var out []netip.Addr
	for a := range d.pool.used {
		out = append(out, a)
	}
	return out
}

// assumedLinks builds the interfaces a director's file names, each on
// the subnet its VIPs, source or peers imply; every one an assumption.
func (d *Design) assumedLinks(dir *Director) {
	order, facts := devsOf(dir.Conf)
	for _, dev := range order {
		df := facts[dev]
		subj := subjDev(dir.Node, dev)
		var s *segPlan
		// The peer's interface of the same name is on the same segment.
		for _, other := range d.segs {
			if slices.Contains(mapValues(other.devs), dev) {
				s = other
			}
		}
		v4, why4, ok4 := df.subnet(false)
		v6, why6, ok6 := df.subnet(true)
		switch {
		case s != nil:
		case ok4:
			s = d.segmentFor(v4)
		case ok6:
			s = d.segmentFor(v6)
		default:
			s = d.segmentFor(d.freeLabPrefix())
			d.assume(fmt.Sprintf("%s has an interface %s (the file names it, says nothing of its subnet)", dir.Name, dev),
				"--capture", df.where, subj)
		}
		if ok6 && !s.v6.IsValid() {
			s.v6 = v6
		}
		s.devs[dir.Node] = dev
		var addrs []string
		for _, p := range []netip.Prefix{s.v4, s.v6} {
			if !p.IsValid() || !(ok4 && p == v4 || ok6 && p == v6 || len(s.devs) > 1) {
				continue
			}
			a := df.src
			if !a.IsValid() || !p.Contains(a) {
				a, _ = d.pool.low(p)
			}
			dir.addrs = append(dir.addrs, linkAddr{dev: dev, seg: s, addr: a})
			addrs = append(addrs, netip.PrefixFrom(a, p.Bits()).String())
		}
		if len(addrs) > 0 {
			why := why4
			if !ok4 {
				why = why6
			}
			if len(s.devs) > 1 && !ok4 && !ok6 {
				why = "the peer's interface of the same name"
			}
			d.assume(fmt.Sprintf("%s has %s on %s (subnet from %s)", dir.Name, joinStrings(addrs), dev, why),
				"--capture", df.where, subj)
		}
	}
}

// linkAddr is an address the design gave a director's interface.
type linkAddr struct {
	dev  string
	seg  *segPlan
	addr netip.Addr
}

func (d *Design) directorNode(dir *Director) topology.NodeSpec {
	n := topology.NodeSpec{Name: dir.Node, Role: topology.RoleDirector}
	for _, s := range d.segs {
		dev, ok := s.devs[dir.Node]
		if !ok {
			continue
		}
		var addrs []netip.Addr
		if dir.Machine != nil {
			for _, it := range dir.Machine.Interfaces {
				if it.Name == dev {
					for _, p := range it.Addrs {
						if s.v4.Contains(p.Addr()) || s.v6.Contains(p.Addr()) {
							addrs = append(addrs, p.Addr())
						}
					}
				}
			}
		}
		for _, la := range dir.addrs {
			if la.seg == s {
				addrs = append(addrs, la.addr)
			}
		}
		n.Links = append(n.Links, linkOn(s, dev, addrs...))
	}
	n.Routes = d.directorRoutes(dir, n)
	if dir.Machine != nil {
		n.Sysctls = capturedSysctls(dir.Machine, n)
	}
	return n
}

// directorRoutes are the captured routes whose gateway the lab has, or,
// without a capture, a default route through the lab's router.
func (d *Design) directorRoutes(dir *Director, n topology.NodeSpec) []topology.Route {
	var out []topology.Route
	if dir.Machine == nil {
		for _, s := range d.segs {
			if _, on := s.devs[dir.Node]; !on || !s.router4.IsValid() && !s.router6.IsValid() {
				continue
			}
			var via []string
			for _, gw := range []netip.Addr{s.router4, s.router6} {
				if gw.IsValid() {
					out = append(out, topology.Route{Via: gw})
					via = append(via, gw.String())
				}
			}
			d.assume(fmt.Sprintf("%s's default route is through a router at %s on %s", dir.Name, joinStrings(via), s.devs[dir.Node]),
				"--capture", nil, subjDev(dir.Node, s.devs[dir.Node]))
			return out
		}
		return out
	}
	for _, r := range dir.Machine.Routes {
		if r.Table != "main" || r.Type != "" && r.Type != "unicast" || !r.Via.IsValid() {
			continue
		}
		if s := d.segmentOf(r.Via); s == nil || !slices.ContainsFunc(n.Links, func(l topology.LinkSpec) bool { return l.Segment == s.name }) {
			d.Unbuilt = append(d.Unbuilt, fmt.Sprintf("%s: route %s via %s (no interface of the lab reaches the gateway)", dir.Name, routeDst(r.Dst), r.Via))
			continue
		}
		out = append(out, topology.Route{Dst: r.Dst, Via: r.Via})
	}
	return out
}

func routeDst(p netip.Prefix) string {
	if !p.IsValid() {
		return "default"
	}
	return p.String()
}

// capturedSysctls are the director's forwarding and interface settings
// as captured, for the interfaces the lab builds (the IPVS ones are set
// once IPVS is loaded).
func capturedSysctls(m *Machine, n topology.NodeSpec) map[string]string {
	out := map[string]string{}
	devs := map[string]bool{"all": true, "default": true}
	for _, l := range n.Links {
		devs[l.Dev()] = true
	}
	for k, v := range m.Sysctls {
		switch {
		case k == "net.ipv4.ip_forward" || k == "net.ipv6.conf.all.forwarding":
			out[k] = v
		case len(k) > len("net.ipv4.conf."):
			var dev, key string
			if _, err := fmt.Sscanf(k, "net.ipv4.conf.%s", &dev); err != nil {
				continue
			}
			for i := len(dev) - 1; i >= 0; i-- {
				if dev[i] == '.' {
					dev, key = dev[:i], dev[i+1:]
					break
				}
			}
			if devs[dev] && managedConfKeys[key] {
				out[k] = v
			}
		}
	}
	return out
}

// managedConfKeys are the per-interface settings that change how a
// director forwards and answers ARP.
var managedConfKeys = map[string]bool{"rp_filter": true, "arp_ignore": true, "arp_announce": true,
	"send_redirects": true, "accept_local": true, "forwarding": true, "proxy_arp": true}

// planRulesDirector places the one director of a rules file: a front
// segment toward the lab's router, and a link on the real servers'
// subnets, which the file does not give: they are grouped as tightly as
// a lab's segments allow. Its VIPs are local routes, as kube-proxy's
// dummy interface makes them local.
func (d *Design) planRulesDirector(uses []*realUse) error {
	front := d.segmentFor(d.freeLabPrefix())
	front.devs["director"] = front.name
	a, _ := d.pool.low(front.v4)
	dir := &Director{Name: "director", Node: "director", addrs: []linkAddr{{dev: front.name, seg: front, addr: a}}}
	d.rulesDirector = dir
	d.assume("the director's VIPs are local addresses (as kube-proxy's dummy interface makes them) and clients reach them through a router",
		"", nil, subjDev("director", front.name))
	subnets, err := clusterSubnets(uses)
	if err != nil {
		return err
	}
	for _, p := range subnets {
		s := d.segmentFor(p)
		s.devs["director"] = s.name
		a, _ := d.pool.low(p)
		dir.addrs = append(dir.addrs, linkAddr{dev: s.name, seg: s, addr: a})
		d.assume(fmt.Sprintf("the director has %s on the real servers' subnet %s", a, p), "", nil, subjDev("director", s.name))
	}
	return nil
}

// maxRealSubnets is how many real-server subnets a rules lab builds
// (topology.MaxSegments, less the front and outside segments).
const maxRealSubnets = topology.MaxSegments - 2

// clusterSubnets are the narrowest subnets holding every real server
// address: their /24s, or /16s, or /8s, whichever fit in a lab and leave
// every address a host address (a pod range runs through x.y.z.0 and
// x.y.z.255, which a /24 cannot hold).
func clusterSubnets(uses []*realUse) ([]netip.Prefix, error) {
widths:
	for _, bits := range [][2]int{{24, 64}, {16, 56}, {8, 48}} {
		seen := map[netip.Prefix]bool{}
		var out []netip.Prefix
		for _, u := range uses {
			b := bits[0]
			if u.Addr.Is6() {
				b = bits[1]
			}
			p, _ := u.Addr.Prefix(b)
			if !isHostOf(p, u.Addr) {
				continue widths
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		if len(out) <= maxRealSubnets {
			return out, nil
		}
	}
	return nil, fmt.Errorf("the real servers are spread over more than %d /8 subnets: a lab has %d segments", maxRealSubnets, topology.MaxSegments)
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func joinStrings(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " and " + s[len(s)-1]
}

var _ = harness.MethodNAT
