//go:build linux

package ipvs_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/capture"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// segment is one TCP segment seen on a link of a capture.
type segment struct {
	link     string // node:link
	src, dst netip.AddrPort
	syn, ack bool
}

// frame is what else a capture saw of a segment: the Ethernet
// destination and, for IP-in-IP, the outer header's addresses.
type frame struct {
	segment
	dstMAC             string
	outerSrc, outerDst netip.Addr // valid only for IP-in-IP
}

// segments keeps a capture's TCP segments, decoded as they come.
type segments struct {
	names  []string
	mu     sync.Mutex
	seen   []segment
	frames []frame
}

func (s *segments) Packet(p capture.Packet) error {
	pkt := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	var ips []*layers.IPv4
	for _, l := range pkt.Layers() {
		if ip, ok := l.(*layers.IPv4); ok {
			ips = append(ips, ip)
		}
	}
	if eth == nil || len(ips) == 0 || tcp == nil {
		return nil
	}
	ip := ips[len(ips)-1] // the innermost: the connection's own header
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := segment{link: s.names[p.Link], src: netip.AddrPortFrom(src, uint16(tcp.SrcPort)),
		dst: netip.AddrPortFrom(dst, uint16(tcp.DstPort)), syn: tcp.SYN, ack: tcp.ACK}
	s.seen = append(s.seen, seg)
	f := frame{segment: seg, dstMAC: eth.DstMAC.String()}
	if len(ips) > 1 {
		f.outerSrc, _ = netip.AddrFromSlice(ips[0].SrcIP)
		f.outerDst, _ = netip.AddrFromSlice(ips[0].DstIP)
	}
	s.frames = append(s.frames, f)
	return nil
}

// handshake is what the capture saw of the first two packets of a
// connection: the SYN and the SYN-ACK, on each link.
func (s *segments) handshake() []segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []segment
	for _, seg := range s.seen {
		if seg.syn {
			out = append(out, seg)
		}
	}
	return out
}

// handshakeFrames is handshake with what else each frame showed.
func (s *segments) handshakeFrames() []frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []frame
	for _, f := range s.frames {
		if f.syn {
			out = append(out, f)
		}
	}
	return out
}

// captureOn starts a capture of TCP port 80 on a node's links for the
// rest of the spec.
func captureOn(lab *labtest.Lab, words ...string) *segments {
	GinkgoHelper()
	targets, err := capture.Targets(lab.Topology(), words)
	Expect(err).NotTo(HaveOccurred())
	f, err := capture.ParseFilter("tcp and port 80")
	Expect(err).NotTo(HaveOccurred())
	opts := capture.Options{Filter: f}
	sink := &segments{}
	for _, i := range capture.Interfaces(targets, opts) {
		sink.names = append(sink.names, i.Name())
	}
	s, err := capture.Start(targets, opts, sink)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		_, err := s.Stop()
		Expect(err).NotTo(HaveOccurred())
	})
	return sink
}

var _ = Describe("packets through a NAT director", Label("nat", "capture"), func() {
	It("show the destination rewritten to the real server on the way in and the source back to the VIP on the way out", func() {
		lab := labtest.Start(topology.ModeNAT)
		dir := lab.Director().Name
		seen := captureOn(lab, dir)
		from := lab.Sources(false)[0]
		vip := lab.VIP(false)
		server := labtest.Get(lab.Client(), from, vip).Header.Get(harness.HeaderServer)
		rs := netip.AddrPortFrom(lab.Topology().Node(server).Addr(false), vip.Port())
		Eventually(func() int { return len(seen.handshake()) }).Should(BeNumerically(">=", 4))
		hs := seen.handshake()
		client := hs[0].src
		Expect(client.Addr()).To(Equal(from))
		Expect(hs).To(ConsistOf(
			segment{link: dir + ":front", src: client, dst: vip, syn: true},
			segment{link: dir + ":back", src: client, dst: rs, syn: true},
			segment{link: dir + ":back", src: rs, dst: client, syn: true, ack: true},
			segment{link: dir + ":front", src: vip, dst: client, syn: true, ack: true},
		), "in: client→VIP on the front becomes client→%s on the back; out: %s→client becomes VIP→client", rs, rs)
	})
})

var _ = Describe("a NAT lab on impaired links", Label("nat", "impair"), func() {
	It("answers later by the delay on the director's back link, and on time once it is cleared", func() {
		lab := labtest.Start(topology.ModeNAT)
		dir := lab.Director()
		from, vip := lab.Sources(false)[0], lab.VIP(false)
		timeGet := func() time.Duration {
			start := time.Now()
			labtest.Get(lab.Client(), from, vip)
			return time.Since(start)
		}
		clean := timeGet()
		const delay = 100 * time.Millisecond
		Expect(dir.Impair(topology.SegmentBack, topology.Impairment{Delay: delay})).To(Succeed())
		DeferCleanup(func() { Expect(dir.Impair(topology.SegmentBack, topology.Impairment{})).To(Succeed()) })
		Expect(dir.Impairment(topology.SegmentBack)).To(Equal(topology.Impairment{Delay: delay}))
		// The SYN and the request each cross the back link once toward
		// the real server.
		Expect(timeGet()).To(BeNumerically(">=", 2*delay), "clean: %s", clean)
		Expect(dir.Impair(topology.SegmentBack, topology.Impairment{})).To(Succeed())
		Expect(timeGet()).To(BeNumerically("<", delay))
	})

	It("completes every request of a counted load under 2% loss on the back link, both ways", func() {
		lab := labtest.Start(topology.ModeNAT)
		loss := topology.Impairment{Loss: 2}
		links, err := lab.Topology().ParseLinks([]string{lab.Director().Name + ":back"})
		Expect(err).NotTo(HaveOccurred())
		for _, rs := range lab.RealServers() {
			links = append(links, topology.NodeLink{Node: rs, Link: topology.SegmentBack})
		}
		for _, l := range links {
			Expect(l.Node.Impair(l.Link, loss)).To(Succeed())
			DeferCleanup(func() { Expect(l.Node.Impair(l.Link, topology.Impairment{})).To(Succeed()) })
		}
		// Every request succeeds: TCP's retransmissions show as latency,
		// never as an error, given the time its backoff takes (a SYN
		// lost three times goes again after 1 + 2 + 4 s).
		cfg := lab.LoadConfig(4)
		cfg.Requests, cfg.Timeout = 400, 30*time.Second
		res, err := loadgen.Run(context.Background(), cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Errors).To(BeEmpty(), "failed requests")
		Expect(res.Successes).To(Equal(int64(400)))
		GinkgoWriter.Printf("400 requests under 2%% loss: p99 %.1f ms, max %.1f ms\n", res.Latency.P99, res.Latency.Max)
	})
})

var _ = Describe("packets through a DR or TUN director", Label("capture"), func() {
	for _, mode := range []topology.Mode{topology.ModeDR, topology.ModeTUN} {
		It(fmt.Sprintf("in %s mode: leave the back link to the real server with the VIP inside, and the reply never passes the director", mode), Label(string(mode)), func() {
			lab := labtest.Start(mode)
			dir := lab.Director()
			seen := captureOn(lab, dir.Name)
			from, vip := lab.Sources(false)[0], lab.VIP(false)
			server := labtest.Get(lab.Client(), from, vip).Header.Get(harness.HeaderServer)
			rs := lab.Topology().Node(server)
			rsLink, err := rs.Netlink().LinkByName(topology.SegmentBack)
			Expect(err).NotTo(HaveOccurred())
			rsMAC := rsLink.Attrs().HardwareAddr.String()
			Eventually(func() int { return len(seen.handshakeFrames()) }).Should(BeNumerically(">=", 2))
			var back []frame
			for _, f := range seen.handshakeFrames() {
				Expect(f.ack).To(BeFalse(), "a SYN-ACK passed the director on %s: %s replies must bypass it", f.link, mode)
				Expect(f.dst).To(Equal(vip), "the connection's own header keeps the VIP as its destination on %s", f.link)
				if f.link == dir.Name+":back" {
					back = append(back, f)
				}
			}
			Expect(back).To(HaveLen(1), "one SYN forwarded on the back link")
			Expect(back[0].dstMAC).To(Equal(rsMAC), "forwarded to %s's MAC", server)
			if mode == topology.ModeDR {
				Expect(back[0].outerDst.IsValid()).To(BeFalse(), "DR sends the packet as it came, with no outer header")
			} else {
				Expect(back[0].outerDst).To(Equal(rs.Addr(false)), "TUN's outer header goes to the real server")
				var dirBack []netip.Addr
				for _, l := range dir.Links {
					if l.Segment == topology.SegmentBack {
						dirBack = l.IPv4
					}
				}
				Expect(dirBack).To(ContainElement(back[0].outerSrc), "TUN's outer header comes from the director's back link")
			}
		})
	}
})
