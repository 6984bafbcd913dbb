//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/vm"
)

func init() {
	register(&command{
		name: "kernels",
		summary: "The kernels lvslab vm boots: list them (pinned build, cached and verified?), fetch one or --all,\n" +
			"or update: re-pin each to what its metapackage resolves to today (a maintainer's step).",
		usage: "kernels [list] | kernels fetch [--force] NAME…|--all | kernels update [--write] [NAME…]\n" +
			"       (each takes --kernels FILE, before or after the verb)",
		run: runKernels,
	})
}

func runKernels(ctx context.Context, fs *flag.FlagSet, args []string) error {
	listFile := fs.String("kernels", "", "kernel list `file` (default: the shipped "+fixtures.KernelsFile+"; update: ./"+fixtures.KernelsFile+")")
	all := fs.Bool("all", false, "fetch: every kernel of the list")
	force := fs.Bool("force", false, "fetch: fetch again even if cached (replaces a cache entry that changed)")
	names := fs.Bool("names", false, "list: only the names, one a line (for scripts)")
	write := fs.Bool("write", false, "update: rewrite the list file with the new pins (default: only show them)")
	// Flags go before or after the verb: the usage line gives them for
	// every verb, so "kernels --kernels FILE fetch NAME" is as good as
	// "kernels fetch --kernels FILE NAME".
	words, err := parseInterspersed(find("kernels"), fs, args)
	if err != nil {
		return err
	}
	sub := "list"
	if len(words) > 0 && (words[0] == "list" || words[0] == "fetch" || words[0] == "update") {
		sub, words = words[0], words[1:]
	}
	if sub == "list" && len(words) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: the verbs are list, fetch and update", words[0])}
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
		specs, err := l.Pick(words, *all)
		if err != nil {
			return usageError{err}
		}
		for _, s := range specs {
			k, err := vm.Fetch(ctx, s, vm.FetchOptions{Force: *force, Log: log})
			if err != nil {
				return err
			}
			fmt.Printf("%s\t%s %s\tcached and verified in %s\n", k.Name, s.PackageNames(), s.VersionString(), vm.EntryDir(s))
		}
		return nil
	case "update":
		pins, err := vm.Repin(ctx, l, words, log)
		if err != nil {
			return err
		}
		changed := vm.WritePinReport(os.Stdout, pins)
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
	problems, err := l.WriteTable(os.Stdout)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return exitError{code: exitFailure, msg: fmt.Sprintf("%d cached kernel(s) changed since they were fetched", len(problems))}
	}
	return nil
}
