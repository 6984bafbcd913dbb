//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

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
		wanted := words
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
			fmt.Printf("%s\t%s %s\tcached and verified in %s\n", k.Name, s.PackageNames(), s.VersionString(), vm.EntryDir(s))
		}
		return nil
	case "update":
		pins, err := vm.Repin(ctx, l, words, log)
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
				fmt.Printf("%s: %s %s -> %s\n", p.Name, p.Old.PackageNames(), p.Old.VersionString(), pinLine(p.New))
			default:
				fmt.Printf("%s: %s %s is still what %s resolves to\n", p.Name, p.Old.PackageNames(), p.Old.VersionString(), p.Old.Metapackage)
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

// pinLine is a build's packages with their versions and SHA256s.
func pinLine(s vm.KernelSpec) string {
	var parts []string
	for _, d := range s.Debs() {
		parts = append(parts, fmt.Sprintf("%s %s (sha256 %s)", d.Package, d.Version, d.SHA256))
	}
	return strings.Join(parts, " + ")
}

func listKernels(l *vm.KernelList) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tPACKAGE\tVERSION\tSUITE\tSHA256\tCACHE\n")
	bad := 0
	var problems, notes []string
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
		suite := s.Suite
		if s.Moving {
			suite += " (moving)"
			notes = append(notes, fmt.Sprintf("%s follows %s, which replaces its kernel every few weeks: when fetching it says the pinned version is gone, re-pin it with: lvslab kernels update --write%s %s",
				s.Name, s.Suite, listFlag(l), s.Name))
		}
		// A split build shows each of its packages on a line of its own.
		for i, d := range s.Debs() {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\n", name, d.Package, d.Version, suite, d.SHA256[:12], state)
			} else {
				fmt.Fprintf(tw, "\t%s\t%s\t\t%s…\t\n", d.Package, d.Version, d.SHA256[:12])
			}
		}
	}
	tw.Flush()
	fmt.Printf("list: %s; cache: %s\n", l.File, vm.CacheDir())
	for _, n := range notes {
		fmt.Println(n)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if bad > 0 {
		return exitError{code: exitFailure, msg: fmt.Sprintf("%d cached kernel(s) changed since they were fetched", bad)}
	}
	return nil
}

// listFlag is the --kernels flag that names a list of the user's own.
func listFlag(l *vm.KernelList) string {
	if l.File == fixtures.KernelsFile {
		return ""
	}
	return " --kernels " + l.File
}
