//go:build linux

package vm

import (
	"errors"
	"fmt"
	"os/exec"
)

// Where a command that needs what this host's kernel may lack (IPVS)
// runs, as its --where flag says: on this host, in a VM booted on a
// kernel of the list, or the host when it can and the VM otherwise.
const (
	WhereAuto = "auto"
	WhereHost = "host"
	WhereVM   = "vm"
)

// qemuBinary is the emulator Run boots a guest with.
const qemuBinary = "qemu-system-x86_64"

// ErrNoQEMU is Choose's error when the VM is needed and QEMU is missing.
var ErrNoQEMU = errors.New(qemuBinary + " is not installed: apt-get install qemu-system-x86 (make deps does it)")

// checkQEMU says whether QEMU is installed.
func checkQEMU() error {
	if _, err := exec.LookPath(qemuBinary); err != nil {
		return ErrNoQEMU
	}
	return nil
}

// Choose decides whether a command asked to run where (auto, host or vm)
// runs in the VM. host says whether this host can run it (nil: it can;
// e.g. harness.CheckIPVS). auto is this host when it can, else the VM;
// with neither, the error wraps host's and ErrNoQEMU. host is an error
// only when the host was asked for and cannot.
func Choose(where string, host func() error) (inVM bool, err error) {
	switch where {
	case WhereHost:
		return false, host()
	case WhereVM:
		return true, nil
	case WhereAuto:
		hostErr := host()
		if hostErr == nil {
			return false, nil
		}
		if err := checkQEMU(); err != nil {
			return false, fmt.Errorf("%w; and the VM that would run it instead cannot boot: %w", hostErr, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("--where %q: use auto, host or vm", where)
}
