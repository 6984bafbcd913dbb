package ipvs_test

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/moby/ipvs"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// Until the director lands in package harness, this spec sets up a NAT
// virtual service with github.com/moby/ipvs directly.
var _ = Describe("a NAT virtual service", Ordered, Label("nat"), func() {
	var (
		lab *harness.Lab
		h   *ipvs.Handle
		svc *ipvs.Service
	)
	BeforeAll(func() {
		expectCleanAfter()
		var err error
		lab, err = harness.Start(context.Background(), topology.Small(topology.WithName(prefix+"nat"), topology.WithMode(topology.ModeNAT)),
			harness.DefaultServerConfig)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(lab.Close)

		director := lab.Director()
		lo, err := director.Netlink().LinkByName("lo")
		Expect(err).NotTo(HaveOccurred())
		vip := lab.Spec.VIP.IPv4
		Expect(director.Netlink().AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: vip.AsSlice(), Mask: net.CIDRMask(32, 32)}})).To(Succeed())

		h, err = ipvs.New(director.NsPath())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(h.Close)
		svc = &ipvs.Service{Address: vip.AsSlice(), Protocol: unix.IPPROTO_TCP, Port: lab.Spec.VIP.Port,
			SchedName: "rr", AddressFamily: unix.AF_INET, Netmask: 0xffffffff}
		Expect(h.NewService(svc)).To(Succeed())
		for _, rs := range lab.RealServers() {
			Expect(h.NewDestination(svc, &ipvs.Destination{Address: rs.Addr(false).AsSlice(), Port: lab.Spec.VIP.Port,
				Weight: 1, ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: unix.AF_INET})).To(Succeed())
		}
	})

	It("answers through the director from every real server, which sees the real client address", func() {
		targets, err := loadgen.TargetsFor(lab.Spec, "vip", false)
		Expect(err).NotTo(HaveOccurred())
		res, err := loadgen.Run(context.Background(), loadgen.Config{
			Targets: targets, Sources: loadgen.SourcesFor(lab.Spec, false), Dial: lab.Client().Dial,
			Clients: 2, Duration: time.Minute, Requests: 20,
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Errors).To(BeEmpty())
		Expect(res.Successes).To(BeEquivalentTo(20))
		Expect(res.Servers).To(HaveKeyWithValue("rs1", BeEquivalentTo(10)))
		Expect(res.Servers).To(HaveKeyWithValue("rs2", BeEquivalentTo(10)))

		// IPVS sums its per-CPU counters in its estimator, every 2 seconds.
		Eventually(func() (uint32, error) {
			s, err := h.GetService(svc)
			if err != nil {
				return 0, err
			}
			return s.Stats.Connections, nil
		}).WithTimeout(5*time.Second).Should(BeEquivalentTo(20), "IPVS counted every connection")

		// One request by hand, to read the address the real server saw.
		src := loadgen.SourcesFor(lab.Spec, false)[0]
		c, err := lab.Client().Dial(context.Background(), "tcp", src, netip.AddrPortFrom(lab.Spec.VIP.IPv4, lab.Spec.VIP.Port))
		Expect(err).NotTo(HaveOccurred())
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		Expect(err).NotTo(HaveOccurred())
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		Expect(string(buf[:n])).To(ContainSubstring(harness.HeaderClient + ": " + src.String() + ":"))
	})
})
