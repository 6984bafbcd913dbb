//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/fixtures"
)

// exitRegression is lvslab gate's "regressed": a failure.
const exitRegression = exitFailure

func init() {
	register(&command{
		name: "gate",
		summary: fmt.Sprintf("Judge a benchmark against a baseline (mode ÷ direct ratios, U test, bootstrap): "+
			"exit %d pass, %d regressed, %d limit broken, %d inconclusive, %d could not judge.",
			exitPass, exitRegression, exitThreshold, exitInconclusive, exitCannotJudge),
		usage: "gate --baseline NAME|FILE [--margin 10%] [--alpha 0.05] [--thresholds shipped|FILE] [--allow-kernel-change] [--json] RESULTS.json",
		run:   runGate,
	})
}

func runGate(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var g bench.GateFlags
	g.Register(fs)
	if err := parse(find("gate"), fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(os.Stdout, find("gate"), fs)
			fmt.Print(bench.GateExitHelp(bench.GateExits{Regressed: exitRegression, LimitBroken: exitThreshold,
				Inconclusive: exitInconclusive, CannotJudge: exitCannotJudge, Usage: exitUsage, Pass: exitPass}))
			return nil
		}
		return err
	}
	if g.Baseline == "" {
		return usageError{errors.New("--baseline is required: give a shipped baseline's name (" + strings.Join(fixtures.Baselines(), ", ") + ") or a file written by lvslab bench --save-baseline")}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("give exactly one results.json to judge, e.g. results/bench/results.json")}
	}
	opt, err := g.Options()
	if err != nil {
		return usageError{err}
	}
	cannotJudge := func(err error) error {
		return exitError{code: exitCannotJudge, msg: "cannot judge: " + err.Error()}
	}
	base, err := bench.ReadBaseline(g.Baseline)
	if err != nil {
		return cannotJudge(fmt.Errorf("--baseline: %w", err))
	}
	cur, err := bench.ReadResult(fs.Arg(0))
	if err != nil {
		return cannotJudge(err)
	}
	var limits *bench.Thresholds
	if g.Thresholds != "" {
		if limits, err = bench.LoadThresholds(g.Thresholds); err != nil {
			return cannotJudge(err)
		}
	}
	if err := checkKernel(base, cur, g.AllowKernelChange); err != nil {
		return err
	}
	report, err := bench.Gate(base, cur, opt)
	if err != nil {
		return cannotJudge(err)
	}
	var check bench.ThresholdCheck
	if limits != nil {
		check = limits.Check(cur)
	}
	if g.JSON {
		err = report.WriteJSON(os.Stdout, check)
	} else {
		err = report.WriteVerdict(os.Stdout, check, g.Thresholds)
	}
	if err != nil {
		return cannotJudge(fmt.Errorf("write the report: %w", err))
	}
	switch report.Outcome(check) {
	case bench.GateRegressed:
		return exitError{code: exitRegression}
	case bench.GateLimitBroken:
		return exitError{code: exitThreshold}
	case bench.GateInconclusive:
		return exitError{code: exitInconclusive}
	}
	return nil
}

// checkKernel refuses a baseline of another kernel build, unless the
// user compares kernels on purpose: that is no verdict on this build.
func checkKernel(base, cur *bench.Result, allow bool) error {
	err := bench.SameKernel(base, cur)
	switch {
	case err == nil:
		return nil
	case allow:
		fmt.Fprintln(os.Stderr, "lvslab gate: --allow-kernel-change: comparing two kernel builds: "+err.Error())
		return nil
	}
	return exitError{code: exitInconclusive, msg: "refused: " + err.Error()}
}
