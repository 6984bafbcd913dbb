//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/fixtures"
)

// exitRegression is lvslab gate's "regressed": a failure.
const exitRegression = exitFailure

// gateExitHelp ends lvslab gate --help: CI tells the verdicts apart by them.
var gateExitHelp = fmt.Sprintf(`
Every point of the baseline (each mode's ratio to direct at each client
count) is judged; a point this run lacks or cannot support is never a pass.

Exit status (the first that applies):
  %d  regression: a point's ratio dropped by more than --margin with p < --alpha
  %d  a --thresholds limit is broken
  %d  inconclusive: a point of the baseline could not be judged (a mode or
     client count missing from this run, no ratio to direct, copied trials
     (this run's ratios repeat the baseline's, or each other, exactly),
     a baseline ratio of 0, or too few trials for the U test to reach
     p < --alpha: the reason says how many are needed), a limit matched
     no point, or the two results ran on two kernel builds; nothing
     regressed or broke among what was judged
  %d  could not judge at all: a file is missing, unreadable or not a result
     or thresholds file lvslab wrote or accepts (empty, several YAML
     documents, unknown key, NaN or out-of-range value, a negative count
     or latency, a file over its size bound), the two results were
     measured with different settings (--conn, body size, service time,
     real servers, scheduler, --sched-batch, --isolate, --switch, --duration,
     --warmup, the VM's accelerator or CPUs), or the report could not be
     written
  %d  a usage error: a flag missing or out of range (--margin NaN, --alpha 1)
  %d  pass: every point of the baseline judged, none regressed, every limit holds
`, exitRegression, exitThreshold, exitInconclusive, exitCannotJudge, exitUsage, exitPass)

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
	baseline := fs.String("baseline", "", "a shipped baseline by its kernel's name ("+strings.Join(fixtures.Baselines(), ", ")+"),\nor a `file` (lvslab bench --save-baseline, or an older results.json)")
	marginFlag := fs.String("margin", "10%", "smallest drop of a ratio that fails the gate (10% or 0.10)")
	alpha := fs.Float64("alpha", 0.05, "significance level of the Mann–Whitney U test, in (0, 1)")
	thresholds := fs.String("thresholds", "", "fixed limits: "+bench.ShippedThresholds+" ("+fixtures.ThresholdsFile+", built in) or a `file` of your own")
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	allowKernel := fs.Bool("allow-kernel-change", false, "compare results measured on two kernel builds (to compare kernels on purpose)")
	if err := parse(find("gate"), fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(os.Stdout, find("gate"), fs)
			fmt.Print(gateExitHelp)
			return nil
		}
		return err
	}
	if *baseline == "" {
		return usageError{errors.New("--baseline is required: give a shipped baseline's name (" + strings.Join(fixtures.Baselines(), ", ") + ") or a file written by lvslab bench --save-baseline")}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("give exactly one results.json to judge, e.g. results/bench/results.json")}
	}
	margin, err := parseFraction(*marginFlag)
	if err != nil {
		return usageError{fmt.Errorf("--margin: %w", err)}
	}
	opt := bench.GateOptions{Margin: margin, Alpha: *alpha}
	if err := opt.Validate(); err != nil {
		return usageError{fmt.Errorf("--alpha: %w", err)}
	}
	cannotJudge := func(err error) error {
		return exitError{code: exitCannotJudge, msg: "cannot judge: " + err.Error()}
	}
	base, err := bench.ReadBaseline(*baseline)
	if err != nil {
		return cannotJudge(fmt.Errorf("--baseline: %w", err))
	}
	cur, err := bench.ReadResult(fs.Arg(0))
	if err != nil {
		return cannotJudge(err)
	}
	var limits *bench.Thresholds
	if *thresholds != "" {
		if limits, err = bench.LoadThresholds(*thresholds); err != nil {
			return cannotJudge(err)
		}
	}
	if err := checkKernel(base, cur, *allowKernel); err != nil {
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
	if *asJSON {
		err = report.WriteJSON(os.Stdout, check)
	} else {
		err = report.WriteVerdict(os.Stdout, check, *thresholds)
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

// parseFraction reads "10%" or "0.10", a fraction in [0, 1).
func parseFraction(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number: write 10%% or 0.10", s)
	}
	if pct {
		v /= 100
	}
	// Written so that NaN, which fails every comparison, fails it too.
	if !(v >= 0 && v < 1) {
		return 0, fmt.Errorf("%q: use 0%% to 99%% (or 0 to 0.99)", s)
	}
	return v, nil
}
