//go:build linux

package lab_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/topology"
)

// fetch times one HTTP/1.0 request for size bytes from a node to addr.
func fetch(n *topology.Node, to netip.AddrPort, size int) time.Duration {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	c, err := n.Dial(ctx, "tcp", netip.Addr{}, to)
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	Expect(c.SetDeadline(time.Now().Add(10 * time.Second))).To(Succeed())
	_, err = fmt.Fprintf(c, "GET /?size=%d HTTP/1.0\r\nHost: %s\r\n\r\n", size, to)
	Expect(err).NotTo(HaveOccurred())
	got, err := io.Copy(io.Discard, c)
	Expect(err).NotTo(HaveOccurred())
	Expect(got).To(BeNumerically(">", size), "the whole body and its headers")
	return time.Since(start)
}

// The host's kernel may lack sch_netem; a rate alone is TBF, which the
// suites' kernels all have. netem's specs run in the IPVS suite's VM.
var _ = Describe("an impaired link", Label("lab", "impair"), func() {
	It("limits a real server's replies to its rate, reads it back, and is clean again when cleared", func() {
		lab := startLab(topology.Small(topology.WithName(name("rate"))))
		rs1 := lab.RealServers()[0]
		to := netip.AddrPortFrom(rs1.Addr(false), 80)
		const size = 250_000 // 2 Mbit: 2 s at 1 Mbit/s
		clean := fetch(lab.Client(), to, size)
		Expect(clean).To(BeNumerically("<", 500*time.Millisecond), "a clean veth moves 250 kB in far less than the limited time")

		Expect(rs1.Impair(topology.SegmentBack, topology.Impairment{Rate: 1_000_000})).To(Succeed())
		DeferCleanup(func() { Expect(rs1.Impair(topology.SegmentBack, topology.Impairment{})).To(Succeed()) })
		Expect(rs1.Impairment(topology.SegmentBack)).To(Equal(topology.Impairment{Rate: 1_000_000}))
		limited := fetch(lab.Client(), to, size)
		// TBF's bucket lets its burst through at once: a little under 2 s.
		Expect(limited).To(BeNumerically(">", 1800*time.Millisecond), "1 Mbit/s moves 2 Mbit in about 2 s")
		Expect(limited).To(BeNumerically("<", 4*time.Second))

		Expect(rs1.Impair(topology.SegmentBack, topology.Impairment{})).To(Succeed())
		Expect(rs1.Impairment(topology.SegmentBack)).To(BeZero())
		Expect(fetch(lab.Client(), to, size)).To(BeNumerically("<", 500*time.Millisecond))
	})

	It("refuses an out-of-range value with its range and leaves the link as it was", func() {
		lab := startLab(topology.Small(topology.WithName(name("bad"))))
		rs1 := lab.RealServers()[0]
		Expect(rs1.Impair(topology.SegmentBack, topology.Impairment{Rate: 2_000_000})).To(Succeed())
		err := rs1.Impair(topology.SegmentBack, topology.Impairment{Loss: 150})
		Expect(err).To(MatchError(ContainSubstring("loss 150%: use 0 to 100%")))
		Expect(rs1.Impairment(topology.SegmentBack)).To(Equal(topology.Impairment{Rate: 2_000_000}))
		Expect(rs1.Impair("front", topology.Impairment{Rate: 2_000_000})).To(MatchError(ContainSubstring("rs1:front: find link")))
	})
})
