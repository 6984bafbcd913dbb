//go:build linux

package ipvs_test

import (
	"net"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// Schedulers and persistence, on a NAT director (it sees both directions,
// so IPVS's active-connection counts are exact).
var _ = Describe("IPVS scheduling", Ordered, func() {
	var d *labtest.Lab
	BeforeAll(func() {
		d = labtest.Start(topology.ModeNAT)
	})
	// only keeps the first n real servers in the HTTP service for one spec.
	only := func(n int) []string {
		var names []string
		for i, rs := range d.RealServers() {
			if i < n {
				names = append(names, rs.Name)
				continue
			}
			Expect(d.Dir.DelReal(d.HTTP, d.Real(rs.Name, 1, false))).To(Succeed())
			DeferCleanup(d.Dir.AddReal, d.HTTP, d.Real(rs.Name, 1, false))
		}
		return names
	}
	src := func(i int) netip.Addr { return d.Sources(false)[i%len(d.Sources(false))] }

	Context("by connection counts", Label("scheduler"), func() {
		It("lc sends each new connection to the server with the fewest active ones", func() {
			names := only(4)
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "lc"})
			count := map[string]int{}
			for i := range 8 {
				count[d.Hold(src(i)).Server]++
			}
			for _, n := range names {
				Expect(count[n]).To(Equal(2), "lc with 8 held connections on 4 servers: %v", count)
			}
		})

		It("wlc does so in proportion to the weights", func() {
			names := only(4)
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "wlc"})
			d.SetWeights(d.HTTP, map[string]int{names[0]: 3})
			count := map[string]int{}
			for i := range 12 {
				count[d.Hold(src(i)).Server]++
			}
			Expect(count[names[0]]).To(BeNumerically("~", 6, 1), "weight 3 of 6: %v", count)
			for _, n := range names[1:] {
				Expect(count[n]).To(BeNumerically("~", 2, 1), "weight 1 of 6: %v", count)
			}
		})

		It("nq gives an idle server the next connection, sed weighs expected delay", func() {
			names := only(2)
			d.SetWeights(d.HTTP, map[string]int{names[0]: 4})
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "nq"})
			first, second := d.Hold(src(0)).Server, d.Hold(src(1)).Server
			Expect(first).NotTo(Equal(second), "nq: the second connection must go to the idle server")
		})

		It("sed weighs expected delay: a server of weight 4 takes the first connections and four in five overall", func() {
			names := only(2)
			d.SetWeights(d.HTTP, map[string]int{names[0]: 4})
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "sed"})
			// (C+1)/W: rs1's 1/4, 2/4, 3/4 beat rs2's 1/1; ties go to the
			// destination the kernel lists first (the last added).
			count := map[string]int{}
			for i := range 10 {
				server := d.Hold(src(i)).Server
				if i < 3 {
					Expect(server).To(Equal(names[0]), "connection %d", i+1)
				}
				count[server]++
			}
			Expect(count[names[0]]).To(BeNumerically("~", 8, 1), "sed with weights 4:1 over 10 held connections: %v", count)
		})
	})

	Context("by weight order", Label("scheduler"), func() {
		It("fo sends everything to the available server of highest weight", func() {
			names := only(3)
			d.SetWeights(d.HTTP, map[string]int{names[1]: 5, names[2]: 2})
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "fo"})
			for i := range 6 {
				Expect(d.Ask(src(i))).To(Equal(names[1]))
			}
		})

		It("ovf fills the highest-weight server until its active connections exceed its weight, then the next", func() {
			names := only(3)
			d.SetWeights(d.HTTP, map[string]int{names[1]: 3, names[2]: 2})
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "ovf"})
			var got []string
			for i := range 6 {
				got = append(got, d.Hold(src(i)).Server)
			}
			// Eligible while active ≤ weight: weight 3 takes four.
			Expect(got).To(Equal([]string{names[1], names[1], names[1], names[1], names[2], names[2]}))
		})
	})

	Context("by hashing", Label("scheduler"), func() {
		for _, sched := range []string{"sh", "mh"} {
			It(sched+" keeps each client address on one server", func() {
				d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: sched})
				for _, from := range d.Sources(false) {
					first := d.Ask(from)
					for range 5 {
						Expect(d.Ask(from)).To(Equal(first), "%s moved %s", sched, from)
					}
				}
			})
		}

		It("mh moves only the clients of a server that leaves, sh moves many more", func() {
			// Many client addresses, so the share that moves can be measured.
			client := d.Client()
			front, err := client.Netlink().LinkByName(topology.SegmentFront)
			Expect(err).NotTo(HaveOccurred())
			var many []netip.Addr
			for i := 150; i < 250; i++ {
				a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
				addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}
				Expect(client.Netlink().AddrAdd(front, addr)).To(Succeed())
				DeferCleanup(client.Netlink().AddrDel, front, addr)
				many = append(many, a)
			}
			moved := map[string]int{}
			for _, sched := range []string{"mh", "sh"} {
				svc := harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: sched}
				Expect(d.Dir.UpdateService(svc)).To(Succeed())
				before := map[netip.Addr]string{}
				for _, a := range many {
					before[a] = d.Ask(a)
				}
				leaving := d.RealServers()[3].Name
				Expect(d.Dir.DelReal(svc, d.Real(leaving, 1, false))).To(Succeed())
				for _, a := range many {
					if before[a] != leaving && d.Ask(a) != before[a] {
						moved[sched]++
					}
				}
				Expect(d.Dir.AddReal(svc, d.Real(leaving, 1, false))).To(Succeed())
			}
			Expect(d.Dir.UpdateService(d.HTTP)).To(Succeed())
			GinkgoWriter.Printf("clients of staying servers that moved when 1 of 8 left: mh %d/100, sh %d/100\n", moved["mh"], moved["sh"])
			Expect(moved["mh"]).To(BeNumerically("<=", 10), "mh should move about none of the staying servers' clients")
			Expect(moved["sh"]).To(BeNumerically(">", moved["mh"]), "sh rehashes: it moves more than mh")
		})

		for _, sched := range []string{"dh", "lblc", "lblcr"} {
			It(sched+" routes every connection to the VIP to one server", func() {
				d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: sched})
				first := d.Ask(src(0))
				for i := range 8 {
					Expect(d.Ask(src(i))).To(Equal(first), "%s routes by destination", sched)
				}
			})
		}
	})

	Context("with persistence", Label("persistence"), func() {
		It("keeps a client on one server across connections", func() {
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "rr", Persistence: 60 * time.Second})
			first := d.Ask(src(0))
			for range 8 {
				Expect(d.Ask(src(0))).To(Equal(first))
			}
		})

		It("groups clients by netmask", func() {
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "rr", Persistence: 60 * time.Second, PersistenceBits: 24})
			first := d.Ask(src(0))
			for _, from := range d.Sources(false) {
				Expect(d.Ask(from)).To(Equal(first), "%s is in the same /24", from)
			}
			d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "rr", Persistence: 60 * time.Second})
			seen := map[string]bool{}
			for _, from := range d.Sources(false) {
				seen[d.Ask(from)] = true
			}
			Expect(len(seen)).To(BeNumerically(">", 1), "with a /32 mask, rr spreads the four client addresses")
		})

		It("rebalances a client after the timeout with no traffic", func() {
			d.Dir.SetTimeouts(0, 0, time.Second)
			DeferCleanup(d.Dir.SetTimeouts, 900*time.Second, 120*time.Second, 300*time.Second) // the kernel's defaults
			udp := harness.Service{Protocol: "udp", Addr: d.UDP.Addr, Port: d.UDP.Port, Scheduler: "rr", Persistence: 2 * time.Second}
			d.SetScheduler(udp)
			c := d.UDPConn(src(0))
			first, err := labtest.UDPAsk(c)
			Expect(err).NotTo(HaveOccurred())
			for range 3 {
				Expect(labtest.UDPAsk(c)).To(Equal(first), "within the persistence timeout")
			}
			// The UDP entry lasts 1 s, then the template its 2 s.
			time.Sleep(4 * time.Second)
			Expect(labtest.UDPAsk(c)).NotTo(Equal(first), "rr picks the next server once the template expired")
		})

		DescribeTable("and weight 0: expire_quiescent_template decides (kubernetes/kubernetes#71809)",
			Label("gotcha"),
			func(expire string, staysOnQuiesced bool) {
				d.IPVSSysctl("expire_quiescent_template", expire)
				d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "rr", Persistence: 60 * time.Second})
				first := d.Ask(src(0))
				d.SetWeights(d.HTTP, map[string]int{first: 0})
				next := d.Ask(src(0))
				labtest.Behaviour("a persistent client after its server went to weight 0, expire_quiescent_template="+expire,
					"%s", map[bool]string{true: "stays on the quiesced server", false: "moves"}[next == first])
				if staysOnQuiesced {
					Expect(next).To(Equal(first), "the template still sends the client to the weight-0 server")
				} else {
					Expect(next).NotTo(Equal(first), "the template of a weight-0 server expires at once")
				}
			},
			Entry("expire_quiescent_template=0 keeps the client on the quiesced server", "0", true),
			Entry("expire_quiescent_template=1 moves it", "1", false),
		)
	})
})
