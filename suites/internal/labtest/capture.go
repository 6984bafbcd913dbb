//go:build linux

package labtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness/capture"
	"github.com/lvslab/lvslab/topology"
)

// CaptureEnv switches the capture of failing specs: "on" (the default)
// or "off", which spares each spec its capture sockets and the ring, for
// a run that measures the suite's own time or has no use for the files.
// Like every LVSLAB_ variable it reaches the suite in the VM too.
const CaptureEnv = "LVSLAB_CAPTURE"

// captureOff is CaptureEnv as Run read it.
var captureOff bool

// parseCapture reads CaptureEnv's value: whether capture is off.
func parseCapture(v string) (off bool, err error) {
	switch v {
	case "", "on":
		return false, nil
	case "off":
		return true, nil
	}
	return false, fmt.Errorf("$%s=%q: use on (the default: a failing spec leaves a pcapng of its lab's links) or off", CaptureEnv, v)
}

// CaptureOnFailure captures every link of the lab's directors and real
// servers into a bounded ring while the spec (or Ordered container) runs.
// If it fails, the ring is written as pcapng next to the JUnit report and
// named in the report twice: an entry, and an attachment line in the
// spec's output, which CI systems that read JUnit attachments pick up. A
// passing spec leaves nothing.
//
// With $LVSLAB_CAPTURE=off it does nothing.
func CaptureOnFailure(lab *topology.Lab) {
	GinkgoHelper()
	if captureOff {
		return
	}
	var targets []capture.Target
	for _, n := range append(lab.Directors(), lab.RealServers()...) {
		for _, l := range n.Links {
			targets = append(targets, capture.Target{Node: n, Link: l.Segment})
		}
	}
	if len(targets) == 0 {
		return
	}
	ring, err := capture.NewRing(capture.DefaultRingPackets, capture.DefaultRingBytes)
	Expect(err).NotTo(HaveOccurred())
	s, err := capture.Start(targets, capture.Options{}, ring)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		_, err := s.Stop()
		Expect(err).NotTo(HaveOccurred())
		report := CurrentSpecReport()
		if !report.Failed() {
			return
		}
		path := filepath.Join(capturesDir(), lab.Spec.Name+"-"+fileWord(report.FullText())+".pcapng")
		Expect(writeRing(path, ring, capture.Interfaces(targets, capture.Options{}))).To(Succeed())
		held, dropped := ring.Len()
		AddReportEntry("capture", fmt.Sprintf("%s (%d packets of the directors' and real servers' links, %d older ones dropped by the ring)", path, held, dropped))
		// The attachment convention of Jenkins' and GitLab's JUnit readers.
		GinkgoWriter.Printf("[[ATTACHMENT|%s]]\n", path)
	})
}

func writeRing(path string, ring *capture.Ring, links []capture.Interface) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := ring.WriteTo(f, links); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// capturesDir is beside the JUnit report: $LVSLAB_REPORTS, else the
// folder of -ginkgo.junit-report, else the system's temporary folder.
func capturesDir() string {
	if dir := os.Getenv(ReportsEnv); dir != "" {
		return dir
	}
	if _, reporter := GinkgoConfiguration(); reporter.JUnitReport != "" {
		return filepath.Dir(reporter.JUnitReport)
	}
	return filepath.Join(os.TempDir(), "lvslab-captures")
}

var notFileWord = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// fileWord makes a spec's text a file name's part: no separators, at
// most 80 bytes.
func fileWord(s string) string {
	s = notFileWord.ReplaceAllString(s, "-")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
