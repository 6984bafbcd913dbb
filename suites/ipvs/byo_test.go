//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	rules "github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// An operator's own rules, as ipvsadm -S -n saves them, with every
// forwarding method, scheduler flags, persistence, both families, tunnel
// types and thresholds. Its addresses are not the lab's: IPVS takes any.
const byoRules = `# saved by ipvsadm-save -n
-C
-A -t 198.18.0.1:80 -s rr
-a -t 198.18.0.1:80 -r 198.19.0.1:8080 -m -w 1
-a -t 198.18.0.1:80 -r 198.19.0.2:8080 -m -w 3 -x 100 -y 10
-A -u 198.18.0.1:53 -s sh -b sh-fallback,sh-port -o
-a -u 198.18.0.1:53 -r 198.19.0.1 -g -w 1
-a -u 198.18.0.1:53 -r 198.19.0.2 -g -w 0
-A -t 198.18.0.2:443 -s mh -b mh-fallback,mh-port -p 120 -M 255.255.255.0
-a -t 198.18.0.2:443 -r 198.19.0.1 -i -w 2 --tun-type ipip
-a -t 198.18.0.2:443 -r 198.19.0.3 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t 198.18.0.2:443 -r 198.19.0.4 -i -w 1 --tun-type gre --tun-nocsum
-a -t 198.18.0.2:443 -r 2001:db8:b::5 -i -w 1
-A -f 5 -s wrr -p 30
-a -f 5 -r 198.19.0.1 -m -w 2
-A -f 6 -6 -s lc
-a -f 6 -6 -r [2001:db8:b::1]:0 -g -w 1
-A -t [2001:db8:a::1]:80 -s wlc -p 45 -M 64
-a -t [2001:db8:a::1]:80 -r [2001:db8:b::1]:8080 -m -w 4
-A -u 198.18.0.1:5060 -s rr -p 60 --pe sip
-a -u 198.18.0.1:5060 -r 198.19.0.1 -m -w 1
--set 900 120 300
`

var _ = Describe("a director loaded with an operator's ipvsadm rules", Ordered, Label("byo", "nat"), func() {
	var d *labtest.Lab
	BeforeAll(func() {
		d = labtest.Start(topology.ModeNAT)
	})
	parse := func(name, text string) *rules.Table {
		GinkgoHelper()
		t, err := rules.Parse(name, strings.NewReader(text))
		Expect(err).NotTo(HaveOccurred())
		return t
	}

	It("holds every rule as the file has it: methods, scheduler flags, persistence, families, tunnels, thresholds, timeouts", func() {
		want := parse("byo.rules", byoRules)
		Expect(rules.Restore(context.Background(), d.Dir, want, rules.RestoreOptions{})).To(Succeed())

		states, err := d.Dir.Services()
		Expect(err).NotTo(HaveOccurred())
		Expect(rules.DiffServices(want, states)).To(BeEmpty(), "the director's services (harness) against the file")

		// ipvsadm -S shows the persistence engine and tunnel types too, but
		// leaves the thresholds out: ipvsadm -L --thresholds has them.
		saved := parse("ipvsadm -S -n", ipvsadm(d.Director(), "-S", "-n"))
		Expect(rules.Diff(want, saved)).To(ConsistOf(
			"line 5: real server 198.19.0.2:8080 of TCP 198.18.0.1:80: upper threshold 100, got 0",
			"line 5: real server 198.19.0.2:8080 of TCP 198.18.0.1:80: lower threshold 10, got 0",
		), "ipvsadm -S -n against the file")
		Expect(ipvsadm(d.Director(), "-L", "-n", "--thresholds")).To(MatchRegexp(`-> 198\.19\.0\.2:8080 +100 +10 `))
		Expect(ipvsadm(d.Director(), "-L", "--timeout")).To(ContainSubstring("Timeout (tcp tcpfin udp): 900 120 300"))
	})

	It("holds SCTP services, which the harness does not read, as ipvsadm -S shows", func() {
		want := parse("sctp.rules", "-C\n-A --sctp-service 198.18.0.9:9 -s rr\n-a --sctp-service 198.18.0.9:9 -r 198.19.0.9:9 -m -w 2\n")
		Expect(rules.Restore(context.Background(), d.Dir, want, rules.RestoreOptions{})).To(Succeed())
		Expect(rules.Diff(want, parse("ipvsadm -S -n", ipvsadm(d.Director(), "-S", "-n")))).To(BeEmpty())
	})

	It("refuses a malformed line with its line number, and a rule the kernel refuses with its own, leaving the table as it was", func() {
		_, err := rules.Parse("bad.rules", strings.NewReader("-A -t 198.18.0.1:80 -s rr\n\n-a -t 198.18.0.1:80 -r 198.19.0.1 -w heavy\n"))
		var le *rules.LineError
		Expect(errors.As(err, &le)).To(BeTrue(), "%v", err)
		Expect(le.Line).To(Equal(3))
		Expect(err.Error()).To(HavePrefix("bad.rules:3: -w heavy: a weight is a number from 0 to 65535"))

		before, err := d.Dir.Services()
		Expect(err).NotTo(HaveOccurred())
		refused := parse("refused.rules", "-A -t 198.18.0.7:80 -s rr\n-a -t 198.18.0.7:80 -r 198.19.0.1 -m\n-A -t 198.18.0.8:80 -s nosuch\n")
		err = rules.Restore(context.Background(), d.Dir, refused, rules.RestoreOptions{})
		Expect(errors.As(err, &le)).To(BeTrue(), "%v", err)
		Expect(le.Line).To(Equal(3))
		Expect(errors.Is(err, syscall.ENOENT)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(HavePrefix("refused.rules:3: the kernel refused service TCP 198.18.0.8:80: this kernel has no scheduler nosuch"))
		after, err := d.Dir.Services()
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(HaveLen(len(before)), "the services restored before the refused rule must be gone")
		Expect(rules.DiffServices(rules.FromServices("before", before), after)).To(BeEmpty())
	})

	It("loads a large Kubernetes cluster's table, 5,000 services and 20,000 real servers, within 60 s, and ipvsadm -S reads it back equal", func() {
		want, err := rules.Synthetic(rules.KubernetesScale)
		Expect(err).NotTo(HaveOccurred())
		want.Flush = true
		start := time.Now()
		Expect(rules.Restore(context.Background(), d.Dir, want, rules.RestoreOptions{})).To(Succeed())
		took := time.Since(start)
		GinkgoWriter.Printf("restored %d rules in %s\n", 25000, took)
		Expect(took).To(BeNumerically("<", 60*time.Second), "the issue's bound for this table in the VM")
		Expect(rules.Diff(want, parse("ipvsadm -S -n", ipvsadm(d.Director(), "-S", "-n")))).To(BeEmpty())
	})
})
