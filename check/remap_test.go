//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// A keepalived file and an ipvsadm rules file with every way an address
// is written in them.
const remapSample = `! primary 10.0.0.0/8 is the whole site (a comment: not read)
global_defs {
    vrrp_mcast_group4 224.0.0.18
    smtp_server 192.168.200.1
}
vrrp_instance VI_1 {
    interface eth0
    unicast_src_ip 192.168.200.2
    virtual_ipaddress {
        192.168.200.16/24 dev eth0
        2001:db8:1::10/64
    }
}
virtual_server_group G {
    192.168.200.3-10 80
    ae00::2-9 80
}
virtual_server 10.10.10.2 1358 {
    persistence_granularity 255.255.255.0
    real_server 172.16.5.7 80 { HTTP_GET { url { digest 640205b7b0fc66c1ea91c463fac6334d } } }
    real_server 127.0.0.1 80
    real_server 203.0.113.9 80
}
-a -t 10.10.10.2:1358 -r 192.168.200.3:8080 -m
-A -t [ae00::1]:80 -s rr
mac 52:54:00:12:34:56 at 10.10.10.2.
`

func planText(t *testing.T, texts ...string) *Remap {
	t.Helper()
	p := newRemapPlanner()
	for i, s := range texts {
		p.text(fmt.Sprintf("f%d", i), s)
	}
	m, err := p.plan()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inPool(a netip.Addr) bool {
	return slices.ContainsFunc(append(slices.Clone(remapPool4), remapPool6...), func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

func TestRemapText(t *testing.T) {
	m := planText(t, remapSample)
	out := m.Text(remapSample)
	scanAddrs(out, func(_, _ int, a netip.Addr, _ int) {
		if !inPool(a) {
			t.Errorf("%s is still in the remapped text", a)
		}
	})
	lines, orig := strings.Split(out, "\n"), strings.Split(remapSample, "\n")
	if len(lines) != len(orig) {
		t.Fatalf("remapping changed the number of lines: %d, was %d", len(lines), len(orig))
	}
	for _, want := range []struct {
		line int
		has  string
	}{
		{1, ".0/8 is the whole site"},            // a comment's address moves with its /24, its length stays
		{3, "224.0.0.18"},                        // multicast means the same everywhere
		{10, ".16/24 dev eth0"},                  // host part and length stay
		{11, "2001:db8:1::10/64"},                // documentation already: stays
		{15, ".3-10 80"},                         // a range's last octet
		{16, "::2-9 80"},                         // an IPv6 range's last group
		{19, "255.255.255.0"},                    // a netmask
		{20, "640205b7b0fc66c1ea91c463fac6334d"}, // a digest is no address
		{20, ".7 80 {"},                          // the host part of an address in its /24
		{21, "127.0.0.1 80"},                     // loopback
		{22, "203.0.113.9 80"},                   // documentation already
		{24, ":1358 -r "},                        // ipvsadm's address:port
		{26, "mac 52:54:00:12:34:56 at "},        // a MAC address
	} {
		if !strings.Contains(lines[want.line-1], want.has) {
			t.Errorf("line %d = %q, want it to hold %q", want.line, lines[want.line-1], want.has)
		}
	}
	// 192.168.200.0/24 is one subnet: its addresses stay together.
	a, b := m.Addr(netip.MustParseAddr("192.168.200.2")), m.Addr(netip.MustParseAddr("192.168.200.16"))
	if pa, _ := a.Prefix(24); !pa.Contains(b) || a.As4()[3] != 2 || b.As4()[3] != 16 {
		t.Errorf("192.168.200.2 → %s, .16 → %s: want one /24, host parts kept", a, b)
	}
	if back := m.OriginalText(out); back != remapSample {
		t.Errorf("the way back differs:\n%s", back)
	}
	for _, p := range m.Pairs() {
		if p.Seen == "" || p.From.Bits() != p.To.Bits() || !inPool(p.To.Addr()) {
			t.Errorf("pair %+v", p)
		}
	}
}

func TestRemapKeepsWideSubnetsWhole(t *testing.T) {
	p := newRemapPlanner()
	p.prefix(netip.MustParsePrefix("172.16.0.1/16"), "capture lb1: eth1")
	p.addr(netip.MustParseAddr("172.16.5.7"), "lb1.conf:3")
	p.addr(netip.MustParseAddr("10.1.1.1"), "lb1.conf:4")
	p.prefix(netip.MustParsePrefix("192.0.2.0/28"), "lb1.conf:5") // documentation: stays, its /24 reserved
	m, err := p.plan()
	if err != nil {
		t.Fatal(err)
	}
	got := m.Addr(netip.MustParseAddr("172.16.5.7"))
	if got.String() != "198.18.5.7" {
		t.Errorf("172.16.5.7 → %s, want 198.18.5.7 (the /16 moved whole onto 198.18.0.0/16)", got)
	}
	if got := m.Addr(netip.MustParseAddr("10.1.1.1")); got.String() != "198.51.100.1" {
		t.Errorf("10.1.1.1 → %s, want 198.51.100.1 (192.0.2.0/24 is the input's own)", got)
	}
	if got := m.Addr(netip.MustParseAddr("192.0.2.5")); got.String() != "192.0.2.5" {
		t.Errorf("192.0.2.5 → %s: a documentation address stays", got)
	}
	if got := m.Prefix(netip.MustParsePrefix("172.16.0.1/16")); got.String() != "198.18.0.1/16" {
		t.Errorf("prefix → %s", got)
	}
	if n := len(m.Pairs()); n != 2 {
		t.Errorf("%d pairs %v, want 2: a subnet inside another moves with it", n, m.Pairs())
	}
}

func TestRemapRefuses(t *testing.T) {
	p := newRemapPlanner()
	p.text("lb1.conf", "virtual_routes {\n    10.0.0.0/8 via 192.168.1.1\n}\n")
	if _, err := p.plan(); err == nil || !strings.Contains(err.Error(), "10.0.0.0/8 (lb1.conf:2) is wider than /15") ||
		!strings.Contains(err.Error(), "without --remap") {
		t.Errorf("a /8: %v", err)
	}
	p = newRemapPlanner()
	for i := range 600 {
		p.addr(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), fmt.Sprintf("rules:%d", i+1))
	}
	if _, err := p.plan(); err == nil || !strings.Contains(err.Error(), "need more room") {
		t.Errorf("600 /24s: %v", err)
	}
	p = newRemapPlanner()
	p.prefix(netip.MustParsePrefix("fd00::/16"), "capture lb1: eth0 fd00::1/16")
	if _, err := p.plan(); err == nil || !strings.Contains(err.Error(), "wider than /32") {
		t.Errorf("an IPv6 /16: %v", err)
	}
}

func TestRemapNil(t *testing.T) {
	var m *Remap
	a := netip.MustParseAddr("10.0.0.1")
	if m.Addr(a) != a || m.Text("10.0.0.1") != "10.0.0.1" || m.Pairs() != nil {
		t.Error("a nil mapping moves nothing")
	}
}

func FuzzRemap(f *testing.F) {
	f.Add(remapSample)
	f.Add("10.0.0.1/8")
	f.Add("::ffff:10.1.2.3 1::  fe80::1 10.1.2.3:80: 10.1.2.3.")
	f.Add("2001:db8::/32 ae00::/33 ae00::1/64")
	f.Fuzz(func(t *testing.T, s string) {
		p := newRemapPlanner()
		p.text("f", s)
		m, err := p.plan()
		if err != nil {
			return
		}
		out := m.Text(s)
		scanAddrs(out, func(_, _ int, a netip.Addr, _ int) {
			if !inPool(a) {
				t.Fatalf("%s left outside the documentation prefixes in %q → %q", a, s, out)
			}
		})
		// The way back gives every moved address, written as netip
		// writes it, and every other byte as it was.
		var want strings.Builder
		last := 0
		scanAddrs(s, func(start, end int, a netip.Addr, _ int) {
			if m.Addr(a) != a {
				want.WriteString(s[last:start] + a.String())
				last = end
			}
		})
		want.WriteString(s[last:])
		if back := m.OriginalText(out); back != want.String() {
			t.Fatalf("round trip of %q: %q → %q, want %q", s, out, back, want.String())
		}
	})
}
