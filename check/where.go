//go:build linux

package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/vm"
)

// Where a check runs: on this host's kernel when it has ip_vs, else in
// lvslab's VM on a kernel of the list.
const (
	WhereAuto = "auto"
	WhereHost = "host"
	WhereVM   = "vm"
)

// whereEnv tells a check that runs inside the VM which kernel of the
// list it runs on, for its report.
const whereEnv = "LVSLAB_CHECK_KERNEL"

// Place decides where a check runs when asked for where.
func Place(where string) (string, error) {
	switch where {
	case WhereHost:
		return WhereHost, harness.CheckIPVS()
	case WhereVM:
		return WhereVM, nil
	case WhereAuto:
		if harness.CheckIPVS() == nil {
			return WhereHost, nil
		}
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			return "", errors.New("this kernel has no ip_vs and QEMU is not installed: install qemu-system-x86 (make deps does), or run on a kernel with ip_vs")
		}
		return WhereVM, nil
	}
	return "", fmt.Errorf("--where %q: use auto, host or vm", where)
}

// VMRun is a check run inside lvslab's VM.
type VMRun struct {
	// Kernel names a kernel of the list ("" for its default).
	Kernel string
	// Args are lvslab check's own arguments; the guest runs them with
	// --where host.
	Args []string
	// Out is the host folder the guest writes its report into (the VM
	// shares it).
	Out     string
	Timeout time.Duration
	Console io.Writer
	Log     func(string)
}

// RunInVM boots the kernel and runs the check inside; it returns the
// guest's exit status.
func RunInVM(ctx context.Context, r VMRun) (int, error) {
	k, err := vm.FetchListed(ctx, "", r.Kernel, r.Log)
	if err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return 0, fmt.Errorf("create %s: %w", r.Out, err)
	}
	argv := append([]string{self, "check"}, r.Args...)
	argv = append(argv, "--where", WhereHost)
	env := append(vm.GuestEnv(false), whereEnv+"="+k.Name)
	res, err := vm.Run(ctx, vm.Options{Kernel: k, CPUs: 2, Memory: "2G", Timeout: r.Timeout, Accel: "auto",
		OutDir: r.Out, Argv: argv, Dir: cwd, Env: env, Console: r.Console, Log: r.Log, InitBinary: self})
	if err != nil {
		return 0, err
	}
	return res.ExitCode, nil
}
