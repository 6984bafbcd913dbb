//go:build linux

package topology

import (
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func mustPlan(t *testing.T, s *Spec) *Spec {
	t.Helper()
	p, err := Plan(s)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return p
}

func TestPlanPaperAddresses(t *testing.T) {
	p := mustPlan(t, Paper())
	want := map[string]string{"router": "198.51.100.1", "director": "198.51.100.2", "client": "198.51.100.100", "rs1": "192.0.2.11", "rs8": "192.0.2.18"}
	for node, addr := range want {
		n, _ := p.Node(node)
		if got := n.Addr(false).String(); got != addr {
			t.Errorf("%s: first IPv4 %s, want %s", node, got, addr)
		}
	}
	rs3, _ := p.Node("rs3")
	if got := rs3.Addr(true).String(); got != "2001:db8:2::13" {
		t.Errorf("rs3 IPv6 %s, want 2001:db8:2::13", got)
	}
	client, _ := p.Node("client")
	if n := len(client.Links[0].IPv4); n != 4 {
		t.Errorf("client has %d source addresses, want 4", n)
	}
}

func TestPlanDoesNotChangeCaller(t *testing.T) {
	s := Paper()
	mustPlan(t, s)
	if len(s.Nodes[0].Links[0].IPv4) != 0 {
		t.Fatal("Plan wrote addresses into the caller's spec")
	}
}

func TestPlanKeepsExplicitAddressesAndAvoidsThem(t *testing.T) {
	s := Paper(WithRealServers(2))
	s.Nodes[3].Links[0].IPv4 = []netip.Addr{netip.MustParseAddr("192.0.2.12")} // rs1 takes rs2's planned address
	p := mustPlan(t, s)
	rs1, _ := p.Node("rs1")
	rs2, _ := p.Node("rs2")
	if rs1.Addr(false).String() != "192.0.2.12" || rs2.Addr(false).String() != "192.0.2.13" {
		t.Errorf("rs1 %s rs2 %s, want 192.0.2.12 and the next free 192.0.2.13", rs1.Addr(false), rs2.Addr(false))
	}
}

func TestShippedFilesMatchGoSpecs(t *testing.T) {
	for name, spec := range map[string]*Spec{"paper": Paper(), "small": Small(), "paper-ha": PaperHA()} {
		fromFile, err := LoadFile("../fixtures/topologies/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(mustPlan(t, fromFile))
		b, _ := json.Marshal(mustPlan(t, spec))
		if string(a) != string(b) {
			t.Errorf("%s.yaml and topology.%s differ:\n%s\n%s", name, strings.ToUpper(name[:1])+name[1:], a, b)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"unknown role", func(s *Spec) { s.Nodes[3].Role = "balancer" }, `role "balancer" is unknown`},
		{"address outside segment", func(s *Spec) {
			s.Nodes[3].Links[0].IPv4 = []netip.Addr{netip.MustParseAddr("192.0.3.4")}
		}, "not a host address of segment back"},
		{"broadcast address", func(s *Spec) {
			s.Nodes[3].Links[0].IPv4 = []netip.Addr{netip.MustParseAddr("192.0.2.255")}
		}, "not a host address of segment back"},
		{"duplicate address", func(s *Spec) {
			s.Nodes[3].Links[0].IPv4 = []netip.Addr{netip.MustParseAddr("192.0.2.20")}
			s.Nodes[4].Links[0].IPv4 = []netip.Addr{netip.MustParseAddr("192.0.2.20")}
		}, "is given to both rs1 and rs2"},
		{"duplicate name", func(s *Spec) { s.Nodes[4].Name = "rs1" }, `node name "rs1" is used twice`},
		{"vip inside a segment", func(s *Spec) { s.VIP.IPv4 = netip.MustParseAddr("192.0.2.200") }, "lies inside segment back"},
		{"vip collides with a node", func(s *Spec) {
			s.VIP.IPv4 = netip.MustParseAddr("203.0.113.10")
			s.Segments[0].IPv4 = netip.MustParsePrefix("203.0.113.0/24")
		}, "inside segment front"},
		{"name too long for a link", func(s *Spec) { s.Nodes[3].Name = "realserverone" }, "15-character link name limit"},
		{"missing vip", func(s *Spec) { s.VIP.IPv4 = netip.Addr{} }, "vip.ipv4 is missing"},
		{"missing port", func(s *Spec) { s.VIP.Port = 0 }, "vip.port is missing"},
		{"missing name", func(s *Spec) { s.Name = "" }, "lab name is missing"},
		{"bad lab name", func(s *Spec) { s.Name = "Paper Lab" }, `lab name "Paper Lab"`},
		{"unknown segment", func(s *Spec) { s.Nodes[3].Links[0].Segment = "dmz" }, `unknown segment "dmz"`},
		{"unknown mode", func(s *Spec) { s.Mode = "snat" }, `mode "snat" is unknown`},
		{"dr without router", func(s *Spec) { s.Mode = ModeDR; s.Nodes = append(s.Nodes[:2], s.Nodes[3:]...) }, "mode dr needs a router"},
		{"host sysctl", func(s *Spec) { s.Nodes[0].Sysctls = map[string]string{"kernel.panic": "1"} }, "only net.* sysctls"},
		{"two clients", func(s *Spec) { s.Nodes[1].Role = RoleClient }, "exactly one client"},
		{"no real servers", func(s *Spec) { s.Nodes = s.Nodes[:3] }, "at least one real-server"},
		{"overlapping segments", func(s *Spec) { s.Segments[1].IPv4 = netip.MustParsePrefix("198.51.100.128/25") }, "overlaps segment front"},
		{"segment too small", func(s *Spec) { s.Segments[1].IPv4 = netip.MustParsePrefix("192.0.2.0/30") }, "too small"},
		{"reserved name", func(s *Spec) { s.Nodes[3].Name = "sw" }, "reserved"},
		{"no free address", func(s *Spec) { s.Segments[1].IPv4 = netip.MustParsePrefix("192.0.2.0/29") }, "no free address"},
		{"unspecified vip", vip4("0.0.0.0"), "vip 0.0.0.0 is the unspecified address: use a global unicast address"},
		{"broadcast vip", vip4("255.255.255.255"), "vip 255.255.255.255 is the broadcast address: use a global unicast"},
		{"loopback vip", vip4("127.0.0.1"), "vip 127.0.0.1 is a loopback address: use a global unicast"},
		{"multicast vip", vip4("224.0.0.1"), "vip 224.0.0.1 is a multicast address: use a global unicast"},
		{"link-local vip", vip4("169.254.1.1"), "vip 169.254.1.1 is a link-local address"},
		{"ipv6 loopback vip", vip6("::1"), "vip ::1 is a loopback address"},
		{"ipv6 multicast vip", vip6("ff02::1"), "vip ff02::1 is a multicast address"},
		{"ipv6 link-local vip", vip6("fe80::1"), "vip fe80::1 is a link-local address"},
		// With a zone, rs3's own address slipped past the segment check.
		{"ipv6 vip with a zone", vip6("2001:db8:2::13%back"), "vip 2001:db8:2::13%back is scoped to a zone (%back): use a global unicast"},
		{"ipv6 vip without ipv6 segments", func(s *Spec) {
			for i := range s.Segments {
				s.Segments[i].IPv6 = netip.Prefix{}
			}
		}, "vip.ipv6 is set but segment front has no ipv6 prefix: give every segment one"},
		{"loopback segment", func(s *Spec) { s.Segments[1].IPv4 = netip.MustParsePrefix("127.0.0.0/24") }, "prefix 127.0.0.0/24 is a loopback address: use a global unicast prefix"},
		{"multicast segment", func(s *Spec) { s.Segments[1].IPv4 = netip.MustParsePrefix("224.1.0.0/24") }, "is a multicast address: use a global unicast prefix"},
		// A segment's link is named after it in each node: these failed midway.
		{"segment named lo", func(s *Spec) { renameSegment(s, SegmentBack, "lo") }, "segment 2 (lo): the name becomes a link name in each node, and lo is the kernel's own there"},
		{"segment named tunl0", func(s *Spec) { renameSegment(s, SegmentBack, "tunl0") }, "and tunl0 is the kernel's own there"},
		{"segment named sit0", func(s *Spec) { renameSegment(s, SegmentFront, "sit0") }, "and sit0 is the kernel's own there"},
		{"link-local ipv6 segment", func(s *Spec) { s.Segments[1].IPv6 = netip.MustParsePrefix("fe80::/64") }, "prefix fe80::/64 is a link-local address"},
		{"5,000 real servers", func(s *Spec) { WithRealServers(5000)(s) }, "5003 nodes: a lab has at most 200 (topology.MaxNodes); use fewer real servers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Paper()
			c.edit(s)
			_, err := Plan(s)
			if err == nil {
				t.Fatalf("Plan accepted a spec with %s", c.name)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func vip4(a string) func(*Spec) { return func(s *Spec) { s.VIP.IPv4 = netip.MustParseAddr(a) } }
func vip6(a string) func(*Spec) { return func(s *Spec) { s.VIP.IPv6 = netip.MustParseAddr(a) } }

func TestNodeCapHolds(t *testing.T) {
	mustPlan(t, Paper(WithRealServers(MaxNodes-3)))
}

func TestCheckLabNames(t *testing.T) {
	if err := CheckLabNames("--name", "bench", "direct", "nat"); err != nil {
		t.Error(err)
	}
	err := CheckLabNames("--name", "bbA", "direct")
	if err == nil || !strings.Contains(err.Error(), `--name "bbA": lab name "bbAdirect": use 1-20 lower-case`) {
		t.Errorf("got %v", err)
	}
	if err := CheckLabNames("--name", "averyveryverylongname", "direct"); err == nil || !strings.Contains(err.Error(), "averyveryverylongnamedirect") {
		t.Errorf("a prefix too long once suffixed: %v", err)
	}
}

func TestRoutesPerMode(t *testing.T) {
	for mode, gw := range map[Mode]string{ModeDirect: "192.0.2.1", ModeRouted: "192.0.2.2", ModeNAT: "192.0.2.2", ModeDR: "192.0.2.1", ModeTUN: "192.0.2.1"} {
		p := mustPlan(t, Paper(WithMode(mode)))
		routes := p.Routes("rs1")
		if len(routes) != 2 || routes[0].Dst.IsValid() || routes[0].Via.String() != gw {
			t.Errorf("mode %s: rs1 routes %v, want default via %s (and IPv6)", mode, routes, gw)
		}
	}
	p := mustPlan(t, Paper())
	var got []string
	for _, r := range p.Routes("client") {
		got = append(got, r.String())
	}
	want := "192.0.2.0/24 via 198.51.100.1,2001:db8:2::/64 via 2001:db8:1::1,203.0.113.10/32 via 198.51.100.2,2001:db8:f::10/128 via 2001:db8:1::2"
	if strings.Join(got, ",") != want {
		t.Errorf("client routes\n got %s\nwant %s", strings.Join(got, ","), want)
	}
	if r := p.Routes("director"); len(r) != 0 {
		t.Errorf("director should only forward, got routes %v", r)
	}
	routed := mustPlan(t, Paper(WithMode(ModeRouted), WithoutIPv6()))
	if r := routed.Routes("client"); len(r) != 2 || r[0].String() != "192.0.2.0/24 via 198.51.100.2" {
		t.Errorf("routed: the client should reach the real servers through the director, got %v", r)
	}
}

func TestClientOnTheServersSegment(t *testing.T) {
	p := mustPlan(t, Paper(WithClientOn(SegmentBack), WithoutIPv6()))
	c, _ := p.Node("client")
	if len(c.Links) != 1 || c.Links[0].Segment != SegmentBack || len(c.Links[0].IPv4) != 4 || c.Links[0].IPv4[0].String() != "192.0.2.100" {
		t.Fatalf("client links %+v, want four addresses from 192.0.2.100 on back", c.Links)
	}
	// Nothing to route to the real servers: they are on the client's segment.
	if r := p.Routes("client"); len(r) != 1 || r[0].String() != "203.0.113.10/32 via 192.0.2.2" {
		t.Errorf("client routes %v, want only the VIP via the director", r)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"":                               "empty",
		"name: [":                        "malformed YAML",
		"name: x\nbogus: 1\n":            "field bogus not found",
		"vip: {ipv4: 1.2.3}\n":           `vip.ipv4: "1.2.3" is not an IP address`,
		"segments: [{ipv4: 10.0.0.0}]\n": "is not a prefix",
		"vip: {ipv4: 203.0.113.1, port: 70000}\n":                                "not a port number",
		"name: a\n---\nname: b\n":                                                "more than one YAML document (a --- line): one file is one lab",
		"nodes:\n" + strings.Repeat("  - {name: rs, role: real-server}\n", 5000): "5000 nodes and 0 segments: a lab has at most 200 nodes",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

func TestHostAddr(t *testing.T) {
	p := netip.MustParsePrefix("192.0.2.0/24")
	if a, ok := hostAddr(p, 255); ok {
		t.Errorf("host 255 of a /24 is the broadcast address, got %s", a)
	}
	if a, ok := hostAddr(p, 254); !ok || a.String() != "192.0.2.254" {
		t.Errorf("host 254 = %s %v", a, ok)
	}
	if a, ok := hostAddr(netip.MustParsePrefix("2001:db8::/64"), 0x100); !ok || a.String() != "2001:db8::100" {
		t.Errorf("IPv6 host 0x100 = %s %v", a, ok)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"paper", "small", "paper-ha"} {
		data, err := os.ReadFile("../fixtures/topologies/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		p, err := Plan(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("a refusal must say what is wrong")
			}
			return
		}
		// What Plan accepts is what a lab can be built from.
		if len(p.Nodes) > MaxNodes || CheckLabName(p.Name) != nil {
			t.Fatalf("accepted %d nodes, name %q", len(p.Nodes), p.Name)
		}
		for _, vip := range []netip.Addr{p.VIP.IPv4, p.VIP.IPv6} {
			if vip.IsValid() && (notGlobalUnicast(vip) != "" || vip.Zone() != "") {
				t.Fatalf("accepted the VIP %s", vip)
			}
		}
		for _, seg := range p.Segments {
			if p.VIP.IPv6.IsValid() && !seg.IPv6.IsValid() {
				t.Fatalf("accepted an IPv6 VIP with segment %s IPv4 only", seg.Name)
			}
		}
		// A planned spec plans to itself.
		if _, err := Plan(p); err != nil {
			t.Fatalf("a planned spec no longer plans: %v", err)
		}
	})
}

// renameSegment renames a segment and every link to it.
func renameSegment(s *Spec, from, to string) {
	for i := range s.Segments {
		if s.Segments[i].Name == from {
			s.Segments[i].Name = to
		}
	}
	for i := range s.Nodes {
		for j := range s.Nodes[i].Links {
			if s.Nodes[i].Links[j].Segment == from {
				s.Nodes[i].Links[j].Segment = to
			}
		}
	}
}
