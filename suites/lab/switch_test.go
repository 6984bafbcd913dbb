//go:build linux

package lab_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// The lab's switch on this host, without IPVS: an asymmetric path like
// DR's. In routed mode the client reaches the real servers through the
// director; with the real servers' replies then routed through the router
// (as in DR and TUN), the router's port on their segment only ever
// receives. A learning bridge ages its address out and floods every reply
// to every real server; the lab's static entries keep it from doing so.
// The suite of IPVS pins the same in DR and TUN themselves.
var _ = Describe("the lab's switch on an asymmetric path", Label("lab", "switch"), func() {
	const ageing = time.Second
	const requests = 200

	// asymmetric builds the lab: requests through the director, replies
	// through the router.
	asymmetric := func(sw topology.Switch, what string) *harness.Lab {
		GinkgoHelper()
		lab := startLab(topology.Paper(topology.WithName(name(what)), topology.WithMode(topology.ModeRouted), labtest.IPv4Only, topology.WithSwitch(sw)))
		Expect(lab.SetMode(topology.ModeDR)).To(Succeed()) // the real servers' replies go through the router
		return lab
	}
	load := func(lab *harness.Lab, n int64) labtest.Delivered {
		GinkgoHelper()
		cfg, err := loadgen.ForLab(lab.Lab, "direct", false)
		Expect(err).NotTo(HaveOccurred())
		cfg.Clients, cfg.Requests, cfg.Duration = 4, n, time.Minute
		before := labtest.CountDelivered(lab.Lab)
		res, err := loadgen.Run(context.Background(), cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Successes).To(Equal(n), "failed requests: %v", res.Errors)
		return labtest.CountDelivered(lab.Lab).Since(before)
	}

	It("floods every reply to every real server once a learning bridge has aged out the router", func() {
		lab := asymmetric(topology.Switch{Learning: true, AgeingTime: ageing}, "swlearn")
		Expect(lab.StaticEntries(topology.SegmentBack)).To(BeEmpty())
		load(lab, 20)
		time.Sleep(2 * ageing) // the router's back port has sent nothing since
		d := load(lab, requests)
		AddReportEntry("packets per request", fmt.Sprintf("learning switch, ageing %s: real servers received %.1f packets per request, the router %d replies",
			ageing, float64(d.Servers)/requests, d.Router))
		Expect(d.Router).To(BeNumerically(">=", 3*requests), "the router saw too few replies to judge")
		others := uint64(len(lab.RealServers()) - 1)
		Expect(d.Servers).To(BeNumerically(">=", others*d.Router*9/10),
			"real servers received %d packets for %d replies: the replies were not flooded", d.Servers, d.Router)
	})

	It("delivers the same packets per request after the ageing time when the bridges hold static entries", func() {
		lab := asymmetric(topology.Switch{AgeingTime: ageing}, "swstatic")
		Expect(lab.StaticEntries(topology.SegmentBack)).To(HaveLen(len(lab.RealServers()) + 2))
		Expect(lab.StaticEntries(topology.SegmentFront)).To(HaveLen(3))
		load(lab, 50) // neighbours resolved: what follows is steady state
		first := load(lab, requests)
		time.Sleep(3 * ageing)
		second := load(lab, requests)
		AddReportEntry("packets per request", fmt.Sprintf("static entries, ageing %s: real servers received %.2f packets per request, then %.2f after %s",
			ageing, float64(first.Servers)/requests, float64(second.Servers)/requests, 3*ageing))
		Expect(second.Servers).To(BeNumerically("~", first.Servers, labtest.UnfloodedSpread(requests)),
			"packets per request changed from %.2f to %.2f past the ageing time", float64(first.Servers)/requests, float64(second.Servers)/requests)
		Expect(second.Servers).To(BeNumerically("<", second.Router*2), "real servers received %d packets for %d replies", second.Servers, second.Router)
	})
})
