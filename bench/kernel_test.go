//go:build linux

package bench

import (
	"strings"
	"testing"
)

func TestSameKernelRefusesAnotherBuild(t *testing.T) {
	build := func(release, version, sha string) *Result {
		r := &Result{}
		r.Env.Kernel, r.Env.KernelVersion, r.Env.KernelSHA256 = release, version, sha
		if sha != "" {
			r.Env.KernelPackage = "linux-image-" + release
		}
		return r
	}
	a := build("6.1.0-56-amd64", "6.1.192-2", strings.Repeat("a", 64))
	if err := SameKernel(a, build("6.1.0-56-amd64", "6.1.192-2", strings.Repeat("a", 64))); err != nil {
		t.Errorf("the same build was refused: %v", err)
	}
	rebuilt := build("6.1.0-56-amd64", "6.1.192-3", strings.Repeat("b", 64))
	err := SameKernel(a, rebuilt)
	if err == nil || !strings.Contains(err.Error(), "6.1.192-2") || !strings.Contains(err.Error(), "6.1.192-3") ||
		!strings.Contains(err.Error(), "--allow-kernel-change") {
		t.Errorf("another build of the same release must be refused, naming both and the flag: %v", err)
	}
	old := build("6.1.0-56-amd64", "", "")
	if err := SameKernel(old, a); err == nil || !strings.Contains(err.Error(), "re-measure the baseline") {
		t.Errorf("a baseline without a build record: %v", err)
	}
	if err := SameKernel(build("6.8.0-1", "", ""), build("6.8.0-1", "", "")); err != nil {
		t.Errorf("two host runs on one release: %v", err)
	}
}
