package ipvs_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// The lab's switch. In DR and TUN the router's port on the real servers'
// segment only ever receives (their replies), so a learning bridge forgets
// its address after the ageing time and floods every reply to every real
// server from then on: a lab that drifts with its uptime, and what a real
// switch does under asymmetric routing. The specs count packets, not
// rates: what the bridge delivered to each port (topology.Lab.Port).
var _ = Describe("the lab's switch", Label("switch"), func() {
	const ageing = time.Second
	const requests = 200

	// delivered is what the bridge has sent to the router's and to every
	// real server's port on the real servers' segment.
	type delivered struct{ router, servers uint64 }
	count := func(lab *labtest.Lab) delivered {
		GinkgoHelper()
		var d delivered
		seg := lab.RealServers()[0].Links[0].Segment
		p, err := lab.Port("router", seg)
		Expect(err).NotTo(HaveOccurred())
		d.router = p.TxPackets
		for _, rs := range lab.RealServers() {
			p, err := lab.Port(rs.Name, seg)
			Expect(err).NotTo(HaveOccurred())
			d.servers += p.TxPackets
		}
		return d
	}
	// load sends requests and returns what the bridge delivered meanwhile.
	load := func(lab *labtest.Lab) delivered {
		GinkgoHelper()
		before := count(lab)
		lab.Load(requests)
		after := count(lab)
		return delivered{router: after.router - before.router, servers: after.servers - before.servers}
	}

	for _, mode := range []topology.Mode{topology.ModeDR, topology.ModeTUN} {
		It(fmt.Sprintf("floods every reply to every real server once a learning bridge has aged out the router (%s)", modeName(mode)), Label(string(mode)), func() {
			lab := labtest.Start(mode, topology.WithSwitch(topology.Switch{Learning: true, AgeingTime: ageing}))
			lab.Load(20)
			time.Sleep(2 * ageing) // the router's back port has sent nothing since
			d := load(lab)
			others := uint64(len(lab.RealServers()) - 1)
			AddReportEntry("packets per request", fmt.Sprintf("%s, learning switch, ageing %s: real servers received %.1f packets per request (%d), the router %d replies",
				mode, ageing, float64(d.servers)/requests, d.servers, d.router))
			Expect(d.router).To(BeNumerically(">=", 3*requests), "the router saw too few replies to judge")
			// Flooded, each reply reaches every real server but its sender.
			Expect(d.servers).To(BeNumerically(">=", others*d.router*9/10),
				"real servers received %d packets for %d replies: the replies were not flooded", d.servers, d.router)
		})

		It(fmt.Sprintf("delivers the same packets per request after the ageing time when the bridges hold static entries (%s)", modeName(mode)), Label(string(mode)), func() {
			lab := labtest.Start(mode, topology.WithSwitch(topology.Switch{AgeingTime: ageing}))
			Expect(lab.StaticEntries(lab.RealServers()[0].Links[0].Segment)).To(HaveLen(len(lab.RealServers()) + 2))
			lab.Load(50) // neighbours resolved: what follows is steady state
			first := load(lab)
			time.Sleep(3 * ageing)
			second := load(lab)
			AddReportEntry("packets per request", fmt.Sprintf("%s, static entries, ageing %s: real servers received %.2f packets per request, then %.2f after %s",
				mode, ageing, float64(first.servers)/requests, float64(second.servers)/requests, 3*ageing))
			// Within 4 %: a neighbour refresh (ARP) may fall into one batch.
			Expect(second.servers).To(BeNumerically("~", first.servers, first.servers/25),
				"packets per request changed from %.2f to %.2f past the ageing time", float64(first.servers)/requests, float64(second.servers)/requests)
			// Not flooded: the real servers received fewer packets than the replies they sent.
			Expect(second.servers).To(BeNumerically("<", second.router*2), "real servers received %d packets for %d replies", second.servers, second.router)
		})
	}
})
