//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/vm"
)

func init() {
	register(&command{
		name: "kernels",
		summary: "The kernels lvslab vm boots: list them (pinned build, cached and verified?), fetch one or --all,\n" +
			"or update: re-pin each to what its metapackage resolves to today (a maintainer's step).",
		usage: "kernels [list] | kernels fetch [--force] NAME…|--all | kernels update [--write] [NAME…]   (each takes --kernels FILE)",
		run:   runKernels,
	})
}

func runKernels(ctx context.Context, fs *flag.FlagSet, args []string) error {
	sub := "list"
	if len(args) > 0 && (args[0] == "list" || args[0] == "fetch" || args[0] == "update") {
		sub, args = args[0], args[1:]
	}
	listFile := fs.String("kernels", "", "kernel list `file` (default: the shipped "+fixtures.KernelsFile+"; update: ./"+fixtures.KernelsFile+")")
	all := fs.Bool("all", false, "fetch: every kernel of the list")
	force := fs.Bool("force", false, "fetch: fetch again even if cached (replaces a cache entry that changed)")
	names := fs.Bool("names", false, "list: only the names, one a line (for scripts)")
	write := fs.Bool("write", false, "update: rewrite the list file with the new pins (default: only show them)")
	if err := parse(find("kernels"), fs, args, sub != "list"); err != nil {
		return err
	}
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab kernels: "+s) }
	if sub == "update" && *listFile == "" {
		*listFile = fixtures.KernelsFile
		if _, err := os.Stat(*listFile); err != nil {
			return usageError{fmt.Errorf("update rewrites a list file: run it at the top of your lvslab checkout, or give --kernels FILE")}
		}
	}
	l, err := vm.LoadKernels(*listFile)
	if err != nil {
		return err
	}
	switch sub {
	case "fetch":
		wanted := fs.Args()
		if *all == (len(wanted) > 0) {
			return usageError{errors.New("fetch takes kernel names or --all, not both and not neither")}
		}
		specs := l.Kernels
		if !*all {
			specs = nil
			for _, n := range wanted {
				s, err := l.Find(n)
				if err != nil {
					return usageError{err}
				}
				specs = append(specs, s)
			}
		}
		for _, s := range specs {
			k, err := vm.Fetch(ctx, s, vm.FetchOptions{Force: *force, Log: log})
			if err != nil {
				return err
			}
			fmt.Printf("%s\t%s %s\tcached and verified in %s\n", k.Name, k.Package, k.Version, vm.EntryDir(s))
		}
		return nil
	case "update":
		pins, err := vm.Repin(ctx, l, fs.Args(), log)
		if err != nil {
			return err
		}
		changed := 0
		for _, p := range pins {
			switch {
			case p.Note != "":
				fmt.Printf("%s: %s\n", p.Name, p.Note)
			case p.Changed():
				changed++
				fmt.Printf("%s: %s %s -> %s %s (sha256 %s)\n", p.Name, p.Old.Package, p.Old.Version, p.New.Package, p.New.Version, p.New.SHA256)
			default:
				fmt.Printf("%s: %s %s is still what %s resolves to\n", p.Name, p.Old.Package, p.Old.Version, p.Old.Metapackage)
			}
		}
		if changed == 0 || !*write {
			if changed > 0 {
				fmt.Printf("%d kernel(s) would change: run again with --write to rewrite %s\n", changed, *listFile)
			}
			return nil
		}
		if err := vm.WritePins(*listFile, pins); err != nil {
			return err
		}
		fmt.Printf("rewrote %s: fetch the new builds with lvslab kernels fetch --all, and re-measure their baselines (lvslab bench --save-baseline)\n", *listFile)
		return nil
	}
	if *names {
		for _, k := range l.Kernels {
			fmt.Println(k.Name)
		}
		return nil
	}
	return listKernels(l)
}

func listKernels(l *vm.KernelList) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tPACKAGE\tVERSION\tSUITE\tSHA256\tCACHE\n")
	bad := 0
	var problems []string
	for _, s := range l.Kernels {
		state := "cached, verified"
		if _, err := vm.Cached(s); errors.Is(err, vm.ErrNotCached) {
			state = "not cached (lvslab kernels fetch " + s.Name + ")"
		} else if err != nil {
			state, bad = "CHANGED", bad+1
			problems = append(problems, err.Error())
		}
		name := s.Name
		if s.Name == l.Default {
			name += " (default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\n", name, s.Package, s.Version, s.Suite, s.SHA256[:12], state)
	}
	tw.Flush()
	fmt.Printf("list: %s; cache: %s\n", l.File, vm.CacheDir())
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if bad > 0 {
		return exitError{code: exitFailure, msg: fmt.Sprintf("%d cached kernel(s) changed since they were fetched", bad)}
	}
	return nil
}
