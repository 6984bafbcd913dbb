//go:build linux

package ipvs_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

var _ = Describe("UDP, IPv6 and firewall-mark services", func() {
	for _, mode := range []topology.Mode{topology.ModeNAT, topology.ModeDR, topology.ModeTUN} {
		Context(fmt.Sprintf("in %s mode", modeName(mode)), Ordered, Label(string(mode)), func() {
			var d *labtest.Lab
			BeforeAll(func() {
				d = labtest.Start(mode)
			})

			It("echoes UDP through the VIP from every real server, each seeing the real client address", Label("udp"), func() {
				seen := map[string]bool{}
				for i := range d.RealServers() {
					from := d.Sources(false)[i%4]
					c := d.UDPConn(from)
					c.SetDeadline(time.Now().Add(2 * time.Second))
					_, err := c.Write([]byte("ping"))
					Expect(err).NotTo(HaveOccurred())
					buf := make([]byte, 2048)
					n, err := c.Read(buf)
					Expect(err).NotTo(HaveOccurred())
					server, client, payload, err := harness.ParseEcho(buf[:n])
					Expect(err).NotTo(HaveOccurred())
					Expect(string(payload)).To(Equal("ping"))
					Expect(client).To(HavePrefix(from.String()+":"), "%s saw %s", server, client)
					seen[server] = true
				}
				Expect(seen).To(HaveLen(len(d.RealServers())), "rr over 8 UDP flows")
			})

			// In NAT the replies of one-packet entries, which are never
			// hashed, find no entry to be un-NATed by: ops is for DR and TUN.
			if mode != topology.ModeNAT {
				It("spreads single datagrams of one flow with one-packet scheduling (ops)", Label("udp"), func() {
					c := d.UDPConn(d.Sources(false)[0])
					seen := map[string]bool{}
					for range 8 {
						s, err := labtest.UDPAsk(c)
						Expect(err).NotTo(HaveOccurred())
						seen[s] = true
					}
					Expect(seen).To(HaveLen(1), "without ops, one flow is one connection: one server")
					d.SetScheduler(harness.Service{Protocol: "udp", Addr: d.UDP.Addr, Port: d.UDP.Port, Scheduler: "rr", Flags: harness.FlagOnePacket})
					// A new flow: the old one's entry would still match for 300 s.
					c = d.UDPConn(d.Sources(false)[0])
					seen = map[string]bool{}
					for range 8 {
						s, err := labtest.UDPAsk(c)
						Expect(err).NotTo(HaveOccurred())
						seen[s] = true
					}
					Expect(seen).To(HaveLen(8), "ops schedules every datagram: rr over 8 servers")
				})
			}

			// In TUN mode IPv6 is tunnelled IPv6 in IPv6, to ip6tnl0 (module ip6_tunnel).
			It("serves HTTP over IPv6 from every real server, each seeing the real client address", Label("ipv6"), func() {
				src := d.Sources(true)
				seen := map[string]bool{}
				for i := range d.RealServers() {
					resp := labtest.Get(d.Client(), src[i%len(src)], d.VIP(true))
					seen[resp.Header.Get(harness.HeaderServer)] = true
					client, err := netip.ParseAddrPort(resp.Header.Get(harness.HeaderClient))
					Expect(err).NotTo(HaveOccurred())
					Expect(client.Addr()).To(Equal(src[i%len(src)]))
				}
				Expect(seen).To(HaveLen(len(d.RealServers())))
				targets, err := loadgen.TargetsFor(d.Spec, "vip", true)
				Expect(err).NotTo(HaveOccurred())
				res, err := loadgen.Run(context.Background(), loadgen.Config{Targets: targets, Sources: src, Client: d.Client(),
					Clients: 4, Duration: time.Minute, Requests: 200})
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Errors).To(BeEmpty())
				Expect(res.Successes).To(BeEquivalentTo(200))
			})
		})
	}

	Context("on a NAT director", Ordered, Label("nat"), func() {
		var d *labtest.Lab
		BeforeAll(func() {
			d = labtest.Start(topology.ModeNAT)
		})

		// kubernetes/kubernetes#71514 and #76664: the
		// flow's entry still names the deleted server, and IPVS drops its
		// datagrams (expire_nodest_conn=0) without refreshing the entry: the
		// flow is black-holed until the UDP timeout after its last delivered
		// datagram, then scheduled anew. Both 6.1 and 6.12 behave so; 300 s
		// by default, 2 s here.
		It("black-holes a UDP flow of a deleted server for the UDP timeout, then reschedules it", Label("udp", "gotcha"), func() {
			Expect(d.Dir.SetTimeouts(0, 0, 2*time.Second)).To(Succeed())
			DeferCleanup(d.Dir.SetTimeouts, 900*time.Second, 120*time.Second, 300*time.Second) // the kernel's defaults
			c := d.UDPConn(d.Sources(false)[1])
			first, err := labtest.UDPAsk(c)
			Expect(err).NotTo(HaveOccurred())
			deleted := time.Now()
			Expect(d.Dir.DelReal(d.UDP, d.Real(first, 1, false))).To(Succeed())
			DeferCleanup(d.Dir.AddReal, d.UDP, d.Real(first, 1, false))
			var answeredBy string
			var lost int
			for answeredBy == "" && time.Since(deleted) < 6*time.Second {
				c.SetDeadline(time.Now().Add(300 * time.Millisecond))
				_, err := c.Write([]byte("ping"))
				Expect(err).NotTo(HaveOccurred())
				buf := make([]byte, 2048)
				n, err := c.Read(buf)
				if err != nil {
					lost++
					continue
				}
				answeredBy, _, _, err = harness.ParseEcho(buf[:n])
				Expect(err).NotTo(HaveOccurred())
			}
			after := time.Since(deleted)
			GinkgoWriter.Printf("UDP flow of a deleted server: %d datagrams lost, answered again after %s by %s\n", lost, after, answeredBy)
			labtest.Behaviour("a UDP flow of a deleted server (UDP timeout 2 s)", "%s",
				map[bool]string{true: "black-holed, then rescheduled", false: "not rescheduled within 6 s"}[answeredBy != "" && answeredBy != first])
			labtest.Measured("a UDP flow of a deleted server answered again after (UDP timeout 2 s)", "%s", after.Round(100*time.Millisecond))
			Expect(answeredBy).NotTo(BeEmpty(), "the flow was never rescheduled")
			Expect(answeredBy).NotTo(Equal(first))
			Expect(after).To(BeNumerically(">=", 1500*time.Millisecond), "rescheduled well before the UDP timeout")
			Expect(lost).To(BeNumerically(">=", 3))
		})

		It("groups two ports into one service by an nftables firewall mark", Label("fwmark"), func() {
			nft := func(script string) {
				GinkgoHelper()
				Expect(harness.Nft(d.Director(), script)).To(Succeed())
			}
			vip := d.Spec.VIP.IPv4
			nft(fmt.Sprintf("table ip lvslab {\n chain pre {\n  type filter hook prerouting priority mangle\n  ip daddr %s tcp dport { 80, 8080 } meta mark set 1\n }\n}\n", vip))
			DeferCleanup(nft, "delete table ip lvslab")
			svc := harness.Service{FWMark: 1, Addr: vip, Scheduler: "rr"}
			Expect(d.Dir.AddService(svc)).To(Succeed())
			DeferCleanup(d.Dir.DelService, svc)
			for _, rs := range d.RealServers() {
				Expect(d.Dir.AddReal(svc, d.Real(rs.Name, 1, false))).To(Succeed())
			}
			before := fwmarkConns(d, 1)
			for _, port := range []uint16{80, 8080, 80, 8080} {
				resp := labtest.Get(d.Client(), d.Sources(false)[0], netip.AddrPortFrom(vip, port))
				Expect(resp.Header.Get(harness.HeaderServer)).To(HavePrefix("rs"))
			}
			Eventually(func() uint32 { return fwmarkConns(d, 1) - before }).WithTimeout(10*time.Second).WithPolling(time.Second).
				Should(BeEquivalentTo(4), "the mark service took both ports")
		})
	})
})

func fwmarkConns(d *labtest.Lab, mark uint32) uint32 {
	svcs, err := d.Dir.Services()
	Expect(err).NotTo(HaveOccurred())
	for _, s := range svcs {
		if s.FWMark == mark {
			return s.Stats.Connections
		}
	}
	return 0
}
