//go:build linux

package check

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lvslab/lvslab/harness"
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

// Placement is where lvslab check runs (--where, --kernel), for how long
// and where its files go (--out).
type Placement struct {
	Where, Kernel, Out string
	Timeout            time.Duration
}

// Register declares the placement's flags on fs, with out and timeout
// as their defaults.
func (p *Placement) Register(fs *flag.FlagSet, out string, timeout time.Duration, timeoutUsage string) {
	fs.StringVar(&p.Out, "out", out, "`folder` for report.json, report.txt and junit.xml")
	fs.StringVar(&p.Where, "where", vm.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	fs.StringVar(&p.Kernel, "kernel", "", "kernel `name` of the list the VM boots (default: the list's default)")
	fs.DurationVar(&p.Timeout, "timeout", timeout, timeoutUsage)
}

// Place decides between this host and the VM, makes Out absolute and
// bounds ctx by the timeout; its errors are mistakes on the command line.
func (p *Placement) Place(ctx context.Context) (_ context.Context, cancel context.CancelFunc, inVM bool, err error) {
	if inVM, err = vm.Choose(p.Where, harness.CheckIPVS); err != nil {
		return nil, nil, false, err
	}
	if p.Out, err = filepath.Abs(p.Out); err != nil {
		return nil, nil, false, err
	}
	ctx, cancel = context.WithTimeout(ctx, p.Timeout)
	return ctx, cancel, inVM, nil
}

// RunInVM runs lvslab check with args in the VM, copies out its JUnit
// report when junit names a file and returns the guest's exit status.
func (p *Placement) RunInVM(ctx context.Context, args []string, junit string, console io.Writer, log func(string)) (int, error) {
	code, err := RunInVM(ctx, VMRun{Kernel: p.Kernel, Args: GuestArgs(args), Out: p.Out, Timeout: p.Timeout, Console: console, Log: log})
	if err != nil {
		return 0, err
	}
	return code, CopyJUnit(p.Out, junit)
}
