//go:build linux

package ipvs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
	"github.com/lvslab/lvslab/suites/internal/labtest"
)

// The reader of keepalived configurations (harness/keepalived/conf) is
// held to keepalived itself: for each configuration, the real keepalived
// runs in a throwaway namespace that has the interfaces the file names,
// writes its own view of the configuration (SIGUSR1: keepalived.data and
// keepalived_check.data), and the facts of that view must equal the
// facts the reader extracted. The checker process needs IPVS, hence this
// suite.

// samplesDir holds the examples Debian's keepalived package ships; they
// are read where they are, never copied into the project.
const samplesDir = "/usr/share/doc/keepalived/samples"

// fixturesDir holds the project's own keepalived configurations: found
// from this file, since the suite may run from the module's root or from
// its own folder (and in the VM, at the same path).
var fixturesDir = func() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "fixtures", "keepalived")
}()

// sampleDiffs are the differences between keepalived and the reader on
// Debian's samples, each with keepalived's reason: a sample not listed
// must agree fact for fact.
var sampleDiffs = map[string]map[string]string{
	"keepalived.conf.misc_check":     missingMiscScript,
	"keepalived.conf.misc_check_arg": missingMiscScript,
}

// missingMiscScript: the samples' MISC_CHECK runs /usr/local/bin/script.sh,
// which no machine here has; keepalived drops a checker whose script it
// cannot find ("Disabling misc script … since not found/accessible"),
// the reader cannot know what the operator's machine has.
var missingMiscScript = map[string]string{
	"+ vs [10.10.10.2]:tcp:1358 rs [192.168.200.6]:tcp:1358 check 1 delay_loop = 6s":   "script absent",
	"+ vs [10.10.10.2]:tcp:1358 rs [192.168.200.6]:tcp:1358 check 1 kind = MISC_CHECK": "script absent",
	"+ vs [10.10.10.2]:tcp:1358 rs [192.168.200.6]:tcp:1358 check 1 retry = 0":         "script absent",
	"+ vs [10.10.10.2]:tcp:1358 rs [192.168.200.6]:tcp:1358 check 1 warmup = 6s":       "script absent",
}

var _ = Describe("keepalived's own view of a configuration", Label("byo"), func() {
	DescribeTable("equals what the reader extracted from a fixture",
		func(file, id string) {
			compareWithKeepalived(filepath.Join(fixturesDir, file), id, nil)
		},
		Entry("NAT pair with a sync group and the sync daemon, lb1", "nat/lb1.conf", "lb1"),
		Entry("NAT pair with a sync group and the sync daemon, lb2", "nat/lb2.conf", "lb2"),
		Entry("DR with a firewall-mark group", "dr-fwmark.conf", "dr1"),
		Entry("TUN", "tun.conf", "tun1"),
		Entry("IPv6 DR", "ipv6-dr.conf", "v6"),
		Entry("one file for both directors, as lb1", "both.conf", "lb1"),
		Entry("one file for both directors, as lb2", "both.conf", "lb2"),
		Entry("unicast pair with a vrrp_script, lb1", "unicast/lb1.conf", "lb1"),
		Entry("unicast pair with a vrrp_script, lb2", "unicast/lb2.conf", "lb2"),
	)

	samples, _ := filepath.Glob(filepath.Join(samplesDir, "keepalived.conf.*"))
	if len(samples) == 0 {
		It("finds Debian's keepalived samples", func() {
			Fail("no keepalived samples in " + samplesDir + ": install Debian's keepalived package (ci/deps.sh does)")
		})
	}
	for _, s := range samples {
		It("equals what the reader extracted from Debian's sample "+filepath.Base(s)+", but for the differences listed", func() {
			compareWithKeepalived(s, "lb1", sampleDiffs[filepath.Base(s)])
		})
	}
})

// compareWithKeepalived reads path as config id id with the reader, runs
// keepalived on it, and expects the two views to differ exactly by
// expected (difference → keepalived's reason).
func compareWithKeepalived(path, id string, expected map[string]string) {
	GinkgoHelper()
	abs, err := filepath.Abs(path)
	Expect(err).NotTo(HaveOccurred())
	f, err := conf.Read(abs, conf.Options{ConfigID: id})
	Expect(err).NotTo(HaveOccurred())
	conf.Defaults(f, "2.2.7")
	mine := f.Facts()

	ns := "lvs-" + labtest.Name("kd") + "-k"
	makeNamespace(ns, f)
	vrrpData, checkData, log := runKeepalived(ns, abs, id)
	theirs, err := conf.ParseDump(vrrpData, checkData)
	Expect(err).NotTo(HaveOccurred(), "keepalived's dump:\n%s\n%s", vrrpData, checkData)
	Expect(theirs).NotTo(BeEmpty(), "keepalived dumped nothing; its log:\n%s", log)

	diff := theirs.Diff(mine)
	var unexpected []string
	for _, d := range diff {
		if _, ok := expected[d]; !ok {
			unexpected = append(unexpected, d)
		}
	}
	var missing []string
	for d := range expected {
		if !slices.Contains(diff, d) {
			missing = append(missing, d)
		}
	}
	Expect(unexpected).To(BeEmpty(), "%s: keepalived (-) and the reader (+) differ; keepalived's log:\n%s", path, log)
	Expect(missing).To(BeEmpty(), "%s: differences listed that are gone", path)
}

// makeNamespace makes a namespace with a veth pair for every interface
// the file names, each with an address in its VIPs' subnet (or its
// unicast source address), and deletes it after the spec.
func makeNamespace(ns string, f *conf.File) {
	GinkgoHelper()
	ip := func(args ...string) {
		GinkgoHelper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "ip %s: %s", strings.Join(args, " "), out)
	}
	ip("netns", "add", ns)
	DeferCleanup(func() { ip("netns", "delete", ns) })
	addrs := map[string][]string{}
	var names []string
	add := func(name, addr string) {
		if name == "" || len(name) > 15 {
			return
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		if addr != "" && !slices.Contains(addrs[name], addr) {
			addrs[name] = append(addrs[name], addr)
		}
	}
	for _, v := range f.Instances {
		addr := ""
		if v.UnicastSrcIP.Set {
			addr = v.UnicastSrcIP.Value.String() + "/24"
			if v.UnicastSrcIP.Value.Is6() {
				addr = v.UnicastSrcIP.Value.String() + "/64"
			}
		} else if len(v.VIPs) > 0 && v.VIPs[0].Prefix.Addr().Is4() {
			// An address of the VIP's subnet, not the VIP: the director's own.
			p := v.VIPs[0].Prefix
			if p.Bits() < 31 {
				a := p.Masked().Addr().Next().Next()
				if a == p.Addr() {
					a = a.Next()
				}
				addr = fmt.Sprintf("%s/%d", a, p.Bits())
			}
		}
		add(v.Interface.Value, addr)
		for _, t := range v.TrackInterfaces {
			add(t.Name, "")
		}
		for _, a := range v.VIPs {
			add(a.Dev, "")
		}
	}
	if sd := f.Global.SyncDaemon; sd != nil {
		add(sd.Interface, "")
	}
	// Routes, rules and static addresses name interfaces too ("dev X"),
	// and keepalived refuses to start without them.
	var walk func([]*conf.Node)
	walk = func(nodes []*conf.Node) {
		for _, n := range nodes {
			words := append([]string{n.Keyword}, n.Args...)
			for i := 0; n.Kind == conf.Entry && i+1 < len(words); i++ {
				if words[i] == "dev" || words[i] == "oif" || words[i] == "iif" {
					add(words[i+1], "")
				}
			}
			walk(n.Children)
		}
	}
	walk(f.Tree.VRRP)
	ip("-n", ns, "link", "set", "lo", "up")
	for i, name := range names {
		peer := "kd" + strconv.Itoa(i)
		ip("-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer)
		for _, a := range addrs[name] {
			ip("-n", ns, "addr", "add", a, "dev", name)
		}
		ip("-n", ns, "link", "set", peer, "up")
		ip("-n", ns, "link", "set", name, "up")
	}
}

// runKeepalived runs keepalived in the namespace until it has dumped its
// configuration, and returns the VRRP and checker processes' dumps (empty
// for a process it did not start) and its log.
func runKeepalived(ns, path, id string) (vrrpData, checkData, log string) {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	var out lockedBuffer
	cmd := exec.Command("ip", "netns", "exec", ns, "keepalived", "-n", "-l", "-G", "-R",
		"-f", path, "-i", id,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "check.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	Expect(cmd.Start()).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := make(chan struct{})
	go func() { <-done; close(exited) }()
	DeferCleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	logText := func() string { return out.String() }
	Eventually(func() error {
		select {
		case <-exited:
			return StopTrying("keepalived stopped")
		default:
		}
		if !strings.Contains(logText(), "Startup complete") {
			return errors.New("keepalived has not started yet")
		}
		return nil
	}).WithTimeout(30*time.Second).Should(Succeed(), "keepalived did not start; its log:\n%s", logText)
	started := logText()
	wantVRRP := strings.Contains(started, "Starting VRRP child process")
	wantCheck := strings.Contains(started, "Starting Healthcheck child process")
	pid := readPid(filepath.Join(dir, "keepalived.pid"))
	Expect(syscall.Kill(pid, syscall.SIGUSR1)).To(Succeed())
	read := func(name string, want bool) string {
		GinkgoHelper()
		if !want {
			return ""
		}
		file := filepath.Join(dir, name)
		var last string
		Eventually(func() error {
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			if len(data) == 0 || string(data) != last {
				last = string(data)
				return errors.New("still being written")
			}
			return nil
		}).WithTimeout(20*time.Second).WithPolling(300*time.Millisecond).Should(Succeed(), "keepalived wrote no %s; its log:\n%s", name, logText())
		return last
	}
	vrrpData = read("keepalived.data", wantVRRP)
	checkData = read("keepalived_check.data", wantCheck)
	return vrrpData, checkData, logText()
}

// lockedBuffer is keepalived's output, written by exec while a spec reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func readPid(path string) int {
	GinkgoHelper()
	var pid int
	Eventually(func() error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err
	}).Should(Succeed())
	return pid
}
