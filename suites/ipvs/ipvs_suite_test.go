//go:build linux

// Package ipvs_test is the suite of a real kernel IPVS director. It needs
// root and a kernel with ip_vs: it runs on the host when the host has one,
// and otherwise its TestMain runs this same test binary inside lvslab vm,
// so "sudo go test ./..." works on any host.
package ipvs_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, true)) }

func TestIPVS(t *testing.T) {
	// A dry run (how TestMain counts the specs a filter selects before
	// booting a VM) needs no IPVS.
	if suite, _ := GinkgoConfiguration(); !suite.DryRun {
		if err := harness.CheckIPVS(); err != nil {
			fmt.Fprintln(os.Stderr, err.Error()+": run it as root, and it runs itself inside lvslab vm")
			t.FailNow()
		}
	}
	labtest.Run(t, "i", "lvslab IPVS suite")
}

// balanced are the modes with an IPVS director.
var balanced = []topology.Mode{topology.ModeNAT, topology.ModeDR, topology.ModeTUN}

func modeName(m topology.Mode) string { return strings.ToUpper(string(m)) }
