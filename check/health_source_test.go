//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

func TestVIPSourceHint(t *testing.T) {
	file := func(options ...string) *conf.File {
		return &conf.File{Instances: []conf.Instance{{VIPs: []conf.VIP{{Prefix: netip.MustParsePrefix("2001:db8:1::10/64"), Options: options}}}}}
	}
	dr := healthCase{Real: RealRef{Addr: netip.MustParseAddr("2001:db8:1::21"), Method: harness.MethodDR}}
	nat := dr
	nat.Real.Method = harness.MethodNAT
	bound := dr
	bound.Checkers = []conf.Checker{{BindTo: conf.Setting[netip.Addr]{Value: netip.MustParseAddr("2001:db8:1::1"), Set: true}}}
	other := dr
	other.Real.Addr = netip.MustParseAddr("2001:db8:2::21")
	for _, c := range []struct {
		name string
		f    *conf.File
		c    healthCase
		hint bool
	}{
		{"DR, a VIP in the server's prefix", file(), dr, true},
		{"the VIP deprecated", file("preferred_lft", "0"), dr, false},
		{"a lifetime that is not 0", file("preferred_lft", "forever"), dr, true},
		{"NAT: replies come back through the director", file(), nat, false},
		{"the checker binds its source", file(), bound, false},
		{"the server in another prefix", file(), other, false},
	} {
		if got := vipSourceHint(c.f, c.c); (got != "") != c.hint || (c.hint && !strings.Contains(got, "preferred_lft 0")) {
			t.Errorf("%s: %q", c.name, got)
		}
	}
}

func TestCheckerPorts(t *testing.T) {
	ref := RealRef{Addr: netip.MustParseAddr("192.0.2.11"), Port: 80}
	port := func(p int) conf.Setting[int] { return conf.Setting[int]{Value: p, Set: true} }
	got := checkerPorts(ref, []conf.Checker{
		{Kind: "HTTP_GET", ConnectPort: port(444)},
		{Kind: "TCP_CHECK"}, // the server's own port
		{Kind: "UDP_CHECK", ConnectPort: port(53)},
		{Kind: "PING_CHECK"},
		{Kind: "TCP_CHECK", ConnectPort: port(444)}, // listed once
		{Kind: "TCP_CHECK", ConnectPort: port(8080), ConnectIP: conf.Setting[netip.Addr]{Value: netip.MustParseAddr("192.0.2.99"), Set: true}},
	})
	want := "[{tcp 444} {udp 53}]"
	if s := fmt.Sprint(got); s != want {
		t.Errorf("checkerPorts: %s, want %s", s, want)
	}
}
