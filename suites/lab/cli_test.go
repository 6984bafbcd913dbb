//go:build linux

package lab_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/suites/internal/labtest"
)

var _ = Describe("the lvslab command", Ordered, Label("lab", "cli"), func() {
	var bin string
	BeforeAll(func() {
		bin = labtest.Binary()
	})

	start := func(args ...string) *gexec.Session {
		GinkgoHelper()
		s, err := gexec.Start(exec.Command(bin, args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		return s
	}
	run := func(args ...string) *gexec.Session {
		GinkgoHelper()
		s := start(args...)
		Eventually(s).WithTimeout(60 * time.Second).Should(gexec.Exit())
		return s
	}
	down := func(name string) {
		// Best effort: the spec may already have removed it.
		run("down", "--name", name)
	}

	It("brings a lab up, serves it after returning, loads it, shows it and tears it down", func() {
		s := run("up", "--name", name("cli"))
		DeferCleanup(down, name("cli"))
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("ip netns exec lvs-" + name("cli") + "-client"))

		s = run("load", "--name", name("cli"), "--target", "direct", "--clients", "8", "--requests", "400", "--duration", "30s", "--json")
		Expect(s).To(gexec.Exit(0))
		var res loadgen.Result
		Expect(json.Unmarshal(s.Out.Contents(), &res)).To(Succeed())
		Expect(res.Successes).To(BeEquivalentTo(400))
		Expect(res.Servers).To(HaveLen(8))

		s = run("status", "--name", name("cli"), "--json")
		Expect(s).To(gexec.Exit(0))
		var st []struct {
			Supervisor bool                                 `json:"supervisor_running"`
			Servers    map[string]struct{ Requests uint64 } `json:"servers"`
		}
		Expect(json.Unmarshal(s.Out.Contents(), &st)).To(Succeed())
		Expect(st[0].Supervisor).To(BeTrue())
		var total uint64
		for _, c := range st[0].Servers {
			total += c.Requests
		}
		Expect(total).To(BeEquivalentTo(400))

		Expect(run("down", "--name", name("cli"))).To(gexec.Exit(0))
		Expect(labtest.Leftovers()).To(BeEmpty())
	})

	It("stops a load at Ctrl-C with the result so far", func() {
		Expect(run("up", "--name", name("int"), "--topology", "small")).To(gexec.Exit(0))
		DeferCleanup(down, name("int"))
		s := start("load", "--name", name("int"), "--duration", "60s")
		time.Sleep(700 * time.Millisecond)
		s.Signal(syscall.SIGINT)
		Eventually(s).WithTimeout(5 * time.Second).Should(gexec.Exit(130))
		Expect(s.Out).To(gbytes.Say("interrupted"))
	})

	It("cleans up after a SIGKILLed up and a SIGKILLed supervisor with down", func() {
		for _, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, time.Second} {
			s := start("up", "--name", name("kill"), "--topology", "small")
			time.Sleep(delay)
			s.Kill()
			Eventually(s).Should(gexec.Exit())
			// Whatever it got to, down finds it: a supervisor started but not
			// yet adopted by up included.
			run("down", "--name", name("kill")) // not --all: a user's labs stay up
			Eventually(labtest.Leftovers).Should(BeEmpty(), "after SIGKILL at %s", delay)
		}
	})

	DescribeTable("rejects bad input with one clear line, a non-zero exit and nothing created",
		func(args []string, file, want string) {
			if file != "" {
				args = append(args, "-f", writeFile(file))
			}
			s := run(args...)
			Expect(s.ExitCode()).NotTo(BeZero())
			Expect(strings.Count(strings.TrimSpace(string(s.Err.Contents())), "\n")).To(BeZero(), "more than one line: %s", s.Err.Contents())
			Expect(string(s.Err.Contents())).To(ContainSubstring(want))
			Expect(labtest.Leftovers()).To(BeEmpty())
		},
		Entry("malformed topology file", []string{"up"}, "name: [oops", "malformed YAML"),
		Entry("topology with an error", []string{"up"}, strings.ReplaceAll(paperYAML(), "rs3, role: real-server", "rs3, role: realserver"), `role "realserver" is unknown`),
		Entry("missing file", []string{"up", "-f", "/nonexistent/lab.yaml"}, "", "no such file"),
		Entry("unknown flag", []string{"up", "--bogus"}, "", "flag provided but not defined: -bogus"),
		Entry("unknown command", []string{"upp"}, "", `unknown command "upp"`),
		Entry("lab that is not up", []string{"load", "--name", "nosuchlab", "--target", "rs3"}, "", `no lab named "nosuchlab"`),
		Entry("bad duration", []string{"load", "--duration", "0s"}, "", "--duration 0s"),
		Entry("unknown bench mode", []string{"bench", "--modes", "direct,lb"}, "", `mode "lb" is unknown`),
		Entry("bench with no trial", []string{"bench", "--modes", "direct", "--trials", "0", "--light-trials", "0"}, "", "trials 0 and light-load trials 0"),
		Entry("gate without a baseline", []string{"gate", "results.json"}, "", "--baseline is required"),
		Entry("a scheduler that adds a line to keepalived's configuration", []string{"up", "--topology", "paper-ha", "--mode", "nat", "--scheduler", "rr\n    notify_up /tmp/x"}, "",
			`--scheduler: scheduler "rr\n    notify_up /tmp/x" is not one of the kernel's IPVS schedulers`),
		Entry("more load generator loops than CPUs", []string{"load", "--procs", "100000", "--name", "nosuchlab"}, "", "--procs 100000: use 0 (every CPU) to"),
		Entry("a segment named after the loopback", []string{"up"}, strings.ReplaceAll(paperYAML(), "back", "lo"), "and lo is the kernel's own there"),
		Entry("a segment named after a tunnel's fallback device", []string{"up"}, strings.ReplaceAll(paperYAML(), "back", "tunl0"), "and tunl0 is the kernel's own there"),
		Entry("a CPU this host lacks", []string{"up"}, strings.Replace(paperYAML(), "    role: client\n", "    role: client\n    cpus: \"1000\"\n", 1), "cpu 1000 is not online on this machine"),
		Entry("a path for a lab name", []string{"down", "--name", "../../tmp/x"}, "", "use 1-20 lower-case letters"),
		Entry("a path for a lab to load", []string{"load", "--name", "../x"}, "", "use 1-20 lower-case letters"),
		Entry("a bench name that makes bad lab names", []string{"bench", "--name", "bbA"}, "", `--name "bbA": lab name "bbAdirect": use 1-20`),
		Entry("a VIP that is not global unicast", []string{"up"}, strings.ReplaceAll(paperYAML(), "ipv4: 203.0.113.10", "ipv4: 127.0.0.1"), "vip 127.0.0.1 is a loopback address"),
		Entry("5,000 real servers", []string{"up"}, manyServersYAML(5000), "a lab has at most 200 nodes"),
		Entry("a capture filter tcpdump has but lvslab lacks", []string{"capture", "--filter", "tcp or udp", "director"}, "", `terms are joined by "and"`),
		Entry("a capture of nothing", []string{"capture", "-w", "/tmp/x.pcapng"}, "", "name the links to capture"),
		Entry("a loss beyond 100 %", []string{"impair", "director", "--loss", "150%"}, "", "--loss 150%: use 0 to 100%"),
		Entry("a rate tc cannot read", []string{"impair", "director", "--rate", "fast"}, "", `rate "fast": write bits per second`),
		Entry("clear and an impairment at once", []string{"impair", "director", "--clear", "--delay", "1ms"}, "", "--clear with an impairment"),
	)

	It("captures until Ctrl-C into a complete pcapng, and impairs, shows and clears a link", Label("capture", "impair"), func() {
		Expect(run("up", "--name", name("cap"), "--topology", "small")).To(gexec.Exit(0))
		DeferCleanup(down, name("cap"))
		file := filepath.Join(GinkgoT().TempDir(), "cap.pcapng")
		c := start("capture", "--name", name("cap"), "rs1", "client:front", "-w", file)
		Eventually(c.Err).Should(gbytes.Say("capturing on 2 link"))
		Expect(run("load", "--name", name("cap"), "--target", "rs1", "--requests", "5", "--clients", "1", "--duration", "10s")).To(gexec.Exit(0))
		c.Signal(syscall.SIGINT)
		Eventually(c).WithTimeout(5 * time.Second).Should(gexec.Exit(0))
		Expect(c.Err).To(gbytes.Say(`(\d+) packets written, 0 dropped`))
		data, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		Expect(err).NotTo(HaveOccurred())
		packets := 0
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				Expect(err).To(MatchError(io.EOF), "the file ends cleanly after its last packet")
				break
			}
			packets++
		}
		Expect(packets).To(BeNumerically(">=", 2*5*5), "5 connections of at least 5 packets, seen on both links")
		Expect(r.NInterfaces()).To(Equal(2))

		Expect(run("impair", "--name", name("cap"), "rs1", "--rate", "5mbit")).To(gexec.Exit(0))
		s := run("status", "--name", name("cap"))
		Expect(s.Out).To(gbytes.Say(`rs1:back\s+rate 5Mbit`))
		Expect(run("impair", "--name", name("cap"), "rs1", "--clear")).To(gexec.Exit(0))
		s = run("impair", "--name", name("cap"), "rs1")
		Expect(s.Out).To(gbytes.Say(`rs1:back\s+clean`))
		s = run("capture", "--name", name("cap"), "rs1:front", "-w", file+"2")
		Expect(s).To(gexec.Exit(2))
		Expect(s.Err).To(gbytes.Say(`node rs1 has no link "front" \(its links: back\)`))
		Expect(file + "2").NotTo(BeAnExistingFile())
	})

	It("benchmarks direct against routed, writes every file, gates it against itself (inconclusive: a copy) and leaves nothing behind", func() {
		out := GinkgoT().TempDir()
		s := run("bench", "--name", name("b"), "--modes", "direct,routed", "--clients", "2,8", "--trials", "2",
			"--duration", "300ms", "--warmup", "100ms", "--latency", "200ms", "--out", out)
		Expect(s).To(gexec.Exit(0), string(s.Err.Contents()))
		Expect(s.Out).To(gbytes.Say(`routed\s+8\s+\d+\s+\d+\.\d+`))
		for _, f := range []string{"results.json", "results.txt", "figure7.svg", "figure7.png", "summary.md"} {
			Expect(filepath.Join(out, f)).To(BeAnExistingFile())
		}
		Expect(labtest.Leftovers()).To(BeEmpty())
		results := filepath.Join(out, "results.json")
		// A result judged against itself is a copy, not a measurement: never a pass.
		s = run("gate", "--baseline", results, results)
		Expect(s).To(gexec.Exit(4))
		Expect(s.Out).To(gbytes.Say(`routed/clients=2 .* INCONCLUSIVE`))
		Expect(s.Out).To(gbytes.Say(`2 of this run's 2 ratios repeat the baseline's to the last bit`))
		Expect(s.Out).To(gbytes.Say("gate: INCONCLUSIVE"))
	})

	It("refuses a lab name already in use and leaves the running lab alone", func() {
		Expect(run("up", "--name", name("dup"), "--topology", "small")).To(gexec.Exit(0))
		DeferCleanup(down, name("dup"))
		s := run("up", "--name", name("dup"), "--topology", "small")
		Expect(s).To(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("already exists"))
		Expect(run("load", "--name", name("dup"), "--requests", "10", "--duration", "10s")).To(gexec.Exit(0))
	})

	It("tells a non-root user that root is needed, and creates nothing", func() {
		cmd := exec.Command(bin, "up", "--name", name("user"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).Should(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("needs root"))
		Expect(labtest.Leftovers()).To(BeEmpty())
	})
})

func writeFile(content string) string {
	f, err := os.CreateTemp("", "lvslab-topology-*.yaml")
	if err != nil {
		Fail(err.Error())
	}
	defer f.Close()
	f.WriteString(content)
	DeferCleanup(os.Remove, f.Name())
	return f.Name()
}

func manyServersYAML(n int) string {
	var b strings.Builder
	b.WriteString("name: many\nvip: {ipv4: 203.0.113.10, port: 80}\nsegments: [{name: back, ipv4: 192.0.2.0/24}]\nnodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: rs%d, role: real-server, links: [{segment: back}]}\n", i)
	}
	return b.String()
}

func paperYAML() string {
	data, err := fixtures.Topology("paper")
	Expect(err).NotTo(HaveOccurred())
	return strings.ReplaceAll(string(data), "name: paper", "name: "+name("bad"))
}
