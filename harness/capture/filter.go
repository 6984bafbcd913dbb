package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Filter keeps the packets that match every condition it has: one of
// Hosts as the source or destination address (of the outer or an inner IP
// header, so an IP-in-IP packet matches its inner addresses too), one of
// Ports as a TCP or UDP source or destination port, one of Protocols. An
// empty Filter keeps everything.
type Filter struct {
	Hosts     []netip.Addr
	Ports     []uint16
	Protocols []string
	expr      string
}

// Protocols a filter names, as tcpdump does.
var protocols = map[string]bool{"ip": true, "ip6": true, "arp": true, "tcp": true, "udp": true,
	"icmp": true, "icmp6": true, "vrrp": true, "ipip": true}

// ParseFilter reads a tcpdump-like expression: terms joined by "and",
// each "host ADDR", "port N" or a protocol (ip, ip6, arp, tcp, udp, icmp,
// icmp6, vrrp, ipip). Repeating a kind of term means any of them
// ("port 80 and port 443" keeps both ports). "" keeps everything.
func ParseFilter(expr string) (Filter, error) {
	f := Filter{expr: strings.TrimSpace(expr)}
	words := strings.Fields(expr)
	for i := 0; i < len(words); i++ {
		w := strings.ToLower(words[i])
		if i > 0 {
			if w != "and" || i+1 == len(words) {
				return Filter{}, fmt.Errorf("filter %q: terms are joined by \"and\" (host ADDR, port N, or one of %s)", expr, protocolList())
			}
			i++
			w = strings.ToLower(words[i])
		}
		switch {
		case w == "host" || w == "port":
			if i+1 == len(words) {
				return Filter{}, fmt.Errorf("filter %q: %s needs a value", expr, w)
			}
			i++
			if w == "host" {
				a, err := netip.ParseAddr(words[i])
				if err != nil {
					return Filter{}, fmt.Errorf("filter %q: host %q is not an IP address", expr, words[i])
				}
				f.Hosts = append(f.Hosts, a.Unmap())
				continue
			}
			p, err := strconv.ParseUint(words[i], 10, 16)
			if err != nil || p == 0 {
				return Filter{}, fmt.Errorf("filter %q: port %q is not 1 to 65535", expr, words[i])
			}
			f.Ports = append(f.Ports, uint16(p))
		case protocols[w]:
			f.Protocols = append(f.Protocols, w)
		default:
			return Filter{}, fmt.Errorf("filter %q: unknown term %q: use host ADDR, port N, or one of %s, joined by \"and\"", expr, words[i], protocolList())
		}
	}
	return f, nil
}

func protocolList() string {
	return "ip, ip6, arp, tcp, udp, icmp, icmp6, vrrp, ipip"
}

// String is the expression the filter was parsed from, recorded in each
// interface block of the capture.
func (f Filter) String() string { return f.expr }

// Match says whether an Ethernet frame passes the filter.
func (f Filter) Match(frame []byte) bool {
	if len(f.Hosts) == 0 && len(f.Ports) == 0 && len(f.Protocols) == 0 {
		return true
	}
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var seen packetFacts
	for _, l := range p.Layers() {
		seen.add(l)
	}
	return seen.matches(f)
}

// packetFacts is what a filter asks of one decoded packet.
type packetFacts struct {
	addrs  []netip.Addr
	ports  []uint16
	protos map[string]bool
}

func (s *packetFacts) add(l gopacket.Layer) {
	if s.protos == nil {
		s.protos = map[string]bool{}
	}
	switch l := l.(type) {
	case *layers.IPv4:
		if s.protos["ip"] {
			s.protos["ipip"] = true // a second IPv4 header: IP-in-IP (IPVS's TUN)
		}
		s.protos["ip"] = true
		s.addAddrs(l.SrcIP, l.DstIP)
		if l.Protocol == layers.IPProtocol(112) {
			s.protos["vrrp"] = true
		}
	case *layers.IPv6:
		s.protos["ip6"] = true
		s.addAddrs(l.SrcIP, l.DstIP)
		if l.NextHeader == layers.IPProtocol(112) {
			s.protos["vrrp"] = true
		}
	case *layers.ARP:
		s.protos["arp"] = true
		s.addAddrs(l.SourceProtAddress, l.DstProtAddress)
	case *layers.TCP:
		s.protos["tcp"] = true
		s.ports = append(s.ports, uint16(l.SrcPort), uint16(l.DstPort))
	case *layers.UDP:
		s.protos["udp"] = true
		s.ports = append(s.ports, uint16(l.SrcPort), uint16(l.DstPort))
	case *layers.ICMPv4:
		s.protos["icmp"] = true
	case *layers.ICMPv6:
		s.protos["icmp6"] = true
	}
}

func (s *packetFacts) addAddrs(ips ...[]byte) {
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			s.addrs = append(s.addrs, a.Unmap())
		}
	}
}

func (s *packetFacts) matches(f Filter) bool {
	if len(f.Hosts) > 0 && !anyIn(f.Hosts, s.addrs) {
		return false
	}
	if len(f.Ports) > 0 && !anyIn(f.Ports, s.ports) {
		return false
	}
	if len(f.Protocols) > 0 {
		ok := false
		for _, p := range f.Protocols {
			ok = ok || s.protos[p]
		}
		return ok
	}
	return true
}

func anyIn[T comparable](want, have []T) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}
