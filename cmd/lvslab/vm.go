//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"golang.org/x/term"

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
	var f vm.RunFlags
	f.Register(fs)
	if err := parse(find("vm"), fs, args, true); err != nil {
		return err
	}
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab vm: "+s) }
	opts, err := f.Options(vm.Options{Argv: fs.Args(), Env: vm.GuestEnv(term.IsTerminal(int(os.Stdout.Fd()))), Console: os.Stdout, Log: log})
	if err != nil {
		return usageError{err}
	}
	if opts.Dir, err = os.Getwd(); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	if self, err := os.Executable(); err == nil {
		opts.InitBinary = self
	}
	choice := f.Choice()
	if err := vm.CheckRun(&opts, choice, f.FetchOnly); err != nil {
		return usageError{err}
	}
	kernels, err := choice.Fetch(ctx, log)
	if err != nil {
		return err
	}
	if f.FetchOnly {
		for _, k := range kernels {
			fmt.Printf("%s\t%s\t%s\n", k.Name, k.Release, k.Image)
		}
		return nil
	}
	m, err := vm.RunMatrix(ctx, opts, kernels, f.Matrix)
	if err != nil {
		return err
	}
	if f.Matrix {
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
