//go:build linux

package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Kernel and lvslab limits on names.
const (
	// maxIfName is IFNAMSIZ-1: the longest interface name the kernel takes.
	maxIfName = 15
	// MaxLabName keeps namespace names readable in "ip netns list".
	MaxLabName = 20
	// MaxNodes bounds a lab: each node is a namespace, a veth pair and a
	// server with its goroutines, and planned host numbers must fit a /24
	// (real servers from .11, the client at .100 and up). The paper's lab
	// has 11 nodes.
	MaxNodes = 200
	// MaxSegments bounds the bridges of a lab's switch namespace.
	MaxSegments = 16
)

// kernelLinks are the links a namespace has, or gets from the kernel when
// a tunnel module loads (its fallback devices; TUN mode loads ipip and
// ip6_tunnel): a segment's link in a node cannot take one of these names.
var kernelLinks = []string{"lo", "tunl0", "sit0", "ip6tnl0", "gre0", "gretap0", "erspan0", "ip6gre0"}

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	sysctlRE = regexp.MustCompile(`^net\.[a-z0-9_.-]+$`)
)

// Role-based host numbers for planned addresses, so that rs3 is always .13
// and the director always .2 in every lab.
var hostBase = map[Role]int{RoleRouter: 1, RoleDirector: 2, RoleRealServer: 10, RoleClient: 100}

// Plan validates the spec and returns a copy with every address planned.
// The error lists every problem found, one per line, each naming what is
// wrong and what to do.
func Plan(s *Spec) (*Spec, error) {
	p := s.Clone()
	if p.Mode == "" {
		p.Mode = ModeDirect
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if err := CheckLabName(p.Name); err != nil {
		errs = append(errs, err)
	}
	if !validMode(p.Mode) {
		bad("mode %q is unknown: use one of direct, routed, nat, dr, tun", p.Mode)
	}

	if len(p.Nodes) > MaxNodes {
		bad("%d nodes: a lab has at most %d (topology.MaxNodes); use fewer real servers", len(p.Nodes), MaxNodes)
	}
	if len(p.Segments) > MaxSegments {
		bad("%d segments: a lab has at most %d; join nodes on fewer segments", len(p.Segments), MaxSegments)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...) // too big to check further
	}

	segs := checkSegments(p, bad)
	if len(p.Segments) == 0 {
		bad("no segments: a lab needs at least one (e.g. front and back)")
	}

	custom := p.Mode == ModeCustom
	if !custom {
		checkVIP(p, segs, bad)
	}

	names := map[string]bool{}
	count := map[Role]int{}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		where := fmt.Sprintf("node %d (%s)", i+1, n.Name)
		switch {
		case n.Name == "":
			bad("node %d has no name: give it one (e.g. rs1)", i+1)
		case !nameRE.MatchString(n.Name):
			bad("%s: use lower-case letters and digits, starting with a letter", where)
		case names[n.Name]:
			bad("node name %q is used twice: node names must be unique", n.Name)
		case n.Name == switchNode:
			bad("%s: %q is reserved for the lab's bridges", where, switchNode)
		}
		names[n.Name] = true
		if _, ok := hostBase[n.Role]; !ok {
			bad("%s: role %q is unknown: use client, director, router or real-server", where, n.Role)
		}
		count[n.Role]++
		if len(n.Links) == 0 {
			bad("%s has no links: attach it to a segment (links: [{segment: back}])", where)
		}
		devs := checkLinks(n, where, segs, bad)
		checkRoutes(n, devs, custom, bad)
		for k, v := range n.Sysctls {
			if !sysctlRE.MatchString(k) {
				bad("%s: sysctl %q: only net.* sysctls are per namespace, so only they can be set", where, k)
			}
			if strings.ContainsAny(v, "\n\x00") || v == "" {
				bad("%s: sysctl %s has an empty or multi-line value", where, k)
			}
		}
	}
	if count[RoleClient] != 1 {
		bad("a lab needs exactly one client node, found %d", count[RoleClient])
	}
	// An operator's VRRP-only pair (custom mode) balances nothing.
	if count[RoleRealServer] == 0 && !custom {
		bad("a lab needs at least one real-server node")
	}
	if count[RoleDirector] > 2 || count[RoleRouter] > 1 {
		bad("a lab has at most two directors (one, or a high-availability pair) and one router, found %d and %d", count[RoleDirector], count[RoleRouter])
	}
	for _, err := range []error{CheckSwitch(p.Switch), checkCPUs(p.Nodes)} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if custom {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return p, checkUnique(p)
	}
	checkHA(p, bad)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := checkWiring(p); err != nil {
		return nil, err
	}
	if err := planAddresses(p, segs); err != nil {
		return nil, err
	}
	return p, nil
}

// checkLinks names what is wrong with a node's links (names, segments,
// addresses) and returns the names of its links.
func checkLinks(n *NodeSpec, where string, segs map[string]SegmentSpec, bad func(string, ...any)) map[string]bool {
	onSeg, devs := map[string]bool{}, map[string]bool{}
	for _, l := range n.Links {
		if why := badLinkName(l.Name); why != "" {
			bad("%s: link name %q %s", where, l.Name, why)
		}
		if devs[l.Dev()] {
			bad("%s has two links named %s: give each its own name", where, l.Dev())
		}
		devs[l.Dev()] = true
		seg, ok := segs[l.Segment]
		if !ok {
			bad("%s: link to unknown segment %q: define it under segments", where, l.Segment)
			continue
		}
		if onSeg[l.Segment] {
			bad("%s is linked to segment %s twice", where, l.Segment)
		}
		onSeg[l.Segment] = true
		if len(n.Name)+1+len(l.Segment) > maxIfName {
			bad("%s: %q is longer than the kernel's %d-character link name limit: shorten the node or segment name",
				where, n.Name+"-"+l.Segment, maxIfName)
		}
		for _, a := range l.IPv4 {
			if !a.Is4() || !seg.IPv4.Contains(a) || !isHost(seg.IPv4, a) {
				bad("%s: address %s is not a host address of segment %s (%s)", where, a, seg.Name, seg.IPv4)
			}
		}
		for _, a := range l.IPv6 {
			if !seg.IPv6.IsValid() {
				bad("%s: address %s given but segment %s has no ipv6 prefix", where, a, seg.Name)
			} else if !a.Is6() || !seg.IPv6.Contains(a) || !isHost(seg.IPv6, a) {
				bad("%s: address %s is not a host address of segment %s (%s)", where, a, seg.Name, seg.IPv6)
			}
		}
	}
	return devs
}

// checkSegments names what is wrong with the lab's segments and returns
// them by name, their prefixes masked (in p too).
func checkSegments(p *Spec, bad func(string, ...any)) map[string]SegmentSpec {
	segs := map[string]SegmentSpec{}
	for i, seg := range p.Segments {
		where := fmt.Sprintf("segment %d (%s)", i+1, seg.Name)
		switch {
		case seg.Name == "":
			bad("segment %d has no name: give it one (e.g. front)", i+1)
			continue
		case len(seg.Name) > maxIfName || !nameRE.MatchString(seg.Name):
			bad("%s: the name becomes a link name, so use at most %d lower-case letters and digits", where, maxIfName)
		case slices.Contains(kernelLinks, seg.Name):
			bad("%s: the name becomes a link name in each node, and %s is the kernel's own there: pick another (e.g. front)", where, seg.Name)
		}
		if _, dup := segs[seg.Name]; dup {
			bad("segment name %q is used twice: segment names must be unique", seg.Name)
		}
		if !seg.IPv4.IsValid() || !seg.IPv4.Addr().Is4() {
			bad("%s: ipv4 prefix is missing or not IPv4 (e.g. ipv4: 192.0.2.0/24)", where)
		} else if seg.IPv4.Bits() > 29 {
			bad("%s: ipv4 prefix %s is too small for a lab: use /29 or larger", where, seg.IPv4)
		}
		if seg.IPv6.IsValid() && (!seg.IPv6.Addr().Is6() || seg.IPv6.Addr().Is4In6() || seg.IPv6.Bits() > 120) {
			bad("%s: ipv6 prefix %s must be IPv6 and /120 or larger", where, seg.IPv6)
		}
		for _, pfx := range []netip.Prefix{seg.IPv4, seg.IPv6} {
			if why := notGlobalUnicast(pfx.Masked().Addr()); pfx.IsValid() && why != "" {
				bad("%s: prefix %s is %s: use a global unicast prefix, e.g. 192.0.2.0/24 or 2001:db8:2::/64 (documentation prefixes)", where, pfx, why)
			}
		}
		for _, other := range segs {
			if overlaps(seg.IPv4, other.IPv4) || overlaps(seg.IPv6, other.IPv6) {
				bad("%s overlaps segment %s: give each segment its own prefix", where, other.Name)
			}
		}
		p.Segments[i].IPv4 = seg.IPv4.Masked()
		p.Segments[i].IPv6 = seg.IPv6.Masked()
		segs[seg.Name] = p.Segments[i]
	}
	return segs
}

// checkVIP names what is wrong with the lab's one virtual service address
// (every mode but custom has one).
func checkVIP(p *Spec, segs map[string]SegmentSpec, bad func(string, ...any)) {
	if !p.VIP.IPv4.IsValid() || !p.VIP.IPv4.Is4() {
		bad("vip.ipv4 is missing or not IPv4 (e.g. vip: {ipv4: 203.0.113.10, port: 80})")
	}
	if p.VIP.IPv6.IsValid() && (!p.VIP.IPv6.Is6() || p.VIP.IPv6.Is4In6()) {
		bad("vip.ipv6 %s is not an IPv6 address", p.VIP.IPv6)
	}
	for _, vip := range []netip.Addr{p.VIP.IPv4, p.VIP.IPv6} {
		if why := notGlobalUnicast(vip); vip.IsValid() && why != "" {
			bad("vip %s is %s: use a global unicast address outside every segment, e.g. 203.0.113.10 or 2001:db8:f::10", vip, why)
		}
	}
	if p.VIP.IPv6.IsValid() {
		for _, seg := range p.Segments {
			if !seg.IPv6.IsValid() {
				bad("vip.ipv6 is set but segment %s has no ipv6 prefix: give every segment one (e.g. ipv6: 2001:db8:1::/64) or drop vip.ipv6", seg.Name)
			}
		}
	}
	if p.VIP.Port == 0 {
		bad("vip.port is missing: set the service port (e.g. port: 80)")
	}
	for _, seg := range segs {
		for _, vip := range []netip.Addr{p.VIP.IPv4, p.VIP.IPv6} {
			if vip.IsValid() && (seg.IPv4.Contains(vip) || seg.IPv6.Contains(vip)) {
				bad("vip %s lies inside segment %s: pick an address outside every segment (e.g. 203.0.113.10)", vip, seg.Name)
			}
		}
	}
}

// notGlobalUnicast says what a is when it cannot be a lab's address (a
// VIP, a segment's prefix), or "" when it can. A zone would let an
// address slip past the checks of which segment holds it.
func notGlobalUnicast(a netip.Addr) string {
	switch {
	case a.Zone() != "":
		return "scoped to a zone (%" + a.Zone() + ")"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsMulticast():
		return "a multicast address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	case !a.IsGlobalUnicast():
		return "not a global unicast address"
	}
	return ""
}

// CheckLabName is the one rule for a lab's name, which every command
// checks before it does anything: it becomes a directory under StateRoot
// and the prefix of namespace names, so it must be short and plain.
func CheckLabName(name string) error {
	switch {
	case name == "":
		return errors.New("lab name is missing: give one (e.g. --name paper)")
	case len(name) > MaxLabName || !nameRE.MatchString(name):
		return fmt.Errorf("lab name %q: use 1-%d lower-case letters and digits, starting with a letter", name, MaxLabName)
	}
	return nil
}

// CheckLabNames checks the lab names a command derives from a prefix it
// was given (bench's --name bench makes benchdirect, benchnat, …), so that
// it refuses a bad one before it builds or boots anything. flag names the
// option the prefix came from.
func CheckLabNames(flag, prefix string, suffixes ...string) error {
	if len(suffixes) == 0 {
		suffixes = []string{""}
	}
	for _, s := range suffixes {
		if err := CheckLabName(prefix + s); err != nil {
			return fmt.Errorf("%s %q: %w", flag, prefix, err)
		}
	}
	return nil
}

func validMode(m Mode) bool {
	if m == ModeCustom {
		return true
	}
	for _, x := range Modes {
		if m == x {
			return true
		}
	}
	return false
}

// checkWiring makes sure the mode's paths exist: the client reaches the
// real servers (through the router, or directly) and the director stands on
// the client's segment and on every real server's segment.
func checkWiring(p *Spec) error {
	client := p.ByRole(RoleClient)[0]
	front := client.Links[0].Segment
	gateways := map[Role]bool{}
	for _, r := range []Role{RoleDirector, RoleRouter} {
		for _, g := range p.ByRole(r) {
			ok := hasSegment(g, front)
			for _, rs := range p.ByRole(RoleRealServer) {
				ok = ok && hasSegment(g, rs.Links[0].Segment)
			}
			if !ok {
				return fmt.Errorf("%s %s must be linked to the client's segment (%s) and to every real server's segment", r, g.Name, front)
			}
			gateways[r] = true
		}
	}
	needs := map[Mode]Role{ModeNAT: RoleDirector, ModeRouted: RoleDirector, ModeDR: RoleRouter, ModeTUN: RoleRouter}
	if r, ok := needs[p.Mode]; ok && !gateways[r] {
		why := "the real servers' replies go back through it"
		if r == RoleRouter {
			why = "the real servers' replies must reach the client without passing the director"
		}
		return fmt.Errorf("mode %s needs a %s node: %s", p.Mode, r, why)
	}
	if p.Mode == ModeDirect && !gateways[RoleRouter] {
		for _, rs := range p.ByRole(RoleRealServer) {
			if !hasSegment(rs, front) {
				return fmt.Errorf("mode direct: real server %s is not on the client's segment and there is no router: add a router node", rs.Name)
			}
		}
	}
	return nil
}

func hasSegment(n NodeSpec, seg string) bool {
	_, ok := n.Link(seg)
	return ok
}

// planAddresses gives every link without addresses role-based host numbers
// in its segment and rejects duplicates and collisions with the VIP.
func planAddresses(p *Spec, segs map[string]SegmentSpec) error {
	used := map[netip.Addr]string{}
	var errs []error
	claim := func(a netip.Addr, who string) {
		if prev, dup := used[a]; dup {
			errs = append(errs, fmt.Errorf("address %s is given to both %s and %s: each address must be unique", a, prev, who))
		}
		used[a] = who
	}
	for _, vip := range []netip.Addr{p.VIP.IPv4, p.VIP.IPv6} {
		if vip.IsValid() {
			claim(vip, "the vip")
		}
	}
	for _, n := range p.Nodes {
		for _, l := range n.Links {
			for _, a := range append(append([]netip.Addr(nil), l.IPv4...), l.IPv6...) {
				claim(a, n.Name)
			}
		}
	}
	if err := planFloating(p, segs, claim); err != nil {
		errs = append(errs, err)
	}
	rsIndex := 0
	for i := range p.Nodes {
		n := &p.Nodes[i]
		base := hostBase[n.Role]
		if n.Role == RoleRealServer {
			rsIndex++
			base += rsIndex
		}
		for j := range n.Links {
			l := &n.Links[j]
			seg := segs[l.Segment]
			want := max(1, l.Sources)
			if len(l.IPv4) == 0 {
				l.IPv4 = pick(seg.IPv4, base, want, used, n.Name)
			}
			if len(l.IPv6) == 0 && seg.IPv6.IsValid() {
				l.IPv6 = pick(seg.IPv6, v6Host(base), want, used, n.Name)
			}
			if len(l.IPv4) < want {
				errs = append(errs, fmt.Errorf("segment %s (%s) has no free address left for %s: use a larger prefix", seg.Name, seg.IPv4, n.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// v6Host writes a host number's decimal digits as hex, so that rs3 is
// 2001:db8:2::13 as it is 192.0.2.13.
func v6Host(h int) int {
	n, _ := strconv.ParseInt(strconv.Itoa(h), 16, 64)
	return int(n)
}

// pick returns up to n free host addresses of prefix, from host number base on.
func pick(prefix netip.Prefix, base, n int, used map[netip.Addr]string, who string) []netip.Addr {
	var out []netip.Addr
	for h := base; len(out) < n; h++ {
		a, ok := hostAddr(prefix, h)
		if !ok {
			break
		}
		if _, taken := used[a]; taken {
			continue
		}
		used[a] = who
		out = append(out, a)
	}
	return out
}

// hostAddr returns host number h of prefix, if it is a usable host address.
func hostAddr(prefix netip.Prefix, h int) (netip.Addr, bool) {
	b := prefix.Masked().Addr().AsSlice()
	carry := h
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := int(b[i]) + carry
		b[i] = byte(sum)
		carry = sum >> 8
	}
	a, _ := netip.AddrFromSlice(b)
	if carry > 0 || !prefix.Contains(a) || !isHost(prefix, a) {
		return netip.Addr{}, false
	}
	return a, true
}

// isHost reports whether a is neither the network address nor, for IPv4,
// the broadcast address of prefix.
func isHost(prefix netip.Prefix, a netip.Addr) bool {
	p := prefix.Masked()
	if a == p.Addr() {
		return false
	}
	if a.Is4() {
		b := a.As4()
		for i := range 4 {
			bits := min(8, max(0, p.Bits()-8*i))
			hostBits := byte(0xff) >> bits
			if b[i]&hostBits != hostBits {
				return true
			}
		}
		return false // every host bit set: the broadcast address
	}
	return true
}

func overlaps(a, b netip.Prefix) bool {
	return a.IsValid() && b.IsValid() && a.Overlaps(b)
}

// badLinkName says why a node's own name for a link cannot be one, or ""
// ("" itself is fine: the segment's name is used).
func badLinkName(name string) string {
	switch {
	case name == "":
		return ""
	case len(name) > maxIfName:
		return fmt.Sprintf("is longer than the kernel's %d characters", maxIfName)
	case name == "." || name == ".." || name == "lo":
		return "is reserved by the kernel"
	case strings.ContainsAny(name, "/: \t\n\x00"):
		return "holds a character the kernel refuses in a link name (/, :, space)"
	}
	return ""
}

// checkRoutes names a node's route that cannot be set: routes are given
// only in ModeCustom, through a link of the node or a gateway.
func checkRoutes(n *NodeSpec, devs map[string]bool, custom bool, bad func(string, ...any)) {
	if len(n.Routes) > 0 && !custom {
		bad("node %s gives routes: routes are planned in mode %s; give them only in mode custom", n.Name, ModeCustom)
		return
	}
	for _, r := range n.Routes {
		switch {
		case r.Type != "" && r.Type != "local":
			bad("node %s: route %s has type %q: use local or leave it out", n.Name, r, r.Type)
		case r.Dev != "" && !devs[r.Dev] && !(r.Type == "local" && r.Dev == "lo"):
			bad("node %s: route %s goes through %s, which is not one of its links", n.Name, r, r.Dev)
		case r.Type == "local" && (!r.Dst.IsValid() || r.Dev == ""):
			bad("node %s: a local route needs a destination and a link", n.Name)
		case !r.Via.IsValid() && r.Dev == "":
			bad("node %s: route %s has neither a gateway nor a link", n.Name, r)
		case r.Via.IsValid() && r.Dst.IsValid() && r.Via.Is4() != r.Dst.Addr().Is4():
			bad("node %s: route %s mixes IPv4 and IPv6", n.Name, r)
		}
	}
}

// checkUnique refuses an address given to two links (custom labs plan
// none themselves).
func checkUnique(p *Spec) error {
	used := map[netip.Addr]string{}
	var errs []error
	for _, n := range p.Nodes {
		for _, l := range n.Links {
			for _, a := range append(append([]netip.Addr(nil), l.IPv4...), l.IPv6...) {
				if prev, dup := used[a]; dup {
					errs = append(errs, fmt.Errorf("address %s is given to both %s and %s: each address must be unique", a, prev, n.Name))
				}
				used[a] = n.Name
			}
		}
	}
	return errors.Join(errs...)
}
