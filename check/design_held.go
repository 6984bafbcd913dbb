//go:build linux

package check

import (
	"fmt"
	"net/netip"

	"github.com/lvslab/lvslab/topology"
)

// A keepalived file with virtual servers and no VRRP instance names no
// interface: something else (the machine's own network configuration)
// holds its VIPs and reaches its real servers. Without a capture the lab
// assumes what a rules file's director gets: a front link that clients
// reach the VIPs through, the VIPs held as local addresses, and a link on
// each real-server subnet. A file with VRRP instances keeps its own
// interfaces.

// planHeldVIPs gives each director whose file names no interface, and
// that has no capture, those links; the first holds the VIPs.
func (d *Design) planHeldVIPs(uses []*realUse) error {
	for _, dir := range d.Directors {
		if order, _ := devsOf(dir.Conf); len(order) > 0 || dir.Machine != nil || len(uses) == 0 {
			continue
		}
		front := d.frontOf(d.heldVIPs)
		if front == nil {
			front = d.segmentFor(d.freeLabPrefix())
			if d.anyIPv6() {
				front.v6, _ = freePrefix(outside6Prefixes, d.prefixes(), d.inputAddrs())
			}
			d.heldVIPs = dir
		}
		d.linkHeld(dir, front, "eth0")
		d.assume(fmt.Sprintf("%s holds its virtual servers' addresses itself (its file runs no VRRP instance that would): local addresses, reached through a router on its eth0", dir.Name),
			"--capture", nil, subjDev(dir.Node, "eth0"))
		subnets, err := clusterSubnets(uses)
		if err != nil {
			return err
		}
		for i, p := range subnets {
			dev := fmt.Sprintf("eth%d", i+1)
			a := d.linkHeld(dir, d.segmentFor(p), dev)
			var subjects []string
			for _, u := range uses {
				if p.Contains(u.Addr) {
					subjects = append(subjects, subjReal(u.Addr))
				}
			}
			d.assume(fmt.Sprintf("%s has %s on its real servers' subnet %s (%s)", dir.Name, a, p, dev), "--capture", nil,
				append(subjects, subjDev(dir.Node, dev))...)
		}
	}
	return nil
}

// linkHeld puts a director's interface dev on a segment with a free
// address of each family the segment has, and returns the first.
func (d *Design) linkHeld(dir *Director, s *segPlan, dev string) netip.Addr {
	s.devs[dir.Node] = dev
	var first netip.Addr
	for _, p := range []netip.Prefix{s.v4, s.v6} {
		if !p.IsValid() {
			continue
		}
		a, _ := d.pool.low(p)
		dir.addrs = append(dir.addrs, linkAddr{dev: dev, seg: s, addr: a})
		if !first.IsValid() {
			first = a
		}
	}
	return first
}

// frontAddr is the VIP holder's address of one family on its front
// segment, the router's next hop to its VIPs.
func (d *Design) frontAddr(h *Director, v6 bool) (netip.Addr, bool) {
	front := d.frontOf(h)
	for _, la := range h.addrs {
		if la.seg == front && la.addr.Is6() == v6 {
			return la.addr, true
		}
	}
	return netip.Addr{}, false
}

// frontOf is the segment a director's VIPs are reached on: its first link.
func (d *Design) frontOf(dir *Director) *segPlan {
	if dir == nil || len(dir.addrs) == 0 {
		return nil
	}
	return dir.addrs[0].seg
}

// vipHolder is the director that holds every VIP as a local address: a
// rules file's, or a keepalived director whose file runs no VRRP; nil
// when VRRP instances move the VIPs.
func (d *Design) vipHolder() *Director {
	if d.rulesDirector != nil {
		return d.rulesDirector
	}
	return d.heldVIPs
}

// localVIPRoutes make the VIP holder's VIPs local addresses, as a dummy
// interface would.
func (d *Design) localVIPRoutes() []topology.Route {
	var out []topology.Route
	for i, p := range d.vipPrefixes() {
		if i == maxLocalRoutes {
			d.Unbuilt = append(d.Unbuilt, fmt.Sprintf("VIPs beyond %d local routes", maxLocalRoutes))
			break
		}
		out = append(out, topology.Route{Dst: p, Dev: "lo", Type: "local"})
	}
	return out
}
