//go:build linux

package lab_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness/capture"
	"github.com/lvslab/lvslab/topology"
)

// syn is a TCP SYN seen on one interface of a capture file.
type syn struct {
	link     int // the interface's index, then its name
	name     string
	src, dst netip.AddrPort
	at       time.Time
}

// readSYNs reads a pcapng file back: its interfaces' names and its SYNs.
func readSYNs(path string) ([]string, []syn) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
	Expect(err).NotTo(HaveOccurred())
	var syns []syn
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(d, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		Expect(ip).NotTo(BeNil(), "the filter kept only TCP to port 80, yet a packet is not IPv4")
		Expect(tcp).NotTo(BeNil(), "the filter kept only TCP to port 80, yet a packet is not TCP")
		if tcp.SYN && !tcp.ACK {
			src, _ := netip.AddrFromSlice(ip.SrcIP)
			dst, _ := netip.AddrFromSlice(ip.DstIP)
			syns = append(syns, syn{src: netip.AddrPortFrom(src, uint16(tcp.SrcPort)), dst: netip.AddrPortFrom(dst, uint16(tcp.DstPort)), at: ci.Timestamp, link: ci.InterfaceIndex})
		}
	}
	var names []string
	for i := range r.NInterfaces() {
		intf, err := r.Interface(i)
		Expect(err).NotTo(HaveOccurred())
		names = append(names, intf.Name)
	}
	for i := range syns {
		syns[i].name = names[syns[i].link]
	}
	return names, syns
}

var _ = Describe("a capture", Label("lab", "capture"), func() {
	It("sees a connection on the client's and the real server's links, with the kernel's timestamps, in a ring it writes as pcapng", func() {
		lab := startLab(topology.Small(topology.WithName(name("cap"))))
		client, rs1 := lab.Client(), lab.RealServers()[0]
		targets, err := capture.Targets(lab.Topology(), []string{"client:front", rs1.Name})
		Expect(err).NotTo(HaveOccurred())
		filter, err := capture.ParseFilter("tcp and port 80")
		Expect(err).NotTo(HaveOccurred())
		opts := capture.Options{Filter: filter}
		ring, err := capture.NewRing(capture.DefaultRingPackets, capture.DefaultRingBytes)
		Expect(err).NotTo(HaveOccurred())
		s, err := capture.Start(targets, opts, ring)
		Expect(err).NotTo(HaveOccurred())
		stopped := false
		DeferCleanup(func() {
			if !stopped {
				_, _ = s.Stop()
			}
		})

		before := time.Now()
		target := netip.AddrPortFrom(rs1.Addr(false), 80)
		Expect(reach(client, target)).To(Succeed())
		// Nothing tells when the packets reached the sockets: wait for the
		// SYN on both links.
		Eventually(func() int { held, _ := ring.Len(); return held }).Should(BeNumerically(">=", 6))
		// Traffic the filter refuses: a connection to another port.
		_ = reach(client, netip.AddrPortFrom(rs1.Addr(false), 81))
		after := time.Now()
		stats, err := s.Stop()
		stopped = true
		Expect(err).NotTo(HaveOccurred())
		Expect(stats.Dropped).To(BeZero())

		path := filepath.Join(GinkgoT().TempDir(), "cap.pcapng")
		f, err := os.Create(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(ring.WriteTo(f, capture.Interfaces(targets, opts))).To(Succeed())
		Expect(f.Close()).To(Succeed())

		names, syns := readSYNs(path)
		Expect(names).To(Equal([]string{"client:front", rs1.Name + ":back"}))
		var seenOn []string
		for _, s := range syns {
			Expect(s.dst).To(Equal(target), "a SYN not to rs1:80 passed the filter")
			Expect(s.at).To(BeTemporally(">=", before))
			Expect(s.at).To(BeTemporally("<=", after))
			seenOn = append(seenOn, s.name)
		}
		Expect(seenOn).To(ConsistOf("client:front", rs1.Name+":back"), "one SYN on each link")
		Expect(syns[0].src).To(Equal(syns[1].src), "the routed SYN keeps its source")
	})

	It("stops by itself after --count packets and refuses a link the node lacks", func() {
		lab := startLab(topology.Small(topology.WithName(name("capn"))))
		_, err := capture.Targets(lab.Topology(), []string{"client:back"})
		Expect(err).To(MatchError(ContainSubstring(`node client has no link "back" (its links: front)`)))
		targets, err := capture.Targets(lab.Topology(), []string{"client"})
		Expect(err).NotTo(HaveOccurred())
		var out bytes.Buffer
		w, err := capture.NewWriter(&out, capture.Interfaces(targets, capture.Options{}))
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		DeferCleanup(cancel)
		done := make(chan capture.Stats, 1)
		go func() {
			defer GinkgoRecover()
			st, err := capture.Run(ctx, targets, capture.Options{Count: 3}, w)
			Expect(err).NotTo(HaveOccurred())
			done <- st
		}()
		// Connections until the capture has its three packets.
		Eventually(func() bool {
			_ = reach(lab.Client(), netip.AddrPortFrom(lab.RealServers()[0].Addr(false), 80))
			return len(done) == 1
		}).WithTimeout(5 * time.Second).Should(BeTrue())
		Expect((<-done).Kept).To(BeEquivalentTo(3))
		Expect(ctx.Err()).NotTo(HaveOccurred(), "the capture stopped at its count, not at the deadline")
		Expect(w.Close()).To(Succeed())
		r, err := pcapgo.NewNgReader(bytes.NewReader(out.Bytes()), pcapgo.DefaultNgReaderOptions)
		Expect(err).NotTo(HaveOccurred())
		n := 0
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				break
			}
			n++
		}
		Expect(n).To(Equal(3))
	})
})
