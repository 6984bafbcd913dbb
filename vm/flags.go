//go:build linux

package vm

import (
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/lvslab/lvslab/fixtures"
)

// RunFlags are lvslab vm's flags: Register declares them; Options and
// Choice are the run and the kernels they say.
type RunFlags struct {
	// Matrix runs the command on every kernel of the list; FetchOnly only
	// fetches the kernels.
	Matrix, FetchOnly bool

	list, kernel, image, modules, memory, accel, icount, out string
	cpus                                                     int
	timeout                                                  time.Duration
}

// Register declares the flags on fs.
func (f *RunFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.list, "kernels", "", "kernel list `file` (default: the shipped "+fixtures.KernelsFile+")")
	fs.StringVar(&f.kernel, "kernel", "", "kernel `name` from the list (default: the list's default)")
	fs.StringVar(&f.image, "kernel-image", "", "boot this bzImage instead of a listed kernel (needs --modules)")
	fs.StringVar(&f.modules, "modules", "", "modules `directory` (lib/modules/RELEASE, after depmod) for --kernel-image")
	fs.IntVar(&f.cpus, "cpus", 2, "guest CPUs")
	fs.StringVar(&f.memory, "memory", "2G", "guest memory")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "kill the guest after this long")
	fs.StringVar(&f.accel, "accel", "auto", "auto (KVM if a guest boots under it, else TCG), kvm or tcg")
	fs.StringVar(&f.icount, "icount", "", "QEMU -icount under TCG (e.g. shift=2,sleep=off): a clock driven by executed instructions, for steady timings")
	fs.StringVar(&f.out, "out", "results", "host `folder` the guest can write (reports), at the same path")
	fs.BoolVar(&f.Matrix, "matrix", false, "run the command on every kernel of the list, one summary line each")
	fs.BoolVar(&f.FetchOnly, "fetch", false, "only fetch the kernel(s) into the cache (as lvslab kernels fetch)")
}

// Options returns o with the guest the flags say and --out made absolute;
// its error is --out's.
func (f *RunFlags) Options(o Options) (Options, error) {
	out, err := filepath.Abs(f.out)
	if err != nil {
		return o, fmt.Errorf("--out %s: %w", f.out, err)
	}
	o.CPUs, o.Memory, o.Timeout, o.Accel, o.ICount, o.OutDir = f.cpus, f.memory, f.timeout, f.accel, f.icount, out
	return o, nil
}

// Choice is the kernels the flags pick.
func (f *RunFlags) Choice() KernelChoice {
	return KernelChoice{List: f.list, Name: f.kernel, All: f.Matrix, Image: f.image, Modules: f.modules}
}
