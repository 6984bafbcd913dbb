//go:build linux

package ipvs_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/check"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
	"github.com/lvslab/lvslab/suites/internal/labtest"
)

// lvslab check on files an operator brings: the NAT pair fixture through
// the whole check, a file broken on purpose named by file and line, a
// script program keepalived would run under another name, the
// mutations of every fixture whose runs need no keepalived running, and
// each of Debian's sample configurations, remapped. The whole mutation
// table and the samples' full checks are lvslab check --mutations and
// --samples (docs/check.md).

// checkFixtures is fixtures/keepalived, found from this file: the suite
// runs from the module's root or from its own folder (and in the VM, at
// the same path).
var checkFixtures = func() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "fixtures", "keepalived")
}()

// sampleGroups are what a sample's spec runs: every group but those that
// time keepalived at length (the tables in docs/check.md run them all).
var sampleGroups = []string{check.GroupAcceptance, check.GroupAgreement, check.GroupTable, check.GroupReach}

func checkReport(r *check.Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

// timedRows are the results timed against keepalived's VRRP timers
// (election, failover, sync), passed or not, with the run's lateness: how near its bound each came, run
// after run, from the JSON reports.
func timedRows(r *check.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "timer lateness %s\n", r.Lateness.Duration().Round(time.Millisecond))
	for _, res := range r.Results {
		if res.Group == check.GroupElection || res.Group == check.GroupFailover || res.Group == check.GroupSync {
			fmt.Fprintf(&b, "%s %s: %s; bound %s\n", res.Status, res.ID, res.Measured, res.Bound)
		}
	}
	return b.String()
}

func natInputs(dir string) check.Inputs {
	return check.Inputs{Keepalived: []string{filepath.Join(dir, "lb1.conf"), filepath.Join(dir, "lb2.conf")},
		Capture: filepath.Join(dir, "capture"), Serve: filepath.Join(dir, "serve.yaml")}
}

var _ = Describe("lvslab check on an operator's own files", Label("byo"), func() {
	progress := check.Options{Progress: func(s string) { GinkgoWriter.Println(s) }}

	// Serial: the election is timed against keepalived's own timers.
	It("passes the NAT pair fixture's whole check, with its capture and serve files", Serial, func(ctx SpecContext) {
		r, err := check.RunInputs(ctx, natInputs(filepath.Join(checkFixtures, "nat")), labtest.Name(""), progress)
		Expect(err).NotTo(HaveOccurred())
		text := checkReport(r)
		AddReportEntry("keepalived's timers against their bounds", timedRows(r))
		Expect(r.Verdict()).To(Equal(check.Pass), text)
		for _, id := range []string{"acceptance/lb1", "acceptance/lb2", "agreement/instance/VI_front", "agreement/instance/VI_back",
			"agreement/sync-daemon", "agreement/services", "election/VI_front", "election/VI_back", "election/group/VG_lvs",
			"table/lb1", "table/lb2", "reach/tcp 203.0.113.10:80"} {
			_, ok := r.Result(id)
			Expect(ok).To(BeTrue(), "no result %s:\n%s", id, text)
		}
		for _, a := range r.Assumptions {
			Expect(a.Give).NotTo(Equal("--capture"), "the capture gives every interface, yet the lab assumed: %s", a.Fact)
			Expect(a.Give).NotTo(Equal("--serve"), "the serve file gives every answer, yet the lab assumed: %s", a.Fact)
		}
	}, SpecTimeout(10*time.Minute))

	It("names the file and line of a break on purpose, and blames no other file", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(os.CopyFS(dir, os.DirFS(filepath.Join(checkFixtures, "nat")))).To(Succeed())
		lb2 := filepath.Join(dir, "lb2.conf")
		data, err := os.ReadFile(lb2)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(string(data), "\n")
		Expect(strings.TrimSpace(lines[25])).To(Equal("priority 100"))
		lines[25] = "    priority 256"
		Expect(os.WriteFile(lb2, []byte(strings.Join(lines, "\n")), 0o644)).To(Succeed())

		opts := progress
		opts.Only = []string{check.GroupAcceptance}
		r, err := check.RunInputs(ctx, natInputs(dir), labtest.Name(""), opts)
		Expect(err).NotTo(HaveOccurred())
		text := checkReport(r)
		broken, ok := r.Result("acceptance/lb2")
		Expect(ok).To(BeTrue(), text)
		Expect(broken.Status).To(Equal(check.Fail), text)
		Expect(broken.Where).To(ContainElement(check.Pos{File: lb2, Line: 26}), text)
		Expect(broken.Reason).To(ContainSubstring("256"), text)
		other, _ := r.Result("acceptance/lb1")
		Expect(other.Status).To(Equal(check.Pass), text)
	}, SpecTimeout(5*time.Minute))

	It("fails a tracked script whose linked program keepalived runs under its target's name, by file and line", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(os.CopyFS(dir, os.DirFS(filepath.Join(checkFixtures, "unicast")))).To(Succeed())
		// Debian's layout of pidof, built here: a link to killall5 in another folder.
		bin, sbin := filepath.Join(dir, "bin"), filepath.Join(dir, "sbin")
		Expect(os.Mkdir(bin, 0o755)).To(Succeed())
		Expect(os.Mkdir(sbin, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(sbin, "killall5"), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
		Expect(os.Symlink("../sbin/killall5", filepath.Join(bin, "pidof"))).To(Succeed())
		lb1 := filepath.Join(dir, "lb1.conf")
		data, err := os.ReadFile(lb1)
		Expect(err).NotTo(HaveOccurred())
		const was = `script "/usr/bin/pgrep -x haproxy"`
		Expect(strings.Split(string(data), "\n")[10]).To(ContainSubstring(was))
		edited := strings.Replace(string(data), was, `script "`+filepath.Join(bin, "pidof")+` haproxy"`, 1)
		Expect(os.WriteFile(lb1, []byte(edited), 0o644)).To(Succeed())

		opts := progress
		opts.Only = []string{check.GroupAcceptance}
		r, err := check.RunInputs(ctx, check.Inputs{Keepalived: []string{lb1, filepath.Join(dir, "lb2.conf")}}, labtest.Name(""), opts)
		Expect(err).NotTo(HaveOccurred())
		text := checkReport(r)
		res, ok := r.Result("acceptance/program/vrrp_script-chk_haproxy/lb1")
		Expect(ok).To(BeTrue(), text)
		Expect(res.Where).To(ContainElement(check.Pos{File: lb1, Line: 11}), text)
		naming, known := conf.ScriptNamingOf(conf.VersionOf(r.Keepalived))
		Expect(known).To(BeTrue(), "keepalived's version line %q", r.Keepalived)
		AddReportEntry("keepalived's name for a linked script", r.Keepalived+": "+res.Measured)
		if naming == conf.KeepsNameIfSameFile || naming == conf.TakesTargetName {
			// 1.3.6 to 1.3.x, and 2.0.6 to 2.2.x: run as killall5.
			Expect(res.Status).To(Equal(check.Fail), text)
			Expect(res.Reason).To(ContainSubstring("killall5"), text)
		} else {
			// Other releases keep the written name.
			Expect(res.Status).To(Equal(check.Pass), text)
		}
		if other, ok := r.Result("acceptance/program/vrrp_script-chk_haproxy/lb2"); ok {
			Expect(other.Status).To(Equal(check.Pass), "lb2's pgrep -x is no name dispatcher:\n%s", text)
		}
	}, SpecTimeout(5*time.Minute))

	mutations, _ := filepath.Glob(filepath.Join(checkFixtures, "mutations", "*.yaml"))
	It("has a mutations file for each of the six fixtures", func() {
		Expect(mutations).To(HaveLen(6))
	})
	for _, path := range mutations {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		It("flips exactly the check each edit of "+name+" names, among acceptance and agreement", func(ctx SpecContext) {
			s, err := check.ReadMutations(path)
			Expect(err).NotTo(HaveOccurred())
			static := func(m check.Mutation) bool { return m.Static(s) }
			results := check.RunMutations(ctx, s, static, labtest.Name(""), progress)
			var table strings.Builder
			Expect(check.WriteMutationTable(&table, results)).To(Succeed())
			GinkgoWriter.Print(table.String())
			Expect(results).NotTo(BeEmpty())
			for _, r := range results {
				Expect(r.Err).NotTo(HaveOccurred(), r.Mutation.Name)
				Expect(r.Outcome()).To(Equal(check.Pass), "%s (%s) flipped %v, not exactly %s:\n%s",
					r.Mutation.Name, r.Mutation.Pos(), r.Flips, r.Mutation.Flips, table.String())
			}
		}, SpecTimeout(10*time.Minute))
	}

	samples, _ := filepath.Glob(filepath.Join(check.DebianSamples, check.SamplePattern))
	It("finds Debian's keepalived samples (ci/deps.sh installs keepalived)", func() {
		Expect(samples).NotTo(BeEmpty(), "no %s in %s", check.SamplePattern, check.DebianSamples)
	})
	for _, path := range samples {
		s := check.SampleRun{Path: path}
		It("checks the sample "+s.Name()+" remapped: no crash, every check checked or not checked with a reason", func(ctx SpecContext) {
			opts := progress
			opts.Only = sampleGroups
			s.Report, s.Err = check.RunInputs(ctx, check.Inputs{Keepalived: []string{path}, Remap: true}, labtest.Name(""), opts)
			Expect(s.Err).NotTo(HaveOccurred())
			text := checkReport(s.Report)
			Expect(s.Unexplained()).To(BeEmpty(), text)
			for _, g := range sampleGroups {
				Expect(slices.ContainsFunc(s.Report.Results, func(r check.Result) bool { return r.Group == g })).To(BeTrue(),
					"group %s said nothing:\n%s", g, text)
			}
			for _, p := range s.Report.Remap.Pairs() {
				Expect(documentation(p.To)).To(BeTrue(), "%s remapped onto %s, outside the documentation prefixes", p.From, p.To)
			}
		}, SpecTimeout(5*time.Minute))
	}
})

// documentation says whether a prefix is inside the prefixes the lab may
// send to: RFC 5737's, RFC 2544's benchmarking /15, RFC 3849's.
func documentation(p netip.Prefix) bool {
	for _, doc := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "2001:db8::/32"} {
		d := netip.MustParsePrefix(doc)
		if d.Bits() <= p.Bits() && d.Contains(p.Addr()) {
			return true
		}
	}
	return false
}
