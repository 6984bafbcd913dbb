//go:build linux

package ipvs_test

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vishvananda/netlink"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// A director in each forwarding method, on the paper's lab.
var _ = Describe("an IPVS director", func() {
	for _, mode := range balanced {
		Context(fmt.Sprintf("in %s mode", modeName(mode)), Ordered, Label(string(mode)), func() {
			var lab *labtest.Lab
			BeforeAll(func() {
				lab = labtest.Start(mode)
			})

			It("gets an answer from every real server through the VIP, each seeing the real client address", func() {
				src := lab.Sources(false)
				seen := map[string]bool{}
				for i := range lab.RealServers() {
					from := src[i%len(src)]
					resp := labtest.Get(lab.Client(), from, lab.VIP(false))
					seen[resp.Header.Get(harness.HeaderServer)] = true
					client, err := netip.ParseAddrPort(resp.Header.Get(harness.HeaderClient))
					Expect(err).NotTo(HaveOccurred())
					Expect(client.Addr()).To(Equal(from), "the real server saw another source: the director rewrote it")
				}
				Expect(seen).To(HaveLen(len(lab.RealServers())))
			})

			It("counts the same connections at the load generator, the real servers and IPVS", func() {
				before := lab.Counts()
				res := lab.Load(80)
				got := lab.Counts().Since(before)
				Expect(got.Requests).To(BeEquivalentTo(res.Successes))
				Expect(got.IPVS.Connections).To(BeEquivalentTo(res.Successes))
				out := got.IPVS.PacketsOut
				if mode == topology.ModeNAT {
					Expect(out).To(BeNumerically(">", 0), "NAT replies pass through the director")
				} else {
					Expect(out).To(BeZero(), "%s replies must bypass the director", mode)
				}
			})

			It("spreads new connections evenly with rr, and by weight with wrr", func() {
				res := lab.Load(80)
				for _, rs := range lab.RealServers() {
					Expect(res.Servers[rs.Name]).To(BeNumerically("~", 10, 1), "rr gave %s %d of 80", rs.Name, res.Servers[rs.Name])
				}
				wrr := lab.HTTP
				wrr.Scheduler = "wrr"
				lab.SetScheduler(wrr)
				weights := map[string]int{}
				total := 0
				for i, rs := range lab.RealServers() {
					weights[rs.Name] = 1 + i%3
					total += 1 + i%3
				}
				lab.SetWeights(wrr, weights)
				res = lab.Load(int64(4 * total))
				for name, w := range weights {
					Expect(res.Servers[name]).To(BeNumerically("~", 4*w, 1), "wrr gave %s (weight %d) %d of %d", name, w, res.Servers[name], 4*total)
				}
			})

			It("lists its table exactly as ipvsadm does", func() {
				header, err := harness.IPVSHeader(lab.Director())
				Expect(err).NotTo(HaveOccurred())
				for _, stats := range []bool{false, true} {
					args := []string{"-Ln"}
					if stats {
						args = append(args, "--stats")
						lab.Settled(lab.HTTP) // quiescent counters
					}
					var want []byte
					Expect(lab.Director().Do(func() (err error) {
						// Started from a thread inside the director, ipvsadm runs there.
						want, err = exec.Command("ipvsadm", args...).Output()
						return err
					})).To(Succeed())
					svcs, err := lab.Dir.Services()
					Expect(err).NotTo(HaveOccurred())
					var got strings.Builder
					harness.WriteTable(&got, header, svcs, stats)
					Expect(got.String()).To(Equal(string(want)), "ipvsadm %s", strings.Join(args, " "))
				}
			})

			It("names the cause when the lab is wired wrong", func() {
				rs := lab.RealServers()[0]
				var want string
				switch mode {
				case topology.ModeNAT:
					// Replies routed as in DR: through the router.
					router, _ := lab.Spec.Node("router")
					back, _ := router.Link(rs.Links[0].Segment)
					Expect(rs.Netlink().RouteReplace(defaultRoute(back.IPv4[0]))).To(Succeed())
					want = "rs1: replies to the client go via " + back.IPv4[0].String() + ", not back through the director"
				case topology.ModeDR:
					Expect(rs.SetSysctl("net.ipv4.conf.all.arp_ignore", "0")).To(Succeed())
					Expect(rs.SetSysctl("net.ipv4.conf.back.arp_ignore", "0")).To(Succeed())
					want = "rs1: arp_ignore is 0 on back"
				case topology.ModeTUN:
					Expect(rs.SetLinkUp("tunl0", false)).To(Succeed())
					want = "rs1: tunl0 is down"
				}
				DeferCleanup(func() {
					Expect(lab.Rewire()).To(Succeed())
					Expect(lab.Verify()).To(Succeed())
				})
				Expect(lab.Verify()).To(MatchError(ContainSubstring(want)))
			})
		})
	}
})

func defaultRoute(via netip.Addr) *netlink.Route {
	return &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: via.AsSlice()}
}
