//go:build linux

package labtest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"

	. "github.com/onsi/ginkgo/v2"

	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/suites/kernelreport"
	"github.com/lvslab/lvslab/vm"
)

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

// KernelAtLeast reports whether the running kernel is major.minor or
// newer: a spec whose behaviour changed in a kernel release states both
// behaviours and checks the one this kernel should show.
func KernelAtLeast(major, minor int) bool {
	m := versionRE.FindStringSubmatch(proc.KernelRelease())
	if m == nil {
		Fail(fmt.Sprintf("kernel release %q has no version", proc.KernelRelease()))
	}
	x, _ := strconv.Atoi(m[1])
	y, _ := strconv.Atoi(m[2])
	return x > major || (x == major && y >= minor)
}

// Behaviour records what this kernel did, for the table of IPVS behaviour
// by kernel (made by lvslab summary --kernels): name is
// the row (the same on every kernel), the value what was seen or measured.
// Record before asserting, so that a kernel that fails shows what it did.
func Behaviour(name, format string, args ...any) {
	AddReportEntry(kernelreport.BehaviourPrefix+name, fmt.Sprintf(format, args...))
}

// Measured records a value measured on this kernel (a time, a rate) for
// the same table: shown beside the behaviours, never compared.
func Measured(name, format string, args ...any) {
	AddReportEntry(kernelreport.MeasurePrefix+name, fmt.Sprintf(format, args...))
}

// kernelUnderTest names the kernel the suite runs on: the list's name in
// the VM (the kernel TestMain booted), "host" on the host.
func kernelUnderTest() string {
	name := "host"
	if os.Getenv(inVMEnv) != "" {
		name = os.Getenv(KernelEnv)
		if name == "" {
			if l, err := vm.LoadKernels(""); err == nil {
				name = l.Default
			}
		}
	}
	return name + " " + proc.KernelRelease()
}
