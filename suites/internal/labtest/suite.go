//go:build linux

package labtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/suites/guard"
	"github.com/lvslab/lvslab/suites/kernelreport"
)

// KnownLabels are every label the suites use: a label filter naming any other
// word is a typo, and fails the run instead of running nothing.
var KnownLabels = []string{
	"lab", "cli", "load", "isolation", "switch",
	"nat", "dr", "tun", "scheduler", "persistence", "churn", "udp", "ipv6", "fwmark",
	"perf", "gotcha", "ha", "byo", "kernel", "capture", "impair",
}

var (
	prefix string
	// base and code are the parts of prefix before the process number.
	base, code string
	host       guard.Host
	serial     atomic.Int64
)

// Run runs a Ginkgo suite of lvslab specs from its Test function: it
// needs root, refuses a label filter with an unknown label, names this
// process's labs apart (suiteCode is a letter of the suite's own, so that two
// suites run at once by go test never share a name; $LVSLAB_TEST_PREFIX,
// "t" by default, starts every name), sweeps what an
// earlier run of this process left, and checks after every spec outside
// an Ordered container (and after every lab Start builds) that nothing is
// left and the root namespace is unchanged.
func Run(t *testing.T, suiteCode, description string) {
	guard.RequireRoot(t)
	if err := CheckLabelFilter(GinkgoLabelFilter()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		t.FailNow()
	}
	code = suiteCode
	base = os.Getenv(prefixEnv)
	if base == "" {
		base = "t"
	}
	if !prefixRE.MatchString(base) {
		fmt.Fprintf(os.Stderr, prefixEnv+"=%q: use 1-4 lower-case letters and digits, starting with a letter\n", base)
		t.FailNow()
	}
	var err error
	if captureOff, err = parseCapture(os.Getenv(CaptureEnv)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		t.FailNow()
	}
	prefix = fmt.Sprintf("%s%s%d", base, code, GinkgoParallelProcess())
	BeforeSuite(func() {
		AddReportEntry(kernelreport.KernelEntry, kernelUnderTest())
		var err error
		host, err = guard.Prepare(prefix)
		Expect(err).NotTo(HaveOccurred())
	})
	// An Ordered container's labs outlive its specs: Start checks after
	// them instead, from the BeforeAll that builds them.
	BeforeEach(func() {
		if !CurrentSpecReport().IsInOrderedContainer {
			ExpectClean()
		}
	})
	RegisterFailHandler(Fail)
	suite, reporter := GinkgoConfiguration()
	// Under the ginkgo command's parallel processes, the command writes
	// the reports.
	if dir := os.Getenv(ReportsEnv); dir != "" && reporter.JUnitReport == "" && suite.ParallelTotal <= 1 {
		reporter.JUnitReport = filepath.Join(dir, reportName())
	}
	RunSpecs(t, description, reporter)
}

// ReportsEnv names a folder for the suites' JUnit reports, one file per
// suite (ipvs-junit.xml, lab-junit.xml): "go test ./..." passes no flag to
// one package alone.
const ReportsEnv = "LVSLAB_REPORTS"

// reportName is this suite's JUnit file in $LVSLAB_REPORTS, named after
// its test binary.
func reportName() string {
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test") + "-junit.xml"
}

// prefixEnv starts every lab name of a suite run.
const prefixEnv = "LVSLAB_TEST_PREFIX"

// ChildEnv is the $LVSLAB_TEST_PREFIX of this suite run again in a child
// process by one of its specs, and labs what every lab name of that child
// (one Ginkgo process) starts with: apart from this process's labs and from
// every other process of this run, since each sweeps its own prefix when
// it starts. ("c" and this process's number after the run's own base.)
func ChildEnv() (env, labs string) {
	env = base[:min(len(base), 2)] + "c" + fmt.Sprint(GinkgoParallelProcess()%10)
	return prefixEnv + "=" + env, env + code + "1"
}

// Prefix is what every lab name of this process starts with.
func Prefix() string { return prefix }

// Name is a lab name of this process's own: the prefix and what, plus a
// serial number when what is empty.
func Name(what string) string {
	if what == "" {
		what = fmt.Sprintf("l%d", serial.Add(1))
	}
	return prefix + what
}

// ExpectClean checks, once the current spec (or Ordered container, from
// BeforeAll) has released everything registered for cleanup after this
// call, that this process left nothing behind and that the root namespace
// is unchanged. Run registers it for every spec; call it again to check a
// point within one.
func ExpectClean() {
	DeferCleanup(func() {
		Eventually(host.Check).Should(Succeed(), "a spec left something behind or changed the root namespace")
	})
}

// prefixRE is what LVSLAB_TEST_PREFIX may be: two checkouts testing on
// one host at once give each its own, so that neither sweeps the other's labs.
var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,3}$`)

var labelWord = regexp.MustCompile(`[A-Za-z0-9_.-]+`)

// filterWords are the label filter's own keywords (label sets, Ginkgo 2.10).
var filterWords = []string{"containsany", "containsall", "consistsof", "issubsetof", "isempty"}

// CheckLabelFilter refuses a filter that names a label no spec has (a typo
// in LABELS= must never run zero specs and pass).
func CheckLabelFilter(filter string) error {
	// Regular expressions (/.../) match labels by pattern: leave them be.
	plain := regexp.MustCompile(`/[^/]*/`).ReplaceAllString(filter, " ")
	var unknown []string
	for _, w := range labelWord.FindAllString(plain, -1) {
		lw := strings.ToLower(w)
		if !slices.Contains(KnownLabels, lw) && !slices.Contains(filterWords, lw) && !slices.Contains(unknown, w) {
			unknown = append(unknown, w)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("label filter %q names %s, which no spec has: use %s", filter,
			strings.Join(unknown, ", "), strings.Join(KnownLabels, ", "))
	}
	return nil
}

// ExpectGone checks, once the cleanups registered after this call have run,
// that one lab left nothing behind and the root namespace is unchanged.
// Call it before building the lab.
func ExpectGone(lab string) {
	DeferCleanup(func() {
		Eventually(func() error { return host.CheckLab(lab) }).Should(Succeed(), "lab %s left something behind or changed the root namespace", lab)
	})
}

// Leftovers lists what this process's labs left behind (guard.Leftovers).
func Leftovers() []string { return guard.Leftovers(prefix) }
