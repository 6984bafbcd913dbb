//go:build linux

package ipvs_test

import (
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/topology"
)

// Serial, as every keepalived spec: the pair's timers share the guest's
// CPUs with nothing else.
var _ = Describe("a keepalived director pair on impaired links", Label("ha", "impair"), Serial, func() {
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

	Context("health checks on a slow link", Ordered, ContinueOnFailure, Label("nat"), func() {
		// TCP_CHECK (buildHA): a check is only a connection, which a delay
		// on the real server's link holds back by the delay of its SYN-ACK.
		var l *haLab
		BeforeAll(func() { l = buildHA(topology.ModeNAT) })
		health := keepalived.LabHealth

		// delayLink delays everything the real server sends on its link;
		// the spec clears it after.
		delayLink := func(rs *topology.Node, d time.Duration) func() (time.Time, error) {
			return func() (time.Time, error) {
				err := rs.Impair(rs.Links[0].Segment, topology.Impairment{Delay: d})
				return time.Now(), err
			}
		}

		It("keeps a real server whose link is slow but within connect_timeout", func() {
			pair, d1, _ := l.elect(keepalived.Options{})
			rs := l.Server("rs2").Node
			delay := health.ConnectTimeout / 4
			at, err := delayLink(rs, delay)()
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(delayLink(rs, 0))
			// Four delay_loops: two retries' worth of checks, each answered
			// within its connect_timeout.
			time.Sleep(4 * health.DelayLoop)
			name := netip.AddrPortFrom(rs.Addr(false), 80).String()
			for _, e := range pair.Events() {
				Expect(e.At.After(at) && e.Kind == "RS" && e.Name == name).To(BeFalse(),
					"keepalived on %s reported %s %s under a %s delay, below connect_timeout (%s)", e.Director, rs.Name, e.State, delay, health.ConnectTimeout)
			}
			Expect(realWeight(d1, rs)).To(Equal(1))
		})

		It("removes a real server whose link is slower than connect_timeout as its timers say, and takes it back once the delay clears", func() {
			pair, d1, _ := l.elect(keepalived.Options{})
			rs := l.Server("rs3").Node
			delay := health.ConnectTimeout * 3 / 2
			// Every check now times out, as against a black hole: the first
			// starts up to delay_loop after the delay, times out after
			// connect_timeout, and each of the retry retries, delay_before_retry
			// later, times out too. With the lab's timers (1 s each, retry 1):
			// [3, 4] s, and half a second for the checks and the notice in a
			// TCG guest.
			least := health.ConnectTimeout*time.Duration(health.Retry+1) + health.DelayBeforeRetry*time.Duration(health.Retry)
			most := least + health.DelayLoop + 500*time.Millisecond
			took := judgedRemoval(pair, d1, rs, delayLink(rs, delay), delayLink(rs, 0), "")
			AddReportEntry("removed under a "+delay.String()+" delay (connect_timeout "+health.ConnectTimeout.String()+") after", took.Round(time.Millisecond).String())
			Expect(took).To(BeNumerically(">=", least))
			Expect(took).To(BeNumerically("<=", most))
			Expect(realWeight(d1, rs)).To(Equal(-1), "%s is still in the table", rs.Name)

			at, err := delayLink(rs, 0)()
			Expect(err).NotTo(HaveOccurred())
			// A check in flight when the delay clears may still time out;
			// then good checks a delay_loop apart add it back.
			rsEvent(pair, d1, rs, "UP", at, 10*time.Second)
			Expect(realWeight(d1, rs)).To(Equal(1))
		})
	})
})
