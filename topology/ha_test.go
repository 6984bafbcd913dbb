//go:build linux

package topology

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPaperHAPlan(t *testing.T) {
	p := mustPlan(t, PaperHA(WithMode(ModeNAT)))
	want := map[string]string{Director1: "198.51.100.2", Director2: "198.51.100.3", "router": "198.51.100.1", "client": "198.51.100.100"}
	for node, addr := range want {
		n, _ := p.Node(node)
		if got := n.Addr(false).String(); got != addr {
			t.Errorf("%s: %s, want %s", node, got, addr)
		}
	}
	d2, _ := p.Node(Director2)
	if back, _ := d2.Link(SegmentBack); back.IPv4[0].String() != "192.0.2.3" {
		t.Errorf("director2 back %v, want 192.0.2.3", back.IPv4)
	}
	if p.Floating.String() != "192.0.2.254" || !p.IsHA() {
		t.Errorf("floating %s (HA %v), want 192.0.2.254", p.Floating, p.IsHA())
	}
	if p.VIP.IPv6.IsValid() {
		t.Errorf("an HA lab is IPv4 only, got VIP %s", p.VIP.IPv6)
	}
}

func TestPaperHARoutes(t *testing.T) {
	for mode, want := range map[Mode]string{ModeNAT: "default via 192.0.2.254", ModeDR: "default via 192.0.2.1", ModeTUN: "default via 192.0.2.1"} {
		p := mustPlan(t, PaperHA(WithMode(mode)))
		if r := p.Routes("rs1"); len(r) != 1 || r[0].String() != want {
			t.Errorf("%s: rs1 routes %v, want %s", mode, r, want)
		}
		var got []string
		for _, r := range p.Routes("client") {
			got = append(got, r.String())
		}
		if s := strings.Join(got, ","); s != "192.0.2.0/24 via 198.51.100.1,203.0.113.10/32 dev front" {
			t.Errorf("%s: client routes %s, want the VIP on-link on front", mode, s)
		}
	}
}

func TestHAValidation(t *testing.T) {
	cases := []struct {
		name string
		spec *Spec
		want string
	}{
		{"routed", PaperHA(WithMode(ModeRouted)), "mode routed has no virtual service"},
		{"ipv6", func() *Spec { s := PaperHA(); s.VIP.IPv6 = netip.MustParseAddr("2001:db8:f::10"); return s }(), "IPv4 only"},
		{"floating outside", func() *Spec { s := PaperHA(); s.Floating = netip.MustParseAddr("198.51.100.9"); return s }(), "not a host address of the real servers' segment"},
		{"floating taken", func() *Spec {
			s := PaperHA()
			s.Nodes[len(s.Nodes)-1].Links[0].IPv4 = []netip.Addr{netip.MustParseAddr("192.0.2.254")}
			return s
		}(), "is given to both rs8 and the floating address"},
		{"floating without a pair", func() *Spec { s := Paper(); s.Floating = netip.MustParseAddr("192.0.2.254"); return s }(), "give the lab two directors"},
		{"three directors", func() *Spec {
			s := PaperHA()
			s.Nodes = append(s.Nodes, NodeSpec{Name: "director3", Role: RoleDirector, Links: []LinkSpec{{Segment: SegmentFront}, {Segment: SegmentBack}}})
			return s
		}(), "at most two directors"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Plan(c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Plan = %v, want an error saying %q", err, c.want)
			}
		})
	}
}
