//go:build linux

package ipvs_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// The machine model (topology.Isolate): a station's packets are processed
// on its own CPUs. IPVS counts what it handles per CPU
// (/proc/net/ip_vs_stats_percpu, per network namespace): inside the
// director's namespace every packet must be counted on the director's CPUs.
// make test runs this in a VM of its own with a vCPU per station.
var _ = Describe("a lab whose stations have CPUs of their own", Label("perf", "isolation", "nat"), func() {
	It("processes every packet of the director's virtual service on the director's CPUs", func() {
		if runtime.NumCPU() < topology.MinIsolateCPUs {
			Fail(fmt.Sprintf("this machine has %d CPUs: the machine model needs %d (client, director, the rest); run it in lvslab vm --cpus 3",
				runtime.NumCPU(), topology.MinIsolateCPUs))
		}
		online, err := topology.OnlineCPUs()
		Expect(err).NotTo(HaveOccurred())
		lab := labtest.Start(topology.ModeNAT, func(s *topology.Spec) { Expect(topology.Isolate(s, online)).To(Succeed()) })
		notes, err := lab.PinStations()
		Expect(err).NotTo(HaveOccurred())
		director := lab.Director()
		// Bitmaps compared without their padding (the kernel pads to its CPU count).
		bits := func(mask string) string { return strings.TrimLeft(strings.ReplaceAll(mask, ",", ""), "0") }
		for _, dev := range []string{"front", "back"} {
			got, err := director.RPS(dev)
			Expect(err).NotTo(HaveOccurred())
			Expect(bits(got)).To(Equal(bits(director.CPUs.Mask())), "RPS of the director's %s", dev)
		}
		// From 6.2 IPVS's estimator runs in kthreads, placed by est_cpulist;
		// before, from a timer on whichever CPU: nothing to place.
		const estimator = "IPVS estimator kthreads on the director's CPUs (est_cpulist, from 6.2)"
		if labtest.KernelAtLeast(6, 2) {
			v, err := director.Sysctl("net.ipv4.vs.est_cpulist")
			labtest.Behaviour(estimator, "cpus %s (the director's: %s)", strings.TrimSpace(v), director.CPUs)
			Expect(err).NotTo(HaveOccurred())
			Expect(v).To(Equal(director.CPUs.String()), "IPVS's estimator kthreads are not on the director's CPUs")
		} else {
			labtest.Behaviour(estimator, "not on this kernel: the estimator runs from a timer")
			Expect(notes).To(ContainElement(ContainSubstring("no net.ipv4.vs.est_cpulist")), "a kernel before 6.2 has no est_cpulist to set: the lab says so")
		}

		before := ipvsPerCPU(director)
		res := lab.Load(600)
		after := ipvsPerCPU(director)
		var inside, outside uint64
		var report []string
		for cpu, n := range after {
			n -= before[cpu]
			report = append(report, fmt.Sprintf("cpu %d: %d", cpu, n))
			if slices.Contains(director.CPUs, cpu) {
				inside += n
			} else {
				outside += n
			}
		}
		AddReportEntry("IPVS packets per CPU", fmt.Sprintf("director on cpus %s; %s", director.CPUs, strings.Join(report, ", ")))
		Expect(inside).To(BeNumerically(">=", 2*res.Successes), "the director's CPUs handled too few packets")
		Expect(outside).To(BeZero(), "IPVS handled %d packets on CPUs outside the director's (%s)", outside, director.CPUs)
	})
})

// ipvsPerCPU reads the packets (in and out) IPVS handled on each CPU, in
// the node's namespace.
func ipvsPerCPU(n *topology.Node) map[int]uint64 {
	GinkgoHelper()
	var data []byte
	Expect(n.Do(func() (err error) {
		data, err = os.ReadFile("/proc/thread-self/net/ip_vs_stats_percpu")
		return err
	})).To(Succeed())
	out := map[int]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// "  1      377     12DA     112F   …": CPU, conns, in packets, out packets (hex).
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "~" {
			break // the totals; the rates that follow are not per CPU
		}
		if len(f) < 4 {
			continue
		}
		cpu, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		in, err1 := strconv.ParseUint(f[2], 16, 64)
		outp, err2 := strconv.ParseUint(f[3], 16, 64)
		Expect(err1).NotTo(HaveOccurred())
		Expect(err2).NotTo(HaveOccurred())
		out[cpu] = in + outp
	}
	Expect(out).NotTo(BeEmpty(), "no per-CPU lines in ip_vs_stats_percpu:\n%s", data)
	return out
}
