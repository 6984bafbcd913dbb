//go:build linux

package check

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Remapping (--remap) moves every subnet of an operator's input onto the
// documentation prefixes, so that the lab runs on addresses nobody routes,
// and shows every finding in the operator's own addresses again. A subnet
// moves as a whole block onto a block of the same size: the low bits of
// every address stay (host parts, the last octet a range like
// 192.168.200.3-10 counts in), and whatever was one subnet stays one.
//
// Blocks are never narrower than /24 (IPv4) or /64 (IPv6): that keeps the
// last octet of an IPv4 range and the last group of an IPv6 one as
// written, and around() in the design finds the same subnet before and
// after. A subnet already on a documentation prefix keeps its place.

// remapPool4 and remapPool6 are where remapped subnets go: RFC 5737's
// three documentation /24s, RFC 2544's benchmarking 198.18.0.0/15 and
// RFC 3849's 2001:db8::/32, in the order blocks are taken.
var (
	remapPool4 = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.18.0.0/15")}
	remapPool6 = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
)

// The narrowest and widest blocks, per family.
const (
	remapUnit4, remapWidest4 = 24, 15
	remapUnit6, remapWidest6 = 64, 32
)

// maxRemapSubnets bounds the subnets one input may hold: IPv4 has room
// for 515 /24s at most, and an input with more IPv6 /64s than this is no
// pair of directors.
const maxRemapSubnets = 4096

// RemapPair is one subnet of the input and the block it moved to.
type RemapPair struct {
	From netip.Prefix `json:"from"`
	To   netip.Prefix `json:"to"`
	// Seen is where the input first names the subnet.
	Seen string `json:"seen"`
}

// Remap is the mapping of one input. A nil *Remap maps nothing.
type Remap struct {
	pairs []RemapPair
}

// Pairs lists the mapping, IPv4 first, in address order.
func (m *Remap) Pairs() []RemapPair {
	if m == nil {
		return nil
	}
	return slices.Clone(m.pairs)
}

// MarshalJSON writes the mapping as its list of pairs.
func (m *Remap) MarshalJSON() ([]byte, error) { return json.Marshal(m.Pairs()) }

// UnmarshalJSON reads a list of pairs, as a report holds it.
func (m *Remap) UnmarshalJSON(data []byte) error { return json.Unmarshal(data, &m.pairs) }

// Addr is where a moved to (a itself outside every subnet of the input).
func (m *Remap) Addr(a netip.Addr) netip.Addr { return m.move(a, false) }

// Original is the operator's address of a lab address.
func (m *Remap) Original(a netip.Addr) netip.Addr { return m.move(a, true) }

// Prefix moves a prefix's address, keeping its length.
func (m *Remap) Prefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	return netip.PrefixFrom(m.Addr(p.Addr()), p.Bits())
}

// Text moves every address written in s.
func (m *Remap) Text(s string) string { return m.text(s, false) }

// OriginalText writes every address of s as the operator's again.
func (m *Remap) OriginalText(s string) string { return m.text(s, true) }

func (m *Remap) text(s string, back bool) string {
	if m == nil || len(m.pairs) == 0 {
		return s
	}
	return replaceAddrs(s, func(a netip.Addr) netip.Addr { return m.move(a, back) })
}

func (m *Remap) move(a netip.Addr, back bool) netip.Addr {
	if m == nil {
		return a
	}
	if a.Is4In6() {
		return netip.AddrFrom16(m.move(a.Unmap(), back).As16())
	}
	for _, p := range m.pairs {
		from, to := p.From, p.To
		if back {
			from, to = to, from
		}
		if from.Contains(a) {
			return translate(a, from, to)
		}
	}
	return a
}

// translate moves a from block from to block to, keeping its offset.
func translate(a netip.Addr, from, to netip.Prefix) netip.Addr {
	if a.Is4() {
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:]) - v4(from.Addr()) + v4(to.Addr())
		return netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, v)))
	}
	// Blocks are /64 or wider: the low 64 bits are host bits and stay.
	b := a.As16()
	top := binary.BigEndian.Uint64(b[:8]) - top64(from.Addr()) + top64(to.Addr())
	binary.BigEndian.PutUint64(b[:8], top)
	return netip.AddrFrom16(b)
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func top64(a netip.Addr) uint64 {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8])
}

// remappable says whether an address is one of the input's own: not an
// unspecified, loopback, link-local, multicast or reserved address (a
// netmask such as persistence_granularity 255.255.255.0 is one of the
// last), which mean the same on every network.
func remappable(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsUnspecified() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	if a.Is4() {
		first := a.As4()[0]
		return first != 0 && first < 240
	}
	return true
}

// remapPlanner collects the subnets of an input, then plans where each
// goes.
type remapPlanner struct {
	seen  map[netip.Prefix]string // subnet → where first seen
	order []netip.Prefix
	err   error
}

func newRemapPlanner() *remapPlanner { return &remapPlanner{seen: map[netip.Prefix]string{}} }

// prefix records a subnet the input names with its length (an interface's
// address, a VIP with /24, a route): the block holding it is at least as
// wide.
func (p *remapPlanner) prefix(pfx netip.Prefix, where string) {
	a, bits := pfx.Addr(), pfx.Bits()
	if !pfx.IsValid() || !remappable(a) {
		return
	}
	if a.Is4In6() {
		a, bits = a.Unmap(), max(0, bits-96)
	}
	unit := remapUnit4
	if a.Is6() {
		unit = remapUnit6
	}
	pfx, _ = a.Prefix(min(bits, unit))
	if _, ok := p.seen[pfx]; ok {
		return
	}
	if len(p.seen) == maxRemapSubnets {
		if p.err == nil {
			p.err = fmt.Errorf("--remap: the input names more than %d subnets (%s): remap a pair's files, not a whole network; or run without --remap", maxRemapSubnets, where)
		}
		return
	}
	p.seen[pfx] = where
	p.order = append(p.order, pfx)
}

// addr records an address whose subnet the input does not say: its /24
// or /64.
func (p *remapPlanner) addr(a netip.Addr, where string) {
	if a.IsValid() {
		p.prefix(netip.PrefixFrom(a, a.BitLen()), where)
	}
}

// text records every address written in a file, by line: a length
// written after one ("/16") sizes its block, except in a comment (# or
// !), which keepalived never reads.
func (p *remapPlanner) text(name, s string) {
	for i, line := range strings.Split(s, "\n") {
		where := fmt.Sprintf("%s:%d", name, i+1)
		comment := commentStart(line)
		scanAddrs(line, func(start, _ int, a netip.Addr, bits int) {
			if bits >= 0 && start < comment {
				p.prefix(netip.PrefixFrom(a, bits), where)
			} else {
				p.addr(a, where)
			}
		})
	}
}

// commentStart is where a comment begins on a line (# or ! outside
// double quotes), or the line's length.
func commentStart(line string) int {
	quoted := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			quoted = !quoted
		case '#', '!':
			if !quoted {
				return i
			}
		}
	}
	return len(line)
}

// plan decides where every subnet goes, or says which cannot move.
func (p *remapPlanner) plan() (*Remap, error) {
	if p.err != nil {
		return nil, p.err
	}
	var tops []netip.Prefix
	// Widest first, so that a subnet inside another is found inside it.
	sorted := slices.Clone(p.order)
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		if a.Bits() != b.Bits() {
			return a.Bits() - b.Bits()
		}
		return a.Addr().Compare(b.Addr())
	})
	for _, s := range sorted {
		if !slices.ContainsFunc(tops, func(t netip.Prefix) bool { return t.Addr().BitLen() == s.Addr().BitLen() && t.Overlaps(s) }) {
			tops = append(tops, s)
		}
	}
	m := &Remap{}
	for _, fam := range []struct {
		v6      bool
		pool    []netip.Prefix
		widest  int
		explain string
	}{
		{false, remapPool4, remapWidest4, "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 198.18.0.0/15"},
		{true, remapPool6, remapWidest6, "2001:db8::/32"},
	} {
		var todo []netip.Prefix
		var taken []netip.Prefix
		for _, s := range tops {
			switch {
			case s.Addr().Is6() != fam.v6:
			case slices.ContainsFunc(fam.pool, func(pool netip.Prefix) bool { return pool.Bits() <= s.Bits() && pool.Contains(s.Addr()) }):
				// Already documentation: it stays, and nothing else goes there.
				taken = append(taken, s)
			case s.Bits() < fam.widest:
				return nil, fmt.Errorf("--remap: %s (%s) is wider than /%d, the widest block %s hold: run without --remap (the lab keeps your addresses inside its namespaces), or leave that subnet out of the input",
					s, p.seen[s], fam.widest, fam.explain)
			default:
				todo = append(todo, s)
			}
		}
		for _, s := range todo {
			to, ok := allocate(fam.pool, taken, s.Bits())
			if !ok {
				return nil, fmt.Errorf("--remap: the input's subnets need more room than %s hold (%s, %s, did not fit): run without --remap",
					fam.explain, s, p.seen[s])
			}
			taken = append(taken, to)
			m.pairs = append(m.pairs, RemapPair{From: s, To: to, Seen: p.seen[s]})
		}
	}
	slices.SortFunc(m.pairs, func(a, b RemapPair) int { return a.From.Addr().Compare(b.From.Addr()) })
	return m, nil
}

// allocate takes the first block of the given length in the pool that
// overlaps none taken.
func allocate(pool, taken []netip.Prefix, bits int) (netip.Prefix, bool) {
	for _, area := range pool {
		if area.Bits() > bits {
			continue
		}
		start, end := span(area)
		size := uint64(1) << (width(area.Addr()) - bits)
		for at := start; at < end; {
			cand := prefixAt(area.Addr().Is6(), at, bits)
			i := slices.IndexFunc(taken, cand.Overlaps)
			if i < 0 {
				return cand, true
			}
			// Past the block in the way, aligned to the size wanted.
			_, next := span(taken[i])
			at = max(at+size, (next+size-1)/size*size)
		}
	}
	return netip.Prefix{}, false
}

// Blocks are counted in 64-bit numbers: an IPv4 address, or the top 64
// bits of an IPv6 one (a block is never narrower than /64).
func width(a netip.Addr) int {
	if a.Is4() {
		return 32
	}
	return 64
}

func span(p netip.Prefix) (start, end uint64) {
	if p.Addr().Is4() {
		start = uint64(v4(p.Addr()))
	} else {
		start = top64(p.Addr())
	}
	return start, start + uint64(1)<<(width(p.Addr())-p.Bits())
}

func prefixAt(v6 bool, at uint64, bits int) netip.Prefix {
	if !v6 {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, uint32(at)))), bits)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], at)
	return netip.PrefixFrom(netip.AddrFrom16(b), bits)
}
