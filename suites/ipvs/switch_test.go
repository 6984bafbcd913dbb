//go:build linux

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

	// load sends requests and returns what the bridge delivered meanwhile.
	load := func(lab *labtest.Lab) labtest.Delivered {
		GinkgoHelper()
		before := labtest.CountDelivered(lab.Topology())
		lab.Load(requests)
		return labtest.CountDelivered(lab.Topology()).Since(before)
	}

	for _, mode := range []topology.Mode{topology.ModeDR, topology.ModeTUN} {
		It(fmt.Sprintf("floods every reply to every real server once a learning bridge has aged out the router (%s)", modeName(mode)), Label(string(mode)), func() {
			lab := labtest.Start(mode, labtest.IPv4Only, topology.WithSwitch(topology.Switch{Learning: true, AgeingTime: ageing}))
			lab.Load(20)
			time.Sleep(2 * ageing) // the router's back port has sent nothing since
			d := load(lab)
			others := uint64(len(lab.RealServers()) - 1)
			AddReportEntry("packets per request", fmt.Sprintf("%s, learning switch, ageing %s: real servers received %.1f packets per request (%d), the router %d replies",
				mode, ageing, float64(d.Servers)/requests, d.Servers, d.Router))
			Expect(d.Router).To(BeNumerically(">=", 3*requests), "the router saw too few replies to judge")
			// Flooded, each reply reaches every real server but its sender.
			Expect(d.Servers).To(BeNumerically(">=", others*d.Router*9/10),
				"real servers received %d packets for %d replies: the replies were not flooded", d.Servers, d.Router)
		})

		It(fmt.Sprintf("delivers the same packets per request after the ageing time when the bridges hold static entries (%s)", modeName(mode)), Label(string(mode)), func() {
			lab := labtest.Start(mode, labtest.IPv4Only, topology.WithSwitch(topology.Switch{AgeingTime: ageing}))
			Expect(lab.StaticEntries(lab.RealServers()[0].Links[0].Segment)).To(HaveLen(len(lab.RealServers()) + 2))
			lab.Load(50) // neighbours resolved: what follows is steady state
			first := load(lab)
			time.Sleep(3 * ageing)
			second := load(lab)
			AddReportEntry("packets per request", fmt.Sprintf("%s, static entries, ageing %s: real servers received %.2f packets per request, then %.2f after %s",
				mode, ageing, float64(first.Servers)/requests, float64(second.Servers)/requests, 3*ageing))
			Expect(second.Servers).To(BeNumerically("~", first.Servers, labtest.UnfloodedSpread(requests)),
				"packets per request changed from %.2f to %.2f past the ageing time", float64(first.Servers)/requests, float64(second.Servers)/requests)
			// Not flooded: the real servers received fewer packets than the replies they sent.
			Expect(second.Servers).To(BeNumerically("<", second.Router*2), "real servers received %d packets for %d replies", second.Servers, second.Router)
		})
	}
})
