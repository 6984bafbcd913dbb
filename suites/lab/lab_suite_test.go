//go:build linux

// Package lab_test is the suite of the lab itself: building, wiring,
// direct load and cleanup. It needs root and no IPVS.
package lab_test

import (
	"os"
	"testing"

	"github.com/lvslab/lvslab/suites/internal/labtest"
)

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, false)) }

func TestLab(t *testing.T) {
	labtest.Run(t, "l", "lvslab lab suite")
}

// name is a lab name of this process's own (see labtest.Name).
func name(what string) string { return labtest.Name(what) }
