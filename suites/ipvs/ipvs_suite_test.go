// Package ipvs_test is the suite of a real kernel IPVS director. It needs
// root and a kernel with ip_vs: "make test" runs it on the host when the
// host has one and inside "lvslab vm" otherwise.
package ipvs_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

func TestIPVS(t *testing.T) {
	if err := harness.CheckIPVS(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error()+": make test runs this suite inside lvslab vm")
		t.FailNow()
	}
	labtest.Run(t, "i", "lvslab IPVS suite")
}

// balanced are the modes with an IPVS director.
var balanced = []topology.Mode{topology.ModeNAT, topology.ModeDR, topology.ModeTUN}

func modeName(m topology.Mode) string { return strings.ToUpper(string(m)) }
