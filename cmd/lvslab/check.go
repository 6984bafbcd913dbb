//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lvslab/lvslab/check"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

func init() {
	register(&command{
		name: "check",
		summary: "Check your own keepalived.conf (one file per director, or one for both with --config-id) or IPVS rules\n" +
			"(ipvsadm -S -n) in a lab, with the real keepalived, on a real IPVS kernel: acceptance, agreement, election,\n" +
			"the table, reach, health checks, failover and sync, each with the bound the file implies beside what was measured.\n" +
			"Exit status 1 when a check failed, 4 when one was inconclusive.",
		usage: "check --keepalived FILE [--keepalived FILE2] [--config-id lb1,lb2] [--root DIR] | --ipvs-rules FILE\n" +
			"       [--capture DIR] [--serve FILE] [--remap] [--keepalived-binary PATH] [--run-notify] [--checks GROUPS]\n" +
			"       [--json] [--junit FILE] [--out DIR] [--where auto|host|vm] [--kernel K] | --capture-script\n" +
			"       | --mutations FILE… | --samples DIR   (many checks in one VM, a Markdown table: see docs/check.md)",
		root: true,
		run:  runCheck,
	})
}

// stringList is a flag given once or more.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runCheck(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var in check.Inputs
	var files stringList
	fs.Var(&files, "keepalived", "keepalived.conf `file` of a director (once per director)")
	ids := fs.String("config-id", "", "`ids` (lb1,lb2) of the directors one keepalived file describes with @ID lines")
	fs.StringVar(&in.Root, "root", "", "`folder` that absolute include paths are read under (your /etc/keepalived is DIR/etc/keepalived)")
	fs.StringVar(&in.Rules, "ipvs-rules", "", "ipvsadm -S -n `file`: IPVS rules without keepalived")
	fs.StringVar(&in.Capture, "capture", "", "`folder` of the capture script's output, one folder per director (see --capture-script)")
	fs.StringVar(&in.Serve, "serve", "", "YAML `file` of what your application answers on each real server")
	fs.BoolVar(&in.Remap, "remap", false, "move every subnet of the input onto documentation prefixes (findings keep your addresses)")
	fs.StringVar(&in.Binary, "keepalived-binary", "", "run this keepalived `binary` instead of the one installed")
	fs.BoolVar(&in.RunNotify, "run-notify", false, "run your notify scripts in the lab instead of recording their calls")
	groups := fs.String("checks", "", "run only these `groups` ("+strings.Join(check.Groups, ",")+")")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	junit := fs.String("junit", "", "also write the report as JUnit XML to `file` (lvslab summary reads it)")
	out := fs.String("out", "results/check", "`folder` for report.json, report.txt and junit.xml")
	where := fs.String("where", vm.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	kernel := fs.String("kernel", "", "kernel `name` of the list the VM boots (default: the list's default)")
	name := fs.String("name", "check", "lab `name`")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	script := fs.Bool("capture-script", false, "print the script to run on each of your directors for --capture, and exit")
	var bt batch
	fs.Var((*stringList)(&bt.mutations), "mutations", "run a mutations `file`'s fixture and each of its one-line edits, and print what each flipped")
	fs.StringVar(&bt.samples, "samples", "", "check every keepalived.conf.* of `folder` alone with --remap (e.g. "+check.DebianSamples+")")
	if err := parse(find("check"), fs, args, false); err != nil {
		return err
	}
	if *script {
		fmt.Print(check.CaptureScript)
		return nil
	}
	in.Keepalived = files
	if *ids != "" {
		in.ConfigIDs = strings.Split(*ids, ",")
	}
	var errs []error
	for _, g := range splitList(*groups) {
		if !contains(check.Groups, g) {
			errs = append(errs, fmt.Errorf("--checks %s: no such group (use %s)", g, strings.Join(check.Groups, ",")))
		}
	}
	if err := topology.CheckLabName(*name); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	if len(bt.mutations) > 0 || bt.samples != "" {
		return runBatch(ctx, &bt, checkInputsGiven(in, *ids), args, batchFlags{name: *name, where: *where, kernel: *kernel,
			out: *out, timeout: *timeout, groups: splitList(*groups)})
	}
	// Everything the operator gave is read and planned before a lab or a
	// VM exists: a mistake costs nothing.
	b, err := check.Load(in)
	if err != nil {
		return usageError{err}
	}
	design, err := check.Plan(b, *name)
	if err != nil {
		return err
	}
	inVM, err := vm.Choose(*where, harness.CheckIPVS)
	if err != nil {
		return usageError{err}
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// Progress names the operator's addresses, as the report does.
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab check: "+b.Remap.OriginalText(s)) }
	if inVM {
		code, err := check.RunInVM(ctx, check.VMRun{Kernel: *kernel, Args: guestArgs(args), Out: outDir, Timeout: *timeout,
			Console: os.Stdout, Log: log})
		if err != nil {
			return err
		}
		if err := copyJUnit(outDir, *junit); err != nil {
			return err
		}
		if code != 0 {
			return exitError{code: code}
		}
		return nil
	}
	report, err := check.Run(ctx, b, design, check.Options{Binary: in.Binary, Only: splitList(*groups), Progress: log, Out: outDir})
	if err != nil {
		return err
	}
	if err := report.WriteFiles(outDir); err != nil {
		return err
	}
	if err := copyJUnit(outDir, *junit); err != nil {
		return err
	}
	if *asJSON {
		err = report.WriteJSON(os.Stdout)
	} else {
		err = report.WriteText(os.Stdout)
	}
	if err != nil {
		return err
	}
	switch report.Verdict() {
	case check.Fail:
		return exitError{code: exitFailure}
	case check.Inconclusive:
		return exitError{code: exitInconclusive}
	}
	return nil
}

// guestArgs are the arguments the guest runs with: the user's, less
// where and the JUnit copy (the host copies it out of --out).
func guestArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--where" || a == "-where" || a == "--junit" || a == "-junit" || a == "--kernel" || a == "-kernel":
			i++
		case strings.HasPrefix(strings.TrimLeft(a, "-"), "where=") || strings.HasPrefix(strings.TrimLeft(a, "-"), "junit=") ||
			strings.HasPrefix(strings.TrimLeft(a, "-"), "kernel="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// copyJUnit copies the run's junit.xml to where --junit asked for it.
func copyJUnit(outDir, to string) error {
	if to == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(outDir, check.JUnitFile))
	if err != nil {
		return fmt.Errorf("the check wrote no JUnit report: %w", err)
	}
	return os.WriteFile(to, data, 0o644)
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// batchFlags are the flags a batch shares with one check.
type batchFlags struct {
	name, where, kernel, out string
	timeout                  time.Duration
	groups                   []string
}

// runBatch checks a batch's files, then runs it here or in one VM.
func runBatch(ctx context.Context, bt *batch, single bool, args []string, f batchFlags) error {
	if err := bt.read(single); err != nil {
		return usageError{err}
	}
	if len(f.groups) > 0 {
		return usageError{errors.New("--checks: a batch runs the groups its files name (a mutations file's checks:, every group for samples)")}
	}
	inVM, err := vm.Choose(f.where, harness.CheckIPVS)
	if err != nil {
		return usageError{err}
	}
	outDir, err := filepath.Abs(f.out)
	if err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab check: "+s) }
	if inVM {
		code, err := check.RunInVM(ctx, check.VMRun{Kernel: f.kernel, Args: guestArgs(args), Out: outDir, Timeout: f.timeout,
			Console: os.Stdout, Log: log})
		if err != nil {
			return err
		}
		if code != 0 {
			return exitError{code: code}
		}
		return nil
	}
	return bt.run(ctx, f.name, outDir, check.Options{Progress: log})
}
