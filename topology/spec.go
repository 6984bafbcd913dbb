//go:build linux

package topology

import (
	"fmt"
	"net/netip"
)

// Role is what a node does in a lab.
type Role string

const (
	RoleClient     Role = "client"
	RoleDirector   Role = "director"
	RoleRouter     Role = "router"
	RoleRealServer Role = "real-server"
)

// ServerHeader is the HTTP response header in which a lab's real server
// names itself: package harness's servers set it and package loadgen counts
// requests per server by it, neither importing the other.
const ServerHeader = "X-Real-Server"

// Mode says how the real servers route their replies.
type Mode string

const (
	// ModeDirect: the client talks to the real servers' own addresses,
	// through the router (the paper's setup without LVS).
	ModeDirect Mode = "direct"
	// ModeRouted: the client reaches the real servers' own addresses
	// through the director acting as a plain router (no virtual service),
	// and the replies come back the same way: one hop, no IPVS.
	ModeRouted Mode = "routed"
	// ModeNAT: real servers route replies through the director.
	ModeNAT Mode = "nat"
	// ModeDR and ModeTUN: real servers route replies through the router,
	// bypassing the director.
	ModeDR  Mode = "dr"
	ModeTUN Mode = "tun"
	// ModeCustom: the caller gives every address and route (an operator's
	// own network, as lvslab check rebuilds it); Plan only checks them.
	// No lab command offers it.
	ModeCustom Mode = "custom"
)

// Balanced says whether the mode puts a virtual service (IPVS) on the
// path: nat, dr and tun do; direct and routed do not.
func (m Mode) Balanced() bool { return m == ModeNAT || m == ModeDR || m == ModeTUN }

// Modes lists every mode a lab can be wired for.
var Modes = []Mode{ModeDirect, ModeRouted, ModeNAT, ModeDR, ModeTUN}

// Spec is a lab: its nodes, the segments that join them and the virtual
// service. Addresses left empty are planned by Plan.
type Spec struct {
	Name     string        `json:"name"`
	Mode     Mode          `json:"mode"`
	VIP      VIP           `json:"vip"`
	Segments []SegmentSpec `json:"segments"`
	Nodes    []NodeSpec    `json:"nodes"`
	// Switch is how the bridges forward (switch.go).
	Switch Switch `json:"switch,omitzero"`
	// Floating is the address a director pair's VRRP master holds on the
	// real servers' segment, their gateway in NAT mode (see PaperHA);
	// planned when left out, and only for a lab with two directors.
	Floating netip.Addr `json:"floating,omitzero"`
}

// VIP is the virtual service address the director announces.
type VIP struct {
	IPv4 netip.Addr `json:"ipv4"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
	Port uint16     `json:"port"`
}

// SegmentSpec is one L2 segment (a bridge). IPv6 is optional.
type SegmentSpec struct {
	Name string       `json:"name"`
	IPv4 netip.Prefix `json:"ipv4"`
	IPv6 netip.Prefix `json:"ipv6,omitzero"`
}

// NodeSpec is one namespace of the lab.
type NodeSpec struct {
	Name  string     `json:"name"`
	Role  Role       `json:"role"`
	Links []LinkSpec `json:"links"`
	// Sysctls are written inside the node's namespace; only net.* keys are
	// per namespace, so only they are accepted.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// CPUs, if set, make the node a station of its own (cpus.go).
	CPUs CPUList `json:"cpus,omitempty"`
	// Routes are the node's routes in ModeCustom (planned otherwise).
	Routes []Route `json:"routes,omitempty"`
}

// LinkSpec attaches a node to a segment. The link inside the node is named
// after the segment. With no addresses given, Plan plans them.
type LinkSpec struct {
	Segment string       `json:"segment"`
	IPv4    []netip.Addr `json:"ipv4"`
	IPv6    []netip.Addr `json:"ipv6,omitempty"`
	// Impair is what the link does to the packets the node sends on it
	// (impair.go), set when the lab is built.
	Impair Impairment `json:"impair,omitzero"`
	// Sources is how many addresses to plan for this link when none are
	// given (the client uses several so that dials do not run out of
	// source ports).
	Sources int `json:"-"`
	// Name is the link's name inside the node (an operator's eth1), the
	// segment's name when empty.
	Name string `json:"name,omitempty"`
}

// Dev is the link's name inside the node.
func (l LinkSpec) Dev() string {
	if l.Name != "" {
		return l.Name
	}
	return l.Segment
}

// Segment names used by Paper and by the shipped topology files.
const (
	SegmentFront = "front"
	SegmentBack  = "back"
)

// Option changes the lab Paper builds.
type Option func(*Spec)

// WithRealServers sets the number of real servers (the paper had eight).
func WithRealServers(n int) Option {
	return func(s *Spec) {
		var kept []NodeSpec
		for _, node := range s.Nodes {
			if node.Role != RoleRealServer {
				kept = append(kept, node)
			}
		}
		for i := 1; i <= n; i++ {
			kept = append(kept, NodeSpec{Name: fmt.Sprintf("rs%d", i), Role: RoleRealServer,
				Links: []LinkSpec{{Segment: SegmentBack}}})
		}
		s.Nodes = kept
	}
}

// WithName sets the lab's name, the prefix of everything it creates.
func WithName(name string) Option { return func(s *Spec) { s.Name = name } }

// WithMode sets how the real servers route replies.
func WithMode(m Mode) Option { return func(s *Spec) { s.Mode = m } }

// WithClientOn moves the client to another segment, keeping its number of
// source addresses: on the real servers' segment it reaches them with no
// hop at all (the paper's direct setup).
func WithClientOn(segment string) Option {
	return func(s *Spec) {
		for i := range s.Nodes {
			if s.Nodes[i].Role == RoleClient {
				s.Nodes[i].Links[0] = LinkSpec{Segment: segment, Sources: s.Nodes[i].Links[0].Sources}
			}
		}
	}
}

// WithoutIPv6 makes the lab IPv4 only.
func WithoutIPv6() Option {
	return func(s *Spec) {
		s.VIP.IPv6 = netip.Addr{}
		for i := range s.Segments {
			s.Segments[i].IPv6 = netip.Prefix{}
		}
	}
}

// Paper is the lab of the paper: one client, one director, a router for the
// replies that bypass the director, and eight real servers, dual stack,
// in the documentation prefixes.
func Paper(opts ...Option) *Spec {
	s := &Spec{
		Name: "paper",
		Mode: ModeDirect,
		VIP: VIP{
			IPv4: netip.MustParseAddr("203.0.113.10"),
			IPv6: netip.MustParseAddr("2001:db8:f::10"),
			Port: 80,
		},
		Segments: []SegmentSpec{
			{Name: SegmentFront, IPv4: netip.MustParsePrefix("198.51.100.0/24"), IPv6: netip.MustParsePrefix("2001:db8:1::/64")},
			{Name: SegmentBack, IPv4: netip.MustParsePrefix("192.0.2.0/24"), IPv6: netip.MustParsePrefix("2001:db8:2::/64")},
		},
		Nodes: []NodeSpec{
			// One connection per request leaves a TIME_WAIT socket per request
			// on the client: reusing them (safe with TCP timestamps) and four
			// source addresses keep ports from running out at 10,000 conn/s.
			{Name: "client", Role: RoleClient, Links: []LinkSpec{{Segment: SegmentFront, Sources: 4}},
				Sysctls: map[string]string{"net.ipv4.tcp_tw_reuse": "1"}},
			{Name: "director", Role: RoleDirector, Links: []LinkSpec{{Segment: SegmentFront}, {Segment: SegmentBack}}},
			{Name: "router", Role: RoleRouter, Links: []LinkSpec{{Segment: SegmentFront}, {Segment: SegmentBack}}},
		},
	}
	WithRealServers(8)(s)
	for _, o := range opts {
		o(s)
	}
	return s
}

// Small is Paper with two real servers, for quick specs.
func Small(opts ...Option) *Spec {
	return Paper(append([]Option{WithName("small"), WithRealServers(2)}, opts...)...)
}

// Node returns the spec of the node with that name.
func (s *Spec) Node(name string) (NodeSpec, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeSpec{}, false
}

// ByRole returns the nodes of one role, in spec order.
func (s *Spec) ByRole(r Role) []NodeSpec {
	var out []NodeSpec
	for _, n := range s.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// Link returns the node's link on a segment.
func (n NodeSpec) Link(segment string) (LinkSpec, bool) {
	for _, l := range n.Links {
		if l.Segment == segment {
			return l, true
		}
	}
	return LinkSpec{}, false
}

// Addr returns the node's first address of one family, searching its links
// in order; the zero Addr when it has none.
func (n NodeSpec) Addr(v6 bool) netip.Addr {
	for _, l := range n.Links {
		if v6 && len(l.IPv6) > 0 {
			return l.IPv6[0]
		}
		if !v6 && len(l.IPv4) > 0 {
			return l.IPv4[0]
		}
	}
	return netip.Addr{}
}

// Clone returns a deep copy, so planning never changes the caller's spec.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Segments = append([]SegmentSpec(nil), s.Segments...)
	c.Nodes = make([]NodeSpec, len(s.Nodes))
	for i, n := range s.Nodes {
		n.Links = append([]LinkSpec(nil), n.Links...)
		n.CPUs = append(CPUList(nil), n.CPUs...)
		n.Routes = append([]Route(nil), n.Routes...)
		for j := range n.Links {
			n.Links[j].IPv4 = append([]netip.Addr(nil), n.Links[j].IPv4...)
			n.Links[j].IPv6 = append([]netip.Addr(nil), n.Links[j].IPv6...)
		}
		if n.Sysctls != nil {
			m := make(map[string]string, len(n.Sysctls))
			for k, v := range n.Sysctls {
				m[k] = v
			}
			n.Sysctls = m
		}
		c.Nodes[i] = n
	}
	return &c
}
