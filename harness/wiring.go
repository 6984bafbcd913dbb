//go:build linux

package harness

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/topology"
)

// Wire sets a lab up for one forwarding method (as the kernel's selftest
// tools/testing/selftests/net/netfilter/ipvs.sh does): the real servers' routes, the VIP on
// the director, and on the real servers what DR and TUN need (the VIP on
// lo, ARP kept quiet about it, reverse-path filtering off, tunl0 up).
// Wiring for another mode first undoes what the last one set.
func Wire(lab *topology.Lab, mode topology.Mode) error {
	if err := lab.SetMode(mode); err != nil {
		return err
	}
	vips := vipPrefixes(lab.Spec)
	for _, d := range lab.Directors() {
		// A pair's VIP is keepalived's to add, on the VRRP master's front link.
		if err := setLoAddrs(d, vips, !lab.Spec.IsHA()); err != nil {
			return err
		}
		// A director that forwards to real servers on the segment a packet
		// came in on would send ICMP redirects in DR mode.
		for _, k := range []string{"net.ipv4.conf.all.send_redirects", "net.ipv4.conf.default.send_redirects"} {
			if err := d.SetSysctl(k, "0"); err != nil {
				return err
			}
		}
	}
	method, _ := MethodOf(mode)
	for _, rs := range lab.RealServers() {
		if err := WireRealServer(rs, method, vips); err != nil {
			return err
		}
	}
	return nil
}

// WireRealServer sets one real server up for a forwarding method (""
// for none): in DR and TUN it holds the VIPs on lo, keeps ARP quiet about
// them and filters no reverse path, and in TUN it brings tunl0 (and, for
// an IPv6 VIP, ip6tnl0) up; otherwise it holds none of that.
func WireRealServer(rs *topology.Node, method ForwardMethod, vips []netip.Prefix) error {
	bypass := method == MethodDR || method == MethodTUN
	if err := setLoAddrs(rs, vips, bypass); err != nil {
		return err
	}
	ignore, announce, rpf := "0", "0", "0"
	if bypass {
		ignore, announce = "1", "2"
	}
	devs := []string{"all"}
	for _, l := range rs.Links {
		devs = append(devs, l.Dev())
	}
	for _, dev := range devs {
		for k, v := range map[string]string{"arp_ignore": ignore, "arp_announce": announce, "rp_filter": rpf} {
			if err := rs.SetSysctl("net.ipv4.conf."+dev+"."+k, v); err != nil {
				return err
			}
		}
	}
	v6 := false
	for _, p := range vips {
		v6 = v6 || p.Addr().Is6()
	}
	return setTunnel(rs, method == MethodTUN, v6)
}

func vipPrefixes(s *topology.Spec) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range []netip.Addr{s.VIP.IPv4, s.VIP.IPv6} {
		if a.IsValid() {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func setLoAddrs(n *topology.Node, prefixes []netip.Prefix, present bool) error {
	lo, err := n.Netlink().LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in %s: %w", n.Name, err)
	}
	for _, p := range prefixes {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if present {
			err = n.Netlink().AddrReplace(lo, addr)
		} else if err = n.Netlink().AddrDel(lo, addr); errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ESRCH) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("set VIP %s on lo of %s (present=%v): %w", p, n.Name, present, err)
		}
	}
	return nil
}

// setTunnel brings the tunnel fallback devices up or down: tunl0 (IPv4 in
// IPv4, module ipip) and, for an IPv6 VIP, ip6tnl0 (IPv6 in IPv6, module
// ip6_tunnel). The kernel creates them in every namespace once the module
// is loaded.
func setTunnel(n *topology.Node, up, v6 bool) error {
	for _, dev := range []struct{ name, module string }{{"tunl0", "ipip"}, {"ip6tnl0", "ip6_tunnel"}} {
		link, err := n.Netlink().LinkByName(dev.name)
		if err != nil {
			if !up || dev.name == "ip6tnl0" && !v6 {
				continue
			}
			return fmt.Errorf("%s has no %s: TUN mode needs the %s module (modprobe %s)", n.Name, dev.name, dev.module, dev.module)
		}
		if !up {
			if err := n.Netlink().LinkSetDown(link); err != nil {
				return err
			}
			continue
		}
		if err := n.Netlink().LinkSetUp(link); err != nil {
			return fmt.Errorf("bring up %s in %s: %w", dev.name, n.Name, err)
		}
		if dev.name == "tunl0" {
			if err := n.SetSysctl("net.ipv4.conf.tunl0.rp_filter", "0"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verify checks that a lab is wired for a forwarding method and names
// every cause it finds that would break it: the preflight of "lvslab up"
// and of the suites.
func Verify(lab *topology.Lab, mode topology.Mode) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	d := lab.Director()
	if d == nil {
		return fmt.Errorf("lab %s has no director", lab.Spec.Name)
	}
	for _, p := range vipPrefixes(lab.Spec) {
		if !lab.Spec.IsHA() && !HasAddr(d, "lo", p.Addr()) {
			bad("director: the VIP %s is not a local address, so IPVS never sees packets for it: put it on lo", p.Addr())
		}
	}
	client := lab.Client().Addr(false)
	for _, rs := range lab.RealServers() {
		seg := rs.Links[0].Segment
		via := routeVia(rs, client)
		dBack, _ := d.Link(seg)
		gw := lab.Spec.Floating // a pair's master holds it
		if !lab.Spec.IsHA() && len(dBack.IPv4) > 0 {
			gw = dBack.IPv4[0]
		}
		switch mode {
		case topology.ModeNAT:
			if gw.IsValid() && via != gw {
				bad("%s: replies to the client go via %s, not back through the director (%s): NAT needs the real servers' route back through the director",
					rs.Name, orNone(via), gw)
			}
		case topology.ModeDR, topology.ModeTUN:
			if gw.IsValid() && via == gw {
				bad("%s: replies to the client go through the director: %s needs them to bypass it (route via the router)", rs.Name, mode)
			}
			if v := sysctlMax(rs, "arp_ignore", seg); v < 1 {
				bad("%s: arp_ignore is %d on %s: the real server answers ARP for the VIP and takes it from the director (%s needs arp_ignore=1)", rs.Name, v, seg, mode)
			}
			if v := sysctlMax(rs, "arp_announce", seg); v < 2 {
				bad("%s: arp_announce is %d on %s: it may announce the VIP from its LAN address (%s needs arp_announce=2)", rs.Name, v, seg, mode)
			}
			if !HasAddr(rs, "lo", lab.Spec.VIP.IPv4) {
				bad("%s: the VIP %s is not on lo: packets the director forwards to it are dropped (%s needs the VIP on lo)", rs.Name, lab.Spec.VIP.IPv4, mode)
			}
		}
		if mode == topology.ModeTUN {
			link, err := rs.Netlink().LinkByName("tunl0")
			switch {
			case err != nil:
				bad("%s: no tunl0 (module ipip): it cannot decapsulate what the director tunnels to it", rs.Name)
			case link.Attrs().Flags&net.FlagUp == 0:
				bad("%s: tunl0 is down: the director's IP-in-IP packets are dropped (TUN needs tunl0 up)", rs.Name)
			default:
				if v := sysctlMax(rs, "rp_filter", "tunl0"); v != 0 {
					bad("%s: rp_filter is %d on tunl0: decapsulated packets from the client fail the reverse-path check (TUN needs rp_filter=0)", rs.Name, v)
				}
			}
			if lab.Spec.VIP.IPv6.IsValid() {
				if link, err := rs.Netlink().LinkByName("ip6tnl0"); err != nil || link.Attrs().Flags&net.FlagUp == 0 {
					bad("%s: ip6tnl0 is missing or down: the director's IPv6-in-IPv6 packets are dropped (TUN over IPv6 needs ip6tnl0 up, module ip6_tunnel)", rs.Name)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func orNone(a netip.Addr) string {
	if !a.IsValid() {
		return "no route"
	}
	return a.String()
}

// routeVia is the gateway a node uses to reach dst (invalid if on-link or none).
func routeVia(n *topology.Node, dst netip.Addr) netip.Addr {
	routes, err := n.Netlink().RouteGet(dst.AsSlice())
	if err != nil || len(routes) == 0 {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(routes[0].Gw)
	return a.Unmap()
}

// sysctlMax is the value the kernel applies for per-device IPv4 settings
// such as arp_ignore: the larger of "all" and the device's.
func sysctlMax(n *topology.Node, key, dev string) int {
	best := 0
	for _, d := range []string{"all", dev} {
		v, err := n.Sysctl("net.ipv4.conf." + d + "." + key)
		if err != nil {
			continue
		}
		if x, err := strconv.Atoi(v); err == nil && x > best {
			best = x
		}
	}
	return best
}

// HasAddr says whether the node has the address on that link.
func HasAddr(n *topology.Node, link string, a netip.Addr) bool {
	l, err := n.Netlink().LinkByName(link)
	if err != nil {
		return false
	}
	addrs, err := n.Netlink().AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if y, ok := netip.AddrFromSlice(x.IP); ok && y.Unmap() == a {
			return true
		}
	}
	return false
}
