// Package lab_test is the suite of the lab itself: building, wiring,
// direct load and cleanup. It needs root and no IPVS.
package lab_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/suites/guard"
)

func TestLab(t *testing.T) {
	guard.RequireRoot(t)
	RegisterFailHandler(Fail)
	RunSpecs(t, "lvslab lab suite")
}

// Every lab a spec builds is named with this prefix, so the suite sweeps
// its own leftovers without touching a user's labs.
const prefix = "spec"

var host guard.Host

var _ = BeforeSuite(func() {
	var err error
	host, err = guard.Prepare(prefix)
	Expect(err).NotTo(HaveOccurred())
})

var _ = BeforeEach(func() {
	if !CurrentSpecReport().IsInOrderedContainer {
		expectCleanAfter()
	}
})

// expectCleanAfter checks, once the current spec (or Ordered container,
// when called from BeforeAll) has released everything it registered for
// cleanup, that nothing is left and the root namespace is unchanged.
// Call it before anything else is registered: cleanups run last-in,
// first-out.
func expectCleanAfter() {
	DeferCleanup(func() {
		Eventually(host.Check).Should(Succeed(), "a spec left something behind or changed the root namespace")
	})
}
