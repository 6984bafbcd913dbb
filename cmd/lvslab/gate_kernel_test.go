//go:build linux

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/bench"
)

func TestGateRefusesAnotherKernelUnlessAllowed(t *testing.T) {
	base, cur := &bench.Result{}, &bench.Result{}
	base.Env.Kernel, cur.Env.Kernel = "6.1.0-56-amd64", "6.1.0-57-amd64"
	var ee exitError
	if err := checkKernel(base, cur, false); !errors.As(err, &ee) || ee.code != exitInconclusive || !strings.Contains(ee.msg, "--allow-kernel-change") {
		t.Errorf("another kernel: %v (want exit %d naming --allow-kernel-change)", err, exitInconclusive)
	}
	if err := checkKernel(base, cur, true); err != nil {
		t.Errorf("--allow-kernel-change: %v", err)
	}
}
