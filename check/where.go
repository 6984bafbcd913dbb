//go:build linux

package check

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lvslab/lvslab/vm"
)

// whereEnv tells a check that runs inside the VM which kernel of the
// list it runs on, for its report.
const whereEnv = "LVSLAB_CHECK_KERNEL"

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
	argv = append(argv, "--where", vm.WhereHost)
	env := append(vm.GuestEnv(false), whereEnv+"="+k.Name)
	res, err := vm.Run(ctx, vm.Options{Kernel: k, CPUs: 2, Memory: "2G", Timeout: r.Timeout, Accel: "auto",
		OutDir: r.Out, Argv: argv, Dir: cwd, Env: env, Console: r.Console, Log: r.Log, InitBinary: self})
	if err != nil {
		return 0, err
	}
	return res.ExitCode, nil
}
