//go:build linux

package ipvs_test

import (
	"fmt"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// What IPVS offers changes with the kernel: each entry states the release
// a control appeared in and the commit or patch that added it, checks that
// this kernel has it exactly when its version says so, and records what it
// showed for the behaviour-by-kernel table (lvslab summary --kernels). A kernel without one is "not on this
// kernel", never a skipped spec.
var _ = Describe("IPVS controls by kernel version", Ordered, Label("kernel", "nat"), func() {
	var d *labtest.Lab
	BeforeAll(func() {
		d = labtest.Start(topology.ModeNAT)
	})

	DescribeTable("has a sysctl exactly from the release that added it",
		func(sysctl string, major, minor int, change string) {
			value, err := d.Director().Sysctl("net.ipv4.vs." + sysctl)
			since := fmt.Sprintf("%d.%d", major, minor)
			if labtest.KernelAtLeast(major, minor) {
				labtest.Behaviour("sysctl "+sysctl+" (from "+since+")", "%s", strings.TrimSpace(value))
				Expect(err).NotTo(HaveOccurred(), "%s is in every kernel from %s (%s)", sysctl, since, change)
			} else {
				labtest.Behaviour("sysctl "+sysctl+" (from "+since+")", "not on this kernel")
				Expect(err).To(HaveOccurred(), "%s came with %s (%s): this older kernel has it", sysctl, since, change)
			}
		},
		Entry(nil, "run_estimation", 5, 15, "ipvs: add sysctl_run_estimation to support disable estimation"),
		Entry(nil, "est_cpulist", 6, 2, "the estimator in kthreads: ipvs: add est_cpulist and est_nice sysctl vars"),
		Entry(nil, "est_nice", 6, 2, "ipvs: add est_cpulist and est_nice sysctl vars"),
		Entry(nil, "conn_lfactor", 7, 1, "resizable tables: ipvs: add conn_lfactor and svc_lfactor sysctl vars, 8d7de5477e47"),
		Entry(nil, "svc_lfactor", 7, 1, "ipvs: add conn_lfactor and svc_lfactor sysctl vars, 8d7de5477e47"),
		Entry(nil, "conn_max", 7, 2, "ipvs: add conn_max sysctl to limit connections"),
	)

	// Up to 7.0 /proc/net/ip_vs gives the size of the one connection table
	// all namespaces share (2^conn_tab_bits, 4096 by default); from 7.1
	// (ipvs: show the current conn_tab size to users, 22e620fe8455) the
	// size of this namespace's own table, which grows and shrinks with its
	// connections (conn_lfactor): 0 where no service exists, its smallest
	// size (256 on 7.2) in a director that has served little.
	It("reports the connection table's size as its version does", func() {
		header, err := harness.IPVSHeader(d.Director())
		Expect(err).NotTo(HaveOccurred())
		_, size, _ := strings.Cut(header, "(size=")
		size = strings.TrimSuffix(size, ")")
		labtest.Behaviour("connection table size /proc/net/ip_vs shows in a director that has served little", "%s", size)
		n, err := strconv.Atoi(size)
		Expect(err).NotTo(HaveOccurred(), "header %q", header)
		if labtest.KernelAtLeast(7, 1) {
			Expect(n).To(BeNumerically("<", 4096), "from 7.1 the size is this namespace's table, sized to its few connections")
			Expect(n&(n-1)).To(BeZero(), "a hash table of %d buckets: a power of two", n)
		} else {
			Expect(n).To(Equal(4096), "up to 7.0 the size is the shared table's, 2^12 by default")
		}
	})
})
