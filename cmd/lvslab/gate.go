package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/lvslab/lvslab/bench"
)

// exitRegression is lvslab gate's "regressed".
const exitRegression = 1

func init() {
	register(&command{
		name:    "gate",
		summary: "Fail a benchmark that regressed against a baseline (mode ÷ direct ratios, U test, bootstrap): exit 1, or 3 for a broken --thresholds limit.",
		usage:   "gate --baseline FILE [--margin 10%] [--alpha 0.05] [--thresholds fixtures/thresholds.yaml] [--allow-kernel-change] [--json] RESULTS.json",
		run:     runGate,
	})
}

func runGate(ctx context.Context, fs *flag.FlagSet, args []string) error {
	baseline := fs.String("baseline", "", "baseline `file` (lvslab bench --save-baseline, or an older results.json)")
	marginFlag := fs.String("margin", "10%", "smallest drop of a ratio that fails the gate (10% or 0.10)")
	alpha := fs.Float64("alpha", 0.05, "significance level of the Mann–Whitney U test")
	thresholds := fs.String("thresholds", "", "fixed limits `file` (e.g. fixtures/thresholds.yaml)")
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	allowKernel := fs.Bool("allow-kernel-change", false, "compare results measured on two kernel builds (to compare kernels on purpose)")
	if err := parse(find("gate"), fs, args, true); err != nil {
		return err
	}
	if *baseline == "" {
		return usageError{errors.New("--baseline is required: give a file written by lvslab bench --save-baseline")}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("give exactly one results.json to judge, e.g. results/bench/results.json")}
	}
	margin, err := parseFraction(*marginFlag)
	if err != nil {
		return usageError{fmt.Errorf("--margin: %w", err)}
	}
	base, err := bench.ReadResult(*baseline)
	if err != nil {
		return usageError{fmt.Errorf("--baseline: %w", err)}
	}
	cur, err := bench.ReadResult(fs.Arg(0))
	if err != nil {
		return usageError{err}
	}
	var limits *bench.Thresholds
	if *thresholds != "" {
		if limits, err = bench.LoadThresholds(*thresholds); err != nil {
			return usageError{err}
		}
	}
	if err := checkKernel(base, cur, *allowKernel); err != nil {
		return err
	}
	report, err := bench.Gate(base, cur, bench.GateOptions{Margin: margin, Alpha: *alpha})
	if err != nil {
		return usageError{err}
	}
	var broken []string
	if limits != nil {
		broken = limits.Check(cur)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*bench.GateReport
			Broken []string `json:"thresholds_broken"`
		}{report, broken}); err != nil {
			return err
		}
	} else {
		if err := report.WriteTable(os.Stdout); err != nil {
			return err
		}
		if limits != nil {
			for _, b := range broken {
				fmt.Println("threshold broken: " + b)
			}
			if len(broken) == 0 {
				fmt.Printf("thresholds: every limit of %s holds\n", *thresholds)
			}
		}
	}
	switch {
	case report.Regressions > 0:
		return exitError{code: exitRegression}
	case len(broken) > 0:
		return exitError{code: exitThreshold}
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

// parseFraction reads "10%" or "0.10".
func parseFraction(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number: write 10%% or 0.10", s)
	}
	if pct {
		v /= 100
	}
	if v < 0 || v >= 1 {
		return 0, fmt.Errorf("%q: use 0%% to 99%%", s)
	}
	return v, nil
}
