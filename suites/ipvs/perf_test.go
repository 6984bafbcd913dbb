package ipvs_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// The gate's own proof. make test runs these specs in a VM whose clock is
// driven by executed instructions (lvslab vm --icount), where a trial's
// ratio to direct varies by about 2 %; on a host with ip_vs they run in
// real time.
var _ = Describe("the release gate", Ordered, Label("perf", "nat", "dr"), func() {
	sweep := harness.BenchConfig{
		Name:     prefix + "perf",
		Modes:    []topology.Mode{topology.ModeDirect, topology.ModeNAT, topology.ModeDR},
		Clients:  []int{16},
		Trials:   6,
		Duration: time.Second,
		Warmup:   300 * time.Millisecond,
		Server:   harness.DefaultServerConfig,
	}
	gate := harness.GateOptions{Margin: 0.10, Alpha: 0.05}
	var baseline *harness.BenchResult

	bench := func(ctx SpecContext, cfg harness.BenchConfig) *harness.BenchResult {
		GinkgoHelper()
		expectCleanAfter()
		r, err := harness.Bench(ctx, cfg)
		Expect(err).NotTo(HaveOccurred())
		for _, p := range r.Points {
			Expect(p.Errors).To(BeZero(), "%s at %d clients had failed requests", p.Mode, p.Clients)
		}
		return r
	}
	table := func(g *harness.GateReport) string {
		var b strings.Builder
		g.WriteTable(&b)
		return b.String()
	}

	BeforeAll(func(ctx SpecContext) {
		baseline = bench(ctx, sweep)
	}, NodeTimeout(3*time.Minute))

	It("passes the same build measured twice", func(ctx SpecContext) {
		g, err := harness.Gate(baseline, bench(ctx, sweep), gate)
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("gate, same build", table(g))
		Expect(g.Regressions).To(BeZero(), table(g))
		Expect(g.Rows).To(HaveLen(2))
	}, NodeTimeout(3*time.Minute))

	It("fails a director slowed down by a long firewall", func(ctx SpecContext) {
		slow := sweep
		// 300 rules cost NAT about a third of its rate here; DR, whose
		// director sees only half the packets, a little less.
		slow.DirectorRules = 300
		g, err := harness.Gate(baseline, bench(ctx, slow), gate)
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("gate, slowed director", table(g))
		Expect(g.Regressions).To(Equal(2), table(g))
		for _, r := range g.Rows {
			Expect(r.Change).To(BeNumerically("<", -gate.Margin), table(g))
		}
	}, NodeTimeout(3*time.Minute))

	It("leaves nothing behind when cancelled mid-sweep", func(ctx SpecContext) {
		expectCleanAfter()
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := harness.Bench(short, sweep)
		Expect(err).To(MatchError(ContainSubstring("interrupted")))
	}, NodeTimeout(time.Minute))
})
