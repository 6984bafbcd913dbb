//go:build linux

package lab_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// startLab builds and serves a lab for one spec and tears it down after.
func startLab(spec *topology.Spec) *harness.Lab {
	GinkgoHelper()
	labtest.ExpectGone(spec.Name) // registered first, so it runs after the lab's own cleanup
	lab, err := harness.Up(context.Background(), spec, harness.UpOptions{Servers: harness.DefaultServerConfig})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(lab.Close()).To(Succeed()) })
	labtest.CaptureOnFailure(lab.Topology())
	return lab
}

// reach reports whether node can open a TCP connection to addr.
func reach(n *topology.Node, addr netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	c, err := n.Dial(ctx, "tcp", netip.Addr{}, addr)
	if err == nil {
		c.Close()
	}
	return err
}

var _ = Describe("a lab", Label("lab"), func() {
	It("builds every namespace, records it, and removes it all on Close", func() {
		lab, err := topology.Build(context.Background(), topology.Small(topology.WithName(name("build"))))
		Expect(err).NotTo(HaveOccurred())
		st, err := topology.ReadState(name("build"))
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Namespaces).To(HaveLen(6)) // switch, client, director, router, rs1, rs2
		for _, ns := range st.Namespaces {
			Expect("/run/netns/" + ns).To(BeAnExistingFile())
		}
		Expect(lab.Close()).To(Succeed())
		for _, ns := range st.Namespaces {
			Expect("/run/netns/" + ns).NotTo(BeAnExistingFile())
		}
	})

	It("refuses a second lab of the same name and leaves the first intact", func() {
		lab := startLab(topology.Small(topology.WithName(name("twice"))))
		_, err := topology.Build(context.Background(), topology.Small(topology.WithName(name("twice"))))
		Expect(err).To(MatchError(ContainSubstring("already exists")))
		Expect(reach(lab.Client(), netip.AddrPortFrom(lab.RealServers()[0].Addr(false), 80))).To(Succeed())
	})

	It("builds over no namespace that was there before, and leaves that one alone when it fails", func() {
		ns := "lvs-" + name("pre") + "-rs1"
		Expect(exec.Command("ip", "netns", "add", ns).Run()).To(Succeed())
		DeferCleanup(func() { Expect(exec.Command("ip", "netns", "delete", ns).Run()).To(Succeed()) })
		_, err := topology.Build(context.Background(), topology.Small(topology.WithName(name("pre"))))
		Expect(err).To(MatchError(ContainSubstring(ns + " exists already")))
		Expect("/run/netns/" + ns).To(BeAnExistingFile())
		_, err = topology.ReadState(name("pre"))
		Expect(err).To(MatchError(ContainSubstring("no lab named")))
	})

	It("leaves nothing when a build fails half-way", func() {
		spec := topology.Small(topology.WithName(name("half")))
		spec.Nodes[0].Sysctls = map[string]string{"net.ipv4.no_such_sysctl": "1"}
		_, err := topology.Build(context.Background(), spec)
		Expect(err).To(MatchError(ContainSubstring("no_such_sysctl")))
		// The leftover check after the spec proves nothing remains.
	})

	It("leaves nothing when harness.Up fails after the build", func() {
		spec := topology.PaperHA(topology.WithName(name("upfail")), topology.WithMode(topology.ModeNAT))
		labtest.ExpectGone(spec.Name)
		_, err := harness.Up(context.Background(), spec, harness.UpOptions{Servers: harness.DefaultServerConfig,
			Supervise: true, Pair: unsavedPair{}})
		Expect(err).To(MatchError(ContainSubstring("the pair cannot be saved")))
	})
})

// unsavedPair is a director pair whose options cannot be saved: Up fails
// once the lab is built, before its supervisor starts.
type unsavedPair struct{}

func (unsavedPair) Save(string) error { return errors.New("the pair cannot be saved") }
func (unsavedPair) WaitMaster(context.Context, *topology.Lab) (*topology.Node, error) {
	return nil, errors.New("never asked")
}

var _ = Describe("the paper lab's wiring", Ordered, Label("lab"), func() {
	var lab *harness.Lab
	BeforeAll(func() {
		lab = startLab(topology.Paper(topology.WithName(name("wire"))))
	})

	It("lets the client reach every real server over IPv4 and IPv6, from every source address", func() {
		for _, rs := range lab.RealServers() {
			for _, v6 := range []bool{false, true} {
				Expect(reach(lab.Client(), netip.AddrPortFrom(rs.Addr(v6), 80))).To(Succeed(), "client to %s v6=%v", rs.Name, v6)
			}
		}
		ctx := context.Background()
		for _, src := range loadgen.SourcesFor(lab.Spec, false) {
			c, err := lab.Client().Dial(ctx, "tcp", src, netip.AddrPortFrom(lab.RealServers()[0].Addr(false), 80))
			Expect(err).NotTo(HaveOccurred())
			Expect(c.LocalAddr().String()).To(HavePrefix(src.String() + ":"))
			c.Close()
		}
	})

	It("gives no node a way out of the lab, and the VIP no answer while no director serves it", func() {
		outside := netip.MustParseAddrPort("192.0.0.8:80") // IANA's dummy address: in no lab
		for _, n := range lab.Nodes {
			err := reach(n, outside)
			Expect(err).To(HaveOccurred(), "%s reached an address outside the lab", n.Name)
			Expect(errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, os.ErrDeadlineExceeded) ||
				errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "%s: %v", n.Name, err)
		}
		Expect(reach(lab.Client(), netip.AddrPortFrom(lab.Spec.VIP.IPv4, 80))).NotTo(Succeed())
	})

	It("routes the real servers' replies by the lab's mode", func() {
		backOf := func(name string) string {
			n, _ := lab.Spec.Node(name)
			link, _ := n.Link(topology.SegmentBack)
			return link.IPv4[0].String()
		}
		rs := lab.RealServers()[0]
		routes, err := rs.Netlink().RouteGet(lab.Client().Addr(false).AsSlice())
		Expect(err).NotTo(HaveOccurred())
		Expect(routes[0].Gw.String()).To(Equal(backOf("router")))
		Expect(lab.SetMode(topology.ModeNAT)).To(Succeed())
		DeferCleanup(lab.SetMode, topology.ModeDirect)
		routes, err = rs.Netlink().RouteGet(lab.Client().Addr(false).AsSlice())
		Expect(err).NotTo(HaveOccurred())
		Expect(routes[0].Gw.String()).To(Equal(backOf("director")))
	})

	It("takes a node's link down and up", func() {
		rs := lab.RealServers()[2]
		addr := netip.AddrPortFrom(rs.Addr(false), 80)
		Expect(rs.SetLinkUp(topology.SegmentBack, false)).To(Succeed())
		Expect(reach(lab.Client(), addr)).NotTo(Succeed())
		Expect(rs.SetLinkUp(topology.SegmentBack, true)).To(Succeed())
		Eventually(func() error { return reach(lab.Client(), addr) }).Should(Succeed())
	})

	It("stops and starts one real server", func() {
		s := lab.Server("rs4")
		addr := netip.AddrPortFrom(s.Node.Addr(false), 80)
		Expect(s.Stop()).To(Succeed())
		Expect(reach(lab.Client(), addr)).To(MatchError(syscall.ECONNREFUSED))
		Expect(s.Start()).To(Succeed())
		Expect(reach(lab.Client(), addr)).To(Succeed())
	})

	It("drops a real server's port and makes its address unreachable from a node, and undoes both", func() {
		rs := lab.RealServers()[3]
		timedOut := func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
		}
		for _, v6 := range []bool{false, true} {
			addr := netip.AddrPortFrom(rs.Addr(v6), 80)
			Expect(harness.DropInbound(rs, "tcp", 80)).To(Succeed())
			DeferCleanup(harness.ClearDropInbound, rs, "tcp", uint16(80))
			Expect(timedOut(reach(lab.Client(), addr))).To(BeTrue(), "a dropped SYN times out, v6=%v", v6)
			Expect(harness.ClearDropInbound(rs, "tcp", 80)).To(Succeed())
			Expect(harness.ClearDropInbound(rs, "tcp", 80)).To(Succeed(), "clearing twice")
			Expect(reach(lab.Client(), addr)).To(Succeed())

			Expect(harness.RouteUnreachable(lab.Client(), addr.Addr())).To(Succeed())
			DeferCleanup(harness.ClearRouteUnreachable, lab.Client(), addr.Addr())
			Expect(harness.RouteUnreachable(lab.Client(), addr.Addr())).To(Succeed(), "adding twice")
			t0 := time.Now()
			Expect(reach(lab.Client(), addr)).To(MatchError(syscall.EHOSTUNREACH))
			Expect(time.Since(t0)).To(BeNumerically("<", 100*time.Millisecond), "refused at once, v6=%v", v6)
			Expect(harness.ClearRouteUnreachable(lab.Client(), addr.Addr())).To(Succeed())
			Expect(harness.ClearRouteUnreachable(lab.Client(), addr.Addr())).To(Succeed(), "clearing twice")
			Expect(reach(lab.Client(), addr)).To(Succeed())
		}
	})

	It("echoes UDP with the server's name and the client address it saw", func() {
		rs := lab.RealServers()[1]
		src := loadgen.SourcesFor(lab.Spec, false)[1]
		c, err := lab.Client().Dial(context.Background(), "udp", src, netip.AddrPortFrom(rs.Addr(false), 80))
		Expect(err).NotTo(HaveOccurred())
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Write([]byte("ping"))
		Expect(err).NotTo(HaveOccurred())
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		Expect(err).NotTo(HaveOccurred())
		server, client, payload, err := harness.ParseEcho(buf[:n])
		Expect(err).NotTo(HaveOccurred())
		Expect(server).To(Equal(rs.Name))
		Expect(client).To(HavePrefix(src.String() + ":"))
		Expect(string(payload)).To(Equal("ping"))
		Expect(lab.Server(rs.Name).Counters().UDP).To(BeNumerically(">=", 1))
	})
})

var _ = Describe("direct load on the paper lab", Ordered, Label("lab", "load"), func() {
	var lab *harness.Lab
	BeforeAll(func() {
		lab = startLab(topology.Paper(topology.WithName(name("load"))))
	})

	for _, keepalive := range []bool{false, true} {
		conn := map[bool]string{false: "one connection per request", true: "keep-alive"}[keepalive]
		It("gets an answer from all 8 servers with zero errors, and the counts agree everywhere ("+conn+")", func() {
			before := lab.Counters()
			targets, err := loadgen.TargetsFor(lab.Spec, "direct", false)
			Expect(err).NotTo(HaveOccurred())
			res, err := loadgen.Run(context.Background(), loadgen.Config{
				Targets: targets, Sources: loadgen.SourcesFor(lab.Spec, false), Client: lab.Client(),
				Clients: 16, Duration: 30 * time.Second, Requests: 1600, KeepAlive: keepalive,
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Errors).To(BeEmpty())
			Expect(res.Successes).To(BeEquivalentTo(1600))
			Expect(res.Servers).To(HaveLen(8))
			var sum, accepts, requests int64
			after := lab.Counters()
			for name, n := range res.Servers {
				Expect(n).To(BeEquivalentTo(200), "round-robin sends each server 1600/8 requests")
				sum += n
				requests += int64(after[name].Requests - before[name].Requests)
				accepts += int64(after[name].Accepts - before[name].Accepts)
			}
			Expect(sum).To(Equal(res.Successes))
			Expect(requests).To(Equal(res.Successes))
			if keepalive {
				Expect(accepts).To(Equal(res.Connections))
				Expect(accepts).To(BeNumerically("<=", 16*8))
			} else {
				Expect(accepts).To(Equal(res.Successes))
				Expect(res.Connections).To(Equal(res.Successes))
			}
		})
	}
})

var _ = Describe("two labs at once", Label("lab"), func() {
	It("do not interfere, even with the same addresses", func() {
		a := startLab(topology.Small(topology.WithName(name("a"))))
		b := startLab(topology.Small(topology.WithName(name("b"))))
		targets, _ := loadgen.TargetsFor(a.Spec, "direct", false)
		res, err := loadgen.Run(context.Background(), loadgen.Config{
			Targets: targets, Client: a.Client(), Clients: 4, Duration: 30 * time.Second, Requests: 100,
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Successes).To(BeEquivalentTo(100))
		var inA, inB uint64
		for _, c := range a.Counters() {
			inA += c.Requests
		}
		for _, c := range b.Counters() {
			inB += c.Requests
		}
		Expect(inA).To(BeEquivalentTo(100))
		Expect(inB).To(BeZero(), "load on lab a reached lab b")
	})
})
