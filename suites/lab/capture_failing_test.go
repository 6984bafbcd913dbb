//go:build linux

package lab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/suites/guard"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// onPurposeEnv registers the specs that a capture spec runs in a child of
// this suite: one passes, one fails on purpose. Without it they do not
// exist, so no ordinary run ever sees them.
const onPurposeEnv = "LVSLAB_TEST_FAIL_ON_PURPOSE"

// onPurposeText is the container of those specs, which the child focuses.
const onPurposeText = "a spec of the capture check"

// getRS1 makes one HTTP request from the lab's client to rs1 (direct
// mode: no director needed) and returns rs1's address.
func getRS1(lab string) netip.AddrPort {
	GinkgoHelper()
	l := startLab(topology.Small(topology.WithName(name(lab))))
	target := netip.AddrPortFrom(l.RealServers()[0].Addr(false), 80)
	labtest.Get(l.Client(), netip.Addr{}, target)
	return target
}

var _ = func() bool {
	if os.Getenv(onPurposeEnv) == "" {
		return false
	}
	Describe(onPurposeText, Label("lab", "capture"), func() {
		It("passes, and leaves no capture", func() {
			getRS1("pass")
		})
		It("fails on purpose after a request to rs1", func() {
			target := getRS1("fail")
			Fail(fmt.Sprintf("on purpose, after GET http://%s/ from the client: its pcapng must show that flow", target))
		})
	})
	return true
}()

var _ = Describe("a failing spec's capture", Label("lab", "capture"), func() {
	It("is a pcapng beside the JUnit report, named there, holding the failing flow; a passing spec leaves none", func() {
		reports := GinkgoT().TempDir()
		junit := filepath.Join(reports, "lab-junit.xml")
		prefixEnv, childLabs := labtest.ChildEnv()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		DeferCleanup(cancel)
		// The suite's own test binary, again: only the two specs above.
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLab$", "-test.v",
			"-ginkgo.focus="+onPurposeText, "-ginkgo.no-color", "-ginkgo.junit-report="+junit)
		cmd.Env = append(os.Environ(), onPurposeEnv+"=1", labtest.ReportsEnv+"="+reports,
			labtest.CaptureEnv+"=on", prefixEnv)
		out, err := cmd.CombinedOutput()
		GinkgoWriter.Printf("--- the child suite:\n%s\n", out)
		Expect(err).To(BeAssignableToTypeOf(&exec.ExitError{}), "the child suite must run and fail")
		Expect(guard.Leftovers(childLabs)).To(BeEmpty(), "the child suite's labs left something behind")
		netns, err := filepath.Glob("/run/netns/*" + childLabs + "*")
		Expect(err).NotTo(HaveOccurred())
		Expect(netns).To(BeEmpty(), "namespaces of the child suite's labs")

		pass, fail := readCases(junit)
		Expect(pass.Status).To(Equal("passed"))
		Expect(pass.Properties.WithName("capture")).To(BeEmpty(), "a passing spec names a capture")
		Expect(fail.Status).To(Equal("failed"))
		// A report entry's value is in the JUnit file as JSON.
		var entry string
		Expect(json.Unmarshal([]byte(fail.Properties.WithName("capture")), &entry)).To(Succeed(), "no capture entry")
		AddReportEntry("the failing spec's capture entry", entry)
		path, _, _ := strings.Cut(entry, " ")
		Expect(filepath.Dir(path)).To(Equal(reports), "the capture is beside the JUnit report")
		Expect(fail.SystemErr).To(ContainSubstring("[[ATTACHMENT|"+path+"]]"), "the attachment line CI systems read")
		files, err := filepath.Glob(filepath.Join(reports, "*.pcapng"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(ConsistOf(path), "the failing spec's capture and no other")

		m := regexp.MustCompile(`GET http://(\S+)/`).FindStringSubmatch(fail.Failure.Message)
		Expect(m).To(HaveLen(2), "the failure names the request it made")
		target, err := netip.ParseAddrPort(m[1])
		Expect(err).NotTo(HaveOccurred())
		expectFlow(path, target)
	})
})

// readCases reads the child's JUnit report: its passing and its failing spec.
func readCases(path string) (pass, fail reporters.JUnitTestCase) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var suites reporters.JUnitTestSuites
	Expect(xml.Unmarshal(data, &suites)).To(Succeed())
	found := 0
	for _, s := range suites.TestSuites {
		for _, c := range s.TestCases {
			if c.Properties == nil {
				c.Properties = &reporters.JUnitProperties{}
			}
			switch {
			case strings.Contains(c.Name, "passes, and leaves no capture"):
				pass, found = c, found+1
			case strings.Contains(c.Name, "fails on purpose"):
				fail, found = c, found+1
			}
		}
	}
	Expect(found).To(Equal(2), "the report holds both specs of the child")
	Expect(fail.Failure).NotTo(BeNil())
	return pass, fail
}

// expectFlow reads a pcapng back and finds the failing spec's flow in it:
// the client's SYN to target, its GET on that connection and rs1's answer.
func expectFlow(path string, target netip.AddrPort) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
	Expect(err).NotTo(HaveOccurred(), "an unreadable pcapng")
	var synFrom netip.AddrPort
	var get, answer bool
	for {
		d, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(d, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		from, to := netip.AddrPortFrom(src, uint16(tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(tcp.DstPort))
		switch {
		case to == target && tcp.SYN && !tcp.ACK:
			synFrom = from
		case to == target && from == synFrom && bytes.HasPrefix(tcp.Payload, []byte("GET / HTTP/1.0")):
			get = true
		case from == target && to == synFrom && bytes.HasPrefix(tcp.Payload, []byte("HTTP/1.")):
			answer = true
		}
	}
	Expect(synFrom.IsValid()).To(BeTrue(), "no SYN to %s in %s", target, path)
	Expect(get).To(BeTrue(), "no GET from %s to %s in %s", synFrom, target, path)
	Expect(answer).To(BeTrue(), "no answer from %s to %s in %s", target, synFrom, path)
}
