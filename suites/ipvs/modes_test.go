package ipvs_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vishvananda/netlink"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// A director in each forwarding method, on the paper's lab.
var _ = Describe("an IPVS director", func() {
	for _, mode := range []topology.Mode{topology.ModeNAT, topology.ModeDR, topology.ModeTUN} {
		Context(fmt.Sprintf("in %s mode", modeName(mode)), Ordered, Label(string(mode)), func() {
			var (
				lab  *harness.Lab
				dir  *harness.Director
				http harness.Service
			)
			BeforeAll(func() {
				expectCleanAfter()
				d := startDirectorLab(string(mode), mode, harness.DefaultServerConfig)
				lab, dir, http = d.Lab, d.Dir, d.HTTP
			})

			load := func(requests int64) *loadgen.Result {
				GinkgoHelper()
				targets, err := loadgen.TargetsFor(lab.Spec, "vip", false)
				Expect(err).NotTo(HaveOccurred())
				res, err := loadgen.Run(context.Background(), loadgen.Config{
					Targets: targets, Sources: loadgen.SourcesFor(lab.Spec, false), Dial: lab.Client().Dial,
					Clients: 4, Duration: 2 * time.Minute, Requests: requests,
				})
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Errors).To(BeEmpty())
				Expect(res.Successes).To(Equal(requests))
				return res
			}
			// serviceStats reads the HTTP service's counters once they are
			// settled: IPVS folds its per-CPU counters in every 2 seconds, so
			// two equal reads 2.5 s apart are final.
			serviceStats := func() harness.Stats {
				GinkgoHelper()
				var prev, cur *harness.Stats
				Eventually(func() (bool, error) {
					svcs, err := dir.Services()
					if err != nil {
						return false, err
					}
					prev, cur = cur, nil
					for _, s := range svcs {
						if s.Protocol == "tcp" && s.Addr == http.Addr {
							cur = &s.Stats
						}
					}
					return cur != nil && prev != nil && *prev == *cur, nil
				}).WithTimeout(20 * time.Second).WithPolling(2500 * time.Millisecond).Should(BeTrue())
				return *cur
			}

			It("gets an answer from every real server through the VIP, each seeing the real client address", func() {
				src := loadgen.SourcesFor(lab.Spec, false)
				seen := map[string]bool{}
				for i := range lab.RealServers() {
					from := src[i%len(src)]
					resp := get(lab.Client(), from, netip.AddrPortFrom(lab.Spec.VIP.IPv4, lab.Spec.VIP.Port))
					seen[resp.Header.Get(harness.HeaderServer)] = true
					client, err := netip.ParseAddrPort(resp.Header.Get(harness.HeaderClient))
					Expect(err).NotTo(HaveOccurred())
					Expect(client.Addr()).To(Equal(from), "the real server saw another source: the director rewrote it")
				}
				Expect(seen).To(HaveLen(len(lab.RealServers())))
			})

			It("counts the same connections at the load generator, the real servers and IPVS", func() {
				before, servers := serviceStats(), lab.Counters()
				res := load(80)
				after := serviceStats()
				var requests uint64
				for name, c := range lab.Counters() {
					requests += c.Requests - servers[name].Requests
				}
				Expect(requests).To(BeEquivalentTo(res.Successes))
				Expect(after.Sub(before).Connections).To(BeEquivalentTo(res.Successes))
				out := after.Sub(before).PacketsOut
				if mode == topology.ModeNAT {
					Expect(out).To(BeNumerically(">", 0), "NAT replies pass through the director")
				} else {
					Expect(out).To(BeZero(), "%s replies must bypass the director", mode)
				}
			})

			It("spreads new connections evenly with rr, and by weight with wrr", func() {
				res := load(80)
				for _, rs := range lab.RealServers() {
					Expect(res.Servers[rs.Name]).To(BeNumerically("~", 10, 1), "rr gave %s %d of 80", rs.Name, res.Servers[rs.Name])
				}
				wrr := http
				wrr.Scheduler = "wrr"
				Expect(dir.UpdateService(wrr)).To(Succeed())
				weights := map[string]int{}
				total := 0
				for i, rs := range lab.RealServers() {
					w := 1 + i%3
					weights[rs.Name] = w
					total += w
					Expect(dir.UpdateReal(wrr, harness.Real{Addr: rs.Addr(false), Port: lab.Spec.VIP.Port, Weight: w, Method: mode})).To(Succeed())
				}
				DeferCleanup(func() {
					Expect(dir.UpdateService(http)).To(Succeed())
					for _, rs := range lab.RealServers() {
						Expect(dir.UpdateReal(http, harness.Real{Addr: rs.Addr(false), Port: lab.Spec.VIP.Port, Weight: 1, Method: mode})).To(Succeed())
					}
				})
				res = load(int64(4 * total))
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
						serviceStats() // quiescent counters
					}
					var want []byte
					Expect(lab.Director().Do(func() (err error) {
						// Started from a thread inside the director, ipvsadm runs there.
						want, err = exec.Command("ipvsadm", args...).Output()
						return err
					})).To(Succeed())
					svcs, err := dir.Services()
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
					Expect(harness.Wire(lab.Lab, mode)).To(Succeed())
					Expect(harness.Verify(lab.Lab, mode)).To(Succeed())
				})
				Expect(harness.Verify(lab.Lab, mode)).To(MatchError(ContainSubstring(want)))
			})
		})
	}
})

// get sends one HTTP/1.0 request from a source address and returns the response.
func get(n *topology.Node, from netip.Addr, to netip.AddrPort) *http.Response {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := n.Dial(ctx, "tcp", from, to)
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", to)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	return resp
}

func defaultRoute(via netip.Addr) *netlink.Route {
	return &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: via.AsSlice()}
}
