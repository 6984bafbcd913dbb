//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/vm"
)

func init() {
	register(&command{
		name: "vm",
		summary: "Boot a stock kernel that has IPVS in QEMU and run one command inside it, with the host's files at the same paths;\n" +
			"the console streams live and the command's exit status becomes lvslab's.",
		usage: "vm [--kernel debian-6.1 | --kernel-image BZIMAGE --modules DIR] [--cpus 2] [--memory 2G] [--timeout 30m] [--icount shift=2,sleep=off] [--out DIR] [--matrix] [--fetch] -- COMMAND…",
		root:  true,
		run:   runVM,
	})
}

func runVM(ctx context.Context, fs *flag.FlagSet, args []string) error {
	list := fs.String("kernels", "", "kernel list `file` (default: the shipped "+fixtures.KernelsFile+")")
	kernel := fs.String("kernel", "", "kernel `name` from the list (default: the list's default)")
	image := fs.String("kernel-image", "", "boot this bzImage instead of a listed kernel (needs --modules)")
	modules := fs.String("modules", "", "modules `directory` (lib/modules/RELEASE, after depmod) for --kernel-image")
	cpus := fs.Int("cpus", 2, "guest CPUs")
	memory := fs.String("memory", "2G", "guest memory")
	timeout := fs.Duration("timeout", 30*time.Minute, "kill the guest after this long")
	accel := fs.String("accel", "auto", "auto (KVM if a guest boots under it, else TCG), kvm or tcg")
	icount := fs.String("icount", "", "QEMU -icount under TCG (e.g. shift=2,sleep=off): a clock driven by executed instructions, for steady timings")
	out := fs.String("out", "results", "host `folder` the guest can write (reports), at the same path")
	matrix := fs.Bool("matrix", false, "run the command on every kernel of the list, one summary line each")
	fetch := fs.Bool("fetch", false, "only fetch the kernel(s) into the cache (as lvslab kernels fetch)")
	if err := parse(find("vm"), fs, args, true); err != nil {
		return err
	}
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab vm: "+s) }
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return usageError{fmt.Errorf("--out %s: %w", *out, err)}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	opts := vm.Options{CPUs: *cpus, Memory: *memory, Timeout: *timeout, Accel: *accel, ICount: *icount,
		OutDir: outDir, Argv: fs.Args(), Dir: cwd, Env: vm.GuestEnv(term.IsTerminal(int(os.Stdout.Fd()))),
		Console: os.Stdout, Log: log}
	if self, err := os.Executable(); err == nil {
		opts.InitBinary = self
	}
	choice := vm.KernelChoice{List: *list, Name: *kernel, All: *matrix, Image: *image, Modules: *modules}
	if err := vm.CheckRun(&opts, choice, *fetch); err != nil {
		return usageError{err}
	}
	kernels, err := choice.Fetch(ctx, log)
	if err != nil {
		return err
	}
	if *fetch {
		for _, k := range kernels {
			fmt.Printf("%s\t%s\t%s\n", k.Name, k.Release, k.Image)
		}
		return nil
	}
	m, err := vm.RunMatrix(ctx, opts, kernels, *matrix)
	if err != nil {
		return err
	}
	if *matrix {
		fmt.Println("\nkernel matrix:")
		for _, s := range m.Lines {
			fmt.Println("  " + s)
		}
	}
	if m.Worst != 0 {
		return exitError{code: m.Worst}
	}
	return nil
}
