// Package ipvs_test is the suite of a real kernel IPVS director. It needs
// root and a kernel with ip_vs: "make test" runs it on the host when the
// host has one and inside "lvslab vm" otherwise.
package ipvs_test

import (
	"fmt"
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/suites/guard"
)

func TestIPVS(t *testing.T) {
	guard.RequireRoot(t)
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		fmt.Fprintln(os.Stderr, "this kernel has no IPVS (/proc/net/ip_vs is missing): run make test, which runs this suite inside lvslab vm")
		t.FailNow()
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "lvslab IPVS suite")
}

const prefix = "spec"

var host guard.Host

var _ = BeforeSuite(func() {
	var err error
	host, err = guard.Prepare(prefix)
	Expect(err).NotTo(HaveOccurred())
})

// expectCleanAfter checks, once everything registered after it has been
// cleaned up, that nothing is left and the root namespace is unchanged.
func expectCleanAfter() {
	DeferCleanup(func() {
		Eventually(host.Check).Should(Succeed(), "a spec left something behind or changed the root namespace")
	})
}
