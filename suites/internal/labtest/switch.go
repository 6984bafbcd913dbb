//go:build linux

package labtest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/topology"
)

// Delivered is what a segment's bridge has sent so far to the router's
// port and, added up, to every real server's port: the packets the
// switch delivered, counted rather than timed.
type Delivered struct{ Router, Servers uint64 }

// Since is what was delivered after an earlier reading.
func (d Delivered) Since(earlier Delivered) Delivered {
	return Delivered{Router: d.Router - earlier.Router, Servers: d.Servers - earlier.Servers}
}

// CountDelivered reads what the real servers' segment's bridge delivered.
func CountDelivered(lab *topology.Lab) Delivered {
	GinkgoHelper()
	var d Delivered
	seg := lab.RealServers()[0].Links[0].Segment
	p, err := lab.Port(lab.Router().Name, seg)
	Expect(err).NotTo(HaveOccurred())
	d.Router = p.TxPackets
	for _, rs := range lab.RealServers() {
		p, err := lab.Port(rs.Name, seg)
		Expect(err).NotTo(HaveOccurred())
		d.Servers += p.TxPackets
	}
	return d
}

// IPv4Only makes a lab without IPv6 at all, not even link-local: no
// multicast listener reports or neighbour discovery flooded through the
// bridges while a spec counts packets.
func IPv4Only(s *topology.Spec) {
	topology.WithoutIPv6()(s)
	for i := range s.Nodes {
		if s.Nodes[i].Sysctls == nil {
			s.Nodes[i].Sysctls = map[string]string{}
		}
		s.Nodes[i].Sysctls["net.ipv6.conf.all.disable_ipv6"] = "1"
		s.Nodes[i].Sysctls["net.ipv6.conf.default.disable_ipv6"] = "1"
	}
}

// UnfloodedSpread is how far the real servers' packets may differ
// between two loads of n requests through a switch that floods nothing:
// one packet per request. TCP sends a client's ACK and FIN together or
// apart, and ARP refreshes fall into one load (5.0 to 5.4 packets per
// request in repeated runs); a flood adds one packet per reply for every
// other real server, about 30 per request.
func UnfloodedSpread(n int) uint64 { return uint64(n) }
