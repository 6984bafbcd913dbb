//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lvslab/lvslab/check"
	"github.com/lvslab/lvslab/topology"
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
	var p check.Placement
	p.Register(fs, "results/check", time.Hour, "give up after this long")
	name := fs.String("name", "check", "lab `name`")
	script := fs.Bool("capture-script", false, "print the script to run on each of your directors for --capture, and exit")
	var bt check.Batch
	fs.Var((*stringList)(&bt.Mutations), "mutations", "run a mutations `file`'s fixture and each of its one-line edits, and print what each flipped")
	fs.StringVar(&bt.Samples, "samples", "", "check every keepalived.conf.* of `folder` alone with --remap (e.g. "+check.DebianSamples+")")
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
	only, err := check.ParseGroups(*groups)
	if err := errors.Join(err, topology.CheckLabName(*name)); err != nil {
		return usageError{err}
	}
	if bt.Given() {
		return runBatch(ctx, &bt, in.Given(), args, &p, *name, only)
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
	ctx, cancel, inVM, err := p.Place(ctx)
	if err != nil {
		return usageError{err}
	}
	defer cancel()
	// Progress names the operator's addresses, as the report does.
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab check: "+b.Remap.OriginalText(s)) }
	if inVM {
		return checkInVM(ctx, &p, args, *junit, log)
	}
	report, err := check.Run(ctx, b, design, check.Options{Binary: in.Binary, Only: only, Progress: log, Out: p.Out})
	if err != nil {
		return err
	}
	if err := report.WriteFiles(p.Out); err != nil {
		return err
	}
	if err := check.CopyJUnit(p.Out, *junit); err != nil {
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
	return verdictExit(report.Verdict())
}

// runBatch checks a batch's files, then runs it here or in one VM.
func runBatch(ctx context.Context, bt *check.Batch, single bool, args []string, p *check.Placement, name string, only []string) error {
	if err := bt.Read(single); err != nil {
		return usageError{err}
	}
	if len(only) > 0 {
		return usageError{errors.New("--checks: a batch runs the groups its files name (a mutations file's checks:, every group for samples)")}
	}
	ctx, cancel, inVM, err := p.Place(ctx)
	if err != nil {
		return usageError{err}
	}
	defer cancel()
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab check: "+s) }
	if inVM {
		return checkInVM(ctx, p, args, "", log)
	}
	table, verdict, err := bt.Run(ctx, name, p.Out, check.Options{Progress: log})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(os.Stdout, table); err != nil {
		return err
	}
	return verdictExit(verdict)
}

// checkInVM runs lvslab check in the VM and exits with the guest's status.
func checkInVM(ctx context.Context, p *check.Placement, args []string, junit string, log func(string)) error {
	code, err := p.RunInVM(ctx, args, junit, os.Stdout, log)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

// verdictExit is the exit status of a check's verdict.
func verdictExit(v check.Status) error {
	switch v {
	case check.Fail:
		return exitError{code: exitFailure}
	case check.Inconclusive:
		return exitError{code: exitInconclusive}
	}
	return nil
}
