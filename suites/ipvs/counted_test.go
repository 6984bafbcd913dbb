//go:build linux

package ipvs_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

var _ = Describe("a NAT director under counted load", Label("nat"), func() {
	It("is seen alike by the load generator, the real servers and IPVS", func() {
		lab := labtest.Start(topology.ModeNAT)
		before := lab.Counts()
		res := lab.Load(800)
		got := lab.Counts().Since(before)
		Expect(got.Requests).To(BeEquivalentTo(res.Successes))
		Expect(got.Accepts).To(BeEquivalentTo(800))
		Expect(got.IPVS.Connections).To(BeEquivalentTo(800))
		Expect(got.IPVS.PacketsOut).To(BeNumerically(">", 0), "NAT replies pass the director")
	})
})
