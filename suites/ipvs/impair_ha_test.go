//go:build linux

package ipvs_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/topology"
)

// Serial, as every keepalived spec: the pair's timers share the guest's
// CPUs with nothing else.
var _ = Describe("a keepalived director pair on lossy links", Label("ha", "impair"), Serial, func() {
	It("keeps its master through 60 s of 1% loss on every director link at the default advert", func() {
		l := buildHA(topology.ModeNAT)
		pair, d1, d2 := l.elect(keepalived.Options{})
		// Registered after elect's cleanup, so the links are clean again
		// before the pair stops and the directors reboot.
		for _, d := range l.Topology().Directors() {
			for _, ls := range d.Links {
				Expect(d.Impair(ls.Segment, topology.Impairment{Loss: 1})).To(Succeed())
				DeferCleanup(func() { Expect(d.Impair(ls.Segment, topology.Impairment{})).To(Succeed()) })
			}
		}
		since := time.Now()
		// VRRP takes over after three adverts in a row are lost
		// (Master_Down_Interval, RFC 3768 §6.1): at 1 % loss that is about
		// once in a million intervals, so 60 s must pass with no change.
		time.Sleep(60 * time.Second)
		var vrrp, health []keepalived.Event
		for _, e := range pair.Events() {
			if !e.At.After(since) {
				continue
			}
			switch e.Kind {
			case "INSTANCE", "GROUP":
				vrrp = append(vrrp, e)
			default:
				health = append(health, e)
			}
		}
		AddReportEntry("health events under 1% loss in 60 s", len(health))
		GinkgoWriter.Printf("under 1%% loss for 60 s: %d VRRP events, %d health-check events\n", len(vrrp), len(health))
		Expect(vrrp).To(BeEmpty(), "a VRRP state changed under 1%% loss")
		Expect(d1.HoldsVIP()).To(BeTrue())
		Expect(d2.HoldsVIP()).To(BeFalse())
	})

	It("fails over when every advert of the master is lost, within the backup's Master_Down_Interval, and reports its timing", func() {
		l := buildHA(topology.ModeNAT)
		_, d1, d2 := l.elect(keepalived.Options{})
		took := armTakeover(d2, 30*time.Second)
		master := l.Topology().Node(d1.Name())
		fault := time.Now()
		for _, ls := range master.Links {
			Expect(master.Impair(ls.Segment, topology.Impairment{Loss: 100})).To(Succeed())
			DeferCleanup(func() { Expect(master.Impair(ls.Segment, topology.Impairment{})).To(Succeed()) })
		}
		// director2's Master_Down_Interval is 3.609 s from the last advert
		// it heard, which came up to one advert (1 s) before the fault.
		t := took(fault)
		Expect(t).To(BeNumerically(">=", 2500*time.Millisecond), "a takeover before Master_Down_Interval minus one advert")
		Expect(t).To(BeNumerically("<", 5*time.Second), "Master_Down_Interval (3.609 s) and a second of slack for the guest")
		Expect(d2.HoldsVIP()).To(BeTrue())
	})
})
