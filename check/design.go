//go:build linux

package check

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/topology"
)

// Design is the lab a check builds from what the operator brought: a
// topology in custom mode (the operator's interfaces, subnets and
// routes, from the capture or assumed), the real servers with what each
// must answer, the lab's own client and router, and every assumption.
type Design struct {
	Spec        *topology.Spec
	Directors   []*Director
	Services    []Service
	Servers     []*ServerPlan
	Assumptions []Assumption
	// Unbuilt are facts of the input the lab leaves out (a second subnet
	// on one interface, a route through a gateway no segment holds).
	Unbuilt []string

	subjects map[string][]string // assumption ID → subjects
	segs     []*segPlan
	pool     *addrPool
	// rulesDirector is the one director of a rules file; heldVIPs the
	// keepalived director that holds the VIPs without VRRP.
	rulesDirector *Director
	heldVIPs      *Director
}

// ServerPlan is one real-server node.
type ServerPlan struct {
	Node string
	// Addrs are the real-server addresses it holds (more than one only
	// when a table has more addresses than a lab has nodes).
	Addrs   []netip.Addr
	Segment string
	// Gateways are its default routes, one per family.
	Gateways []netip.Addr
	Methods  []harness.ForwardMethod
	// VIPs are held on lo (DR and TUN real servers accept the VIP).
	VIPs   []netip.Addr
	Listen []ipvsadm.Endpoint
	Where  []Pos
}

// segPlan is a segment as the design grows it.
type segPlan struct {
	name   string
	v4, v6 netip.Prefix
	// devs are the directors' links on it: node → the operator's name.
	devs map[string]string
	// router is the lab router's address on it, when it has one.
	router4, router6 netip.Addr
	remote           bool // real servers behind the router, no director
	outside          bool // the lab's own client segment
}

// Subjects an assumption is about, and a check involves: an assumption
// makes every check that shares a subject Assumed.
func subjDev(node, dev string) string { return "dev " + node + " " + dev }
func subjReal(a netip.Addr) string    { return "real " + a.String() }
func subjApp(a netip.Addr, port uint16) string {
	return "app " + netip.AddrPortFrom(a, port).String()
}

// assume records a fact the lab needed and the operator did not give,
// once, and returns its ID.
func (d *Design) assume(fact, give string, where []Pos, subjects ...string) string {
	for _, a := range d.Assumptions {
		if a.Fact == fact {
			d.subjects[a.ID] = append(d.subjects[a.ID], subjects...)
			return a.ID
		}
	}
	id := fmt.Sprintf("A%d", len(d.Assumptions)+1)
	d.Assumptions = append(d.Assumptions, Assumption{ID: id, Fact: fact, Where: where, Give: give})
	d.subjects[id] = subjects
	return id
}

// RestsOn lists the assumptions about any of the subjects.
func (d *Design) RestsOn(subjects ...string) []string {
	var out []string
	for _, a := range d.Assumptions {
		if slices.ContainsFunc(d.subjects[a.ID], func(s string) bool { return slices.Contains(subjects, s) }) {
			out = append(out, a.ID)
		}
	}
	return out
}

// Plan designs the lab for a bundle, named name.
func Plan(b *Bundle, name string) (*Design, error) {
	d := &Design{Directors: b.Directors, subjects: map[string][]string{}, pool: newAddrPool()}
	if b.Rules != nil {
		d.Services = servicesOfRules(b.Rules)
	} else if len(b.Directors) > 0 {
		d.Services = servicesOfConf(b.Directors[0].Conf)
	}
	d.claimInputAddresses(b)
	uses := realUses(d.Services)
	if len(uses) == 0 && !slices.ContainsFunc(b.Directors, func(dir *Director) bool { return len(dir.Conf.Instances) > 0 }) {
		return nil, errors.New("no real server and no vrrp_instance in the input: a lab needs one or the other to check anything")
	}
	if len(b.Directors) > 0 {
		d.planDirectorLinks(b)
		if err := d.planHeldVIPs(uses); err != nil {
			return nil, err
		}
	} else if err := d.planRulesDirector(uses); err != nil {
		return nil, err
	}
	d.placeRealServers(uses, b.Serve)
	if err := d.planOutside(); err != nil {
		return nil, err
	}
	spec, err := d.spec(name)
	if err != nil {
		return nil, err
	}
	d.Spec = spec
	return d, nil
}

// claimInputAddresses keeps every address the input names away from the
// lab's own nodes.
func (d *Design) claimInputAddresses(b *Bundle) {
	for _, s := range d.Services {
		for _, a := range s.Addrs {
			d.pool.claim(a)
		}
		for _, r := range s.Reals {
			d.pool.claim(r.Addr)
		}
		if s.Sorry != nil {
			d.pool.claim(s.Sorry.Addr)
		}
	}
	for _, dir := range b.Directors {
		for _, in := range dir.Conf.Instances {
			for _, v := range in.VIPs {
				d.pool.claim(v.Prefix.Addr())
			}
			d.pool.claim(in.UnicastSrcIP.Value)
			for _, p := range in.UnicastPeers {
				d.pool.claim(p.Addr)
			}
		}
		if dir.Machine != nil {
			for _, it := range dir.Machine.Interfaces {
				for _, p := range it.Addrs {
					d.pool.claim(p.Addr())
				}
			}
			for _, r := range dir.Machine.Routes {
				d.pool.claim(r.Via)
			}
		}
	}
}

// segmentFor is the segment of a subnet, made if new.
func (d *Design) segmentFor(p netip.Prefix) *segPlan {
	p = p.Masked()
	for _, s := range d.segs {
		if s.v4 == p || s.v6 == p {
			return s
		}
	}
	s := &segPlan{name: fmt.Sprintf("s%d", len(d.segs)+1), devs: map[string]string{}}
	if p.Addr().Is4() {
		s.v4 = p
	} else {
		s.v6 = p
	}
	d.segs = append(d.segs, s)
	return s
}

// segmentOf is the segment whose subnet holds a, if any.
func (d *Design) segmentOf(a netip.Addr) *segPlan {
	for _, s := range d.segs {
		if s.v4.Contains(a) || s.v6.Contains(a) {
			return s
		}
	}
	return nil
}

// spec writes the design as a topology in custom mode.
func (d *Design) spec(name string) (*topology.Spec, error) {
	spec := &topology.Spec{Name: name, Mode: topology.ModeCustom}
	for _, s := range d.segs {
		v4 := s.v4
		if !v4.IsValid() {
			// A segment of IPv6 subnets only still needs an IPv4 prefix.
			v4, _ = freePrefix(outsidePrefixes, d.prefixes(), nil)
			s.v4 = v4
		}
		spec.Segments = append(spec.Segments, topology.SegmentSpec{Name: s.name, IPv4: v4, IPv6: s.v6})
	}
	for _, dir := range d.Directors {
		n := d.directorNode(dir)
		if dir == d.heldVIPs {
			n.Routes = append(n.Routes, d.localVIPRoutes()...)
		}
		spec.Nodes = append(spec.Nodes, n)
	}
	if d.rulesDirector != nil {
		spec.Nodes = append(spec.Nodes, d.rulesDirectorNode())
	}
	spec.Nodes = append(spec.Nodes, d.routerNode(), d.clientNode())
	for _, sp := range d.Servers {
		spec.Nodes = append(spec.Nodes, d.serverNode(sp))
	}
	planned, err := topology.Plan(spec)
	if err != nil {
		return nil, fmt.Errorf("the lab planned from the input cannot be built:\n%w", err)
	}
	return planned, nil
}

func (d *Design) prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range d.segs {
		for _, p := range []netip.Prefix{s.v4, s.v6} {
			if p.IsValid() {
				out = append(out, p)
			}
		}
	}
	return out
}

// linkOn builds a node's link on a segment with its addresses.
func linkOn(s *segPlan, dev string, addrs ...netip.Addr) topology.LinkSpec {
	l := topology.LinkSpec{Segment: s.name, Name: dev}
	for _, a := range addrs {
		if a.Is4() {
			l.IPv4 = append(l.IPv4, a)
		} else if a.IsValid() {
			l.IPv6 = append(l.IPv6, a)
		}
	}
	return l
}

func (d *Design) routerNode() topology.NodeSpec {
	n := topology.NodeSpec{Name: "router", Role: topology.RoleRouter}
	for _, s := range d.segs {
		if s.router4.IsValid() || s.router6.IsValid() {
			n.Links = append(n.Links, linkOn(s, "", s.router4, s.router6))
		}
	}
	if h := d.vipHolder(); h != nil {
		for _, p := range d.vipPrefixes() {
			via, ok := d.frontAddr(h, p.Addr().Is6())
			if !ok {
				d.Unbuilt = append(d.Unbuilt, fmt.Sprintf("a route to %s: %s has no address of its family on its front link", p, h.Name))
				continue
			}
			n.Routes = append(n.Routes, topology.Route{Dst: p, Via: via})
		}
	}
	// VIPs outside every segment's subnet are on-link where a director
	// holds them: the master answers ARP for them.
	for _, dir := range d.Directors {
		for _, in := range dir.Conf.Instances {
			for _, v := range in.VIPs {
				a := v.Prefix.Addr()
				dev := v.Dev
				if dev == "" {
					dev = in.Interface.Value
				}
				s := d.segmentOfDev(dir.Node, dev)
				if s == nil || d.segmentOf(a) != nil || s.router4 == (netip.Addr{}) && s.router6 == (netip.Addr{}) {
					continue
				}
				r := topology.Route{Dst: netip.PrefixFrom(a, a.BitLen()), Dev: s.name}
				if !slices.Contains(n.Routes, r) {
					n.Routes = append(n.Routes, r)
				}
			}
		}
	}
	return n
}

func (d *Design) segmentOfDev(node, dev string) *segPlan {
	for _, s := range d.segs {
		if s.devs[node] == dev {
			return s
		}
	}
	return nil
}

func (d *Design) outside() *segPlan {
	for _, s := range d.segs {
		if s.outside {
			return s
		}
	}
	return nil
}

// clientSources is how many addresses the client sends from: enough that
// a persistent service spreads them over several real servers.
const clientSources = 16

func (d *Design) clientNode() topology.NodeSpec {
	o := d.outside()
	var addrs []netip.Addr
	for range clientSources {
		if a, ok := d.pool.low(o.v4); ok {
			addrs = append(addrs, a)
		}
	}
	for range clientSources {
		if a, ok := d.pool.low(o.v6); ok && o.v6.IsValid() {
			addrs = append(addrs, a)
		}
	}
	n := topology.NodeSpec{Name: "client", Role: topology.RoleClient, Links: []topology.LinkSpec{linkOn(o, "", addrs...)},
		Sysctls: map[string]string{"net.ipv4.tcp_tw_reuse": "1"}}
	n.Routes = append(n.Routes, topology.Route{Via: o.router4})
	if o.router6.IsValid() {
		n.Routes = append(n.Routes, topology.Route{Via: o.router6})
	}
	return n
}

func (d *Design) serverNode(sp *ServerPlan) topology.NodeSpec {
	s := d.segByName(sp.Segment)
	n := topology.NodeSpec{Name: sp.Node, Role: topology.RoleRealServer, Links: []topology.LinkSpec{linkOn(s, "", sp.Addrs...)}}
	for _, gw := range sp.Gateways {
		n.Routes = append(n.Routes, topology.Route{Via: gw})
	}
	return n
}

func (d *Design) segByName(name string) *segPlan {
	for _, s := range d.segs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// describe says where a segment is, for assumptions.
func (s *segPlan) describe() string {
	var parts []string
	for _, p := range []netip.Prefix{s.v4, s.v6} {
		if p.IsValid() {
			parts = append(parts, p.String())
		}
	}
	return strings.Join(parts, ", ")
}
