//go:build linux

package bench

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/lvslab/lvslab/fixtures"
)

// GateFlags are lvslab gate's flags: Register declares them, Options
// checks the judgement's settings.
type GateFlags struct {
	// Baseline is a shipped baseline's name or a file; Thresholds
	// ShippedThresholds, a file or "" for no limits.
	Baseline, Thresholds string
	// JSON prints the comparison as JSON; AllowKernelChange compares two
	// kernel builds on purpose.
	JSON, AllowKernelChange bool

	margin string
	alpha  float64
}

// Register declares the flags on fs.
func (g *GateFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&g.Baseline, "baseline", "", "a shipped baseline by its kernel's name ("+strings.Join(fixtures.Baselines(), ", ")+"),\nor a `file` (lvslab bench --save-baseline, or an older results.json)")
	fs.StringVar(&g.margin, "margin", "10%", "smallest drop of a ratio that fails the gate (10% or 0.10)")
	fs.Float64Var(&g.alpha, "alpha", 0.05, "significance level of the Mann–Whitney U test, in (0, 1)")
	fs.StringVar(&g.Thresholds, "thresholds", "", "fixed limits: "+ShippedThresholds+" ("+fixtures.ThresholdsFile+", built in) or a `file` of your own")
	fs.BoolVar(&g.JSON, "json", false, "print the comparison as JSON")
	fs.BoolVar(&g.AllowKernelChange, "allow-kernel-change", false, "compare results measured on two kernel builds (to compare kernels on purpose)")
}

// Options checks --margin and --alpha; its errors name the flag.
func (g *GateFlags) Options() (GateOptions, error) {
	margin, err := parseFraction(g.margin)
	if err != nil {
		return GateOptions{}, fmt.Errorf("--margin: %w", err)
	}
	opt := GateOptions{Margin: margin, Alpha: g.alpha}
	if err := opt.Validate(); err != nil {
		return opt, fmt.Errorf("--alpha: %w", err)
	}
	return opt, nil
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

// GateExits are the exit statuses of lvslab gate's verdicts, which its
// caller decides; GateExitHelp explains them.
type GateExits struct{ Regressed, LimitBroken, Inconclusive, CannotJudge, Usage, Pass int }

// GateExitHelp ends lvslab gate --help: CI tells the verdicts apart by them.
func GateExitHelp(e GateExits) string {
	return fmt.Sprintf(`
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
`, e.Regressed, e.LimitBroken, e.Inconclusive, e.CannotJudge, e.Usage, e.Pass)
}
