//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/lvslab/lvslab/check"
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

func runCheck(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var f check.Flags
	f.Register(fs)
	if err := parse(find("check"), fs, args, false); err != nil {
		return err
	}
	if f.CaptureScript {
		fmt.Print(check.CaptureScript)
		return nil
	}
	if err := f.Finish(); err != nil {
		return usageError{err}
	}
	in, p := f.Inputs, &f.Placement
	if f.Batch.Given() {
		return runBatch(ctx, &f.Batch, in.Given(), args, p, f.Name, f.Only)
	}
	// Everything the operator gave is read and planned before a lab or a
	// VM exists: a mistake costs nothing.
	b, err := check.Load(in)
	if err != nil {
		return usageError{err}
	}
	design, err := check.Plan(b, f.Name)
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
		return checkInVM(ctx, p, args, f.JUnit, log)
	}
	report, err := check.Run(ctx, b, design, check.Options{Binary: in.Binary, Only: f.Only, Progress: log, Out: p.Out})
	if err != nil {
		return err
	}
	if err := report.WriteFiles(p.Out); err != nil {
		return err
	}
	if err := check.CopyJUnit(p.Out, f.JUnit); err != nil {
		return err
	}
	if f.JSON {
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
