//go:build linux

package check

import (
	"net/netip"
	"slices"
)

// addrPool hands out host addresses of a prefix that nobody else uses:
// the lab's own nodes take addresses the operator's network leaves free.
type addrPool struct {
	used map[netip.Addr]bool
}

func newAddrPool() *addrPool { return &addrPool{used: map[netip.Addr]bool{}} }

func (p *addrPool) claim(a netip.Addr) {
	if a.IsValid() {
		p.used[a.Unmap()] = true
	}
}

// low is the lowest free host address of prefix (the lab's directors),
// high the highest (its router, as a gateway often is).
func (p *addrPool) low(prefix netip.Prefix) (netip.Addr, bool) {
	return p.take(prefix, prefix.Masked().Addr().Next(), netip.Addr.Next)
}

func (p *addrPool) high(prefix netip.Prefix) (netip.Addr, bool) {
	return p.take(prefix, lastHost(prefix), netip.Addr.Prev)
}

func (p *addrPool) take(prefix netip.Prefix, from netip.Addr, step func(netip.Addr) netip.Addr) (netip.Addr, bool) {
	for a, n := from, 0; a.IsValid() && prefix.Contains(a) && n < 1<<16; a, n = step(a), n+1 {
		if !p.used[a] && isHostOf(prefix, a) {
			p.used[a] = true
			return a, true
		}
	}
	return netip.Addr{}, false
}

// lastHost is the prefix's last address before the IPv4 broadcast.
func lastHost(prefix netip.Prefix) netip.Addr {
	p := prefix.Masked()
	b := p.Addr().AsSlice()
	for i := range b {
		bits := min(8, max(0, p.Bits()-8*i))
		b[i] |= byte(0xff) >> bits
	}
	a, _ := netip.AddrFromSlice(b)
	if a.Is4() {
		return a.Prev()
	}
	return a
}

func isHostOf(prefix netip.Prefix, a netip.Addr) bool {
	p := prefix.Masked()
	if a == p.Addr() {
		return false
	}
	return !a.Is4() || a != lastHost(p).Next()
}

// around is the /24 (IPv4) or /64 (IPv6) that holds a: the subnet a lab
// assumes for an address whose prefix nothing says.
func around(a netip.Addr) netip.Prefix {
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// outsidePrefixes are where the lab puts its own client, the first that
// no address of the operator's falls in.
var outsidePrefixes = func() []netip.Prefix {
	out := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("192.0.2.0/24")}
	for i := 255; i >= 0; i-- {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i), 0}), 24))
	}
	return out
}()

var outside6Prefixes = []netip.Prefix{netip.MustParsePrefix("2001:db8:ffff:ffff::/64"), netip.MustParsePrefix("2001:db8:fffe:ffff::/64")}

// freePrefix is the first candidate that overlaps no prefix and holds no
// address of the operator's.
func freePrefix(candidates []netip.Prefix, taken []netip.Prefix, addrs []netip.Addr) (netip.Prefix, bool) {
	for _, c := range candidates {
		if slices.ContainsFunc(taken, c.Overlaps) || slices.ContainsFunc(addrs, c.Contains) {
			continue
		}
		return c, true
	}
	return netip.Prefix{}, false
}
