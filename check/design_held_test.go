//go:build linux

package check

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/topology"
)

func planFile(t *testing.T, text string) *Design {
	t.Helper()
	path := filepath.Join(writeFiles(t, map[string]string{"lb.conf": text}), "lb.conf")
	b, err := Load(Inputs{Keepalived: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Plan(b, "check")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func nodeOf(d *Design, name string) topology.NodeSpec {
	i := slices.IndexFunc(d.Spec.Nodes, func(n topology.NodeSpec) bool { return n.Name == name })
	if i < 0 {
		return topology.NodeSpec{}
	}
	return d.Spec.Nodes[i]
}

// A file of virtual servers only (no VRRP) names no interface: the lab
// assumes the director holds the VIPs and reaches the real servers'
// subnets, and says so.
func TestPlanHeldVIPs(t *testing.T) {
	d := planFile(t, `virtual_server 203.0.113.80 80 {
    lb_kind NAT
    real_server 198.51.100.11 80 {
    }
    real_server 2001:db8:5::11 80 {
    }
}
virtual_server 2001:db8:4::80 80 {
    lb_kind DR
    real_server 2001:db8:5::12 80 {
    }
}
`)
	dir := nodeOf(d, "lb")
	if len(dir.Links) != 3 {
		t.Fatalf("director links %+v: want a front link and one per real-server subnet", dir.Links)
	}
	for _, vip := range []string{"203.0.113.80", "2001:db8:4::80"} {
		if !slices.ContainsFunc(dir.Routes, func(r topology.Route) bool { return r.Type == "local" && r.Dst.Contains(netip.MustParseAddr(vip)) }) {
			t.Errorf("director routes %v: %s is not local", dir.Routes, vip)
		}
	}
	router := nodeOf(d, "router")
	for _, vip := range []string{"203.0.113.80", "2001:db8:4::80"} {
		if !slices.ContainsFunc(router.Routes, func(r topology.Route) bool {
			return r.Dst.Contains(netip.MustParseAddr(vip)) && r.Via.IsValid() && r.Via.Is6() == strings.Contains(vip, ":")
		}) {
			t.Errorf("router routes %v: no route of the VIP's family to %s", router.Routes, vip)
		}
	}
	if !slices.ContainsFunc(d.Assumptions, func(a Assumption) bool {
		return strings.Contains(a.Fact, "holds its virtual servers' addresses itself")
	}) {
		t.Errorf("assumptions %+v: the held VIPs are not listed", d.Assumptions)
	}
}

// A VRRP-only file balances nothing: its lab has directors and no real
// server.
func TestPlanVRRPOnly(t *testing.T) {
	d := planFile(t, `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.10/24
    }
}
`)
	if len(d.Servers) != 0 || len(nodeOf(d, "lb").Links) != 1 {
		t.Errorf("servers %v, director %+v", d.Servers, nodeOf(d, "lb"))
	}
}
