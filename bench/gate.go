//go:build linux

package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
	"golang.org/x/perf/benchmath"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/internal/boundedread"
	"github.com/lvslab/lvslab/topology"
)

// GateOptions says how sure and how big a regression must be to fail.
type GateOptions struct {
	// Margin is the smallest drop of a ratio that counts (0.10 = 10 %).
	Margin float64 `json:"margin"`
	// Alpha is the Mann–Whitney U test's significance level.
	Alpha float64 `json:"alpha"`
}

// Validate refuses margins and levels the gate cannot judge with: NaN
// passes every comparison, so each bound is written to fail on it.
func (o GateOptions) Validate() error {
	var errs []error
	if !(o.Margin >= 0 && o.Margin < 1) {
		errs = append(errs, fmt.Errorf("margin %g: use a fraction in [0, 1), e.g. 0.10 (10%%)", o.Margin))
	}
	if !(o.Alpha > 0 && o.Alpha < 1) {
		errs = append(errs, fmt.Errorf("alpha %g: use a significance level in (0, 1), e.g. 0.05", o.Alpha))
	}
	return errors.Join(errs...)
}

// The verdicts of a gate row.
const (
	VerdictRegression   = "REGRESSION"
	VerdictInconclusive = "INCONCLUSIVE"
	VerdictWithinMargin = "slower, within margin"
	VerdictFaster       = "faster"
	VerdictNoChange     = "no significant change"
)

// GateRow judges one mode at one client count of the baseline.
type GateRow struct {
	Mode    topology.Mode `json:"mode"`
	Clients int           `json:"clients"`
	Base    *Estimate     `json:"baseline,omitempty"`
	New     *Estimate     `json:"current,omitempty"`
	// Change is the current median ratio over the baseline's, minus one,
	// with its bootstrap interval; set only when the row was judged.
	Change   float64 `json:"change"`
	ChangeLo float64 `json:"change_lo"`
	ChangeHi float64 `json:"change_hi"`
	P        float64 `json:"p"`
	// Regression: significant (P < Alpha) and a drop bigger than Margin.
	Regression bool `json:"regression"`
	// Inconclusive: the point could not be judged; Reason says why and
	// what to do.
	Inconclusive bool   `json:"inconclusive"`
	Reason       string `json:"reason,omitempty"`
	Verdict      string `json:"verdict"`
}

// GateReport is the gate's answer: one row per point of the baseline.
type GateReport struct {
	Options      GateOptions `json:"options"`
	Rows         []GateRow   `json:"rows"`
	Notes        []string    `json:"notes,omitempty"`
	Regressions  int         `json:"regressions"`
	Inconclusive int         `json:"inconclusive"`
}

// Gate judges every point of the baseline: each mode's ratio to direct at
// each client count, compared with the current run's. Ratios, not
// requests/s, are compared: both sides of a ratio were measured seconds
// apart on the same machine, so a faster or slower machine, or another
// day, cancels out. A point the current run lacks, or cannot support with
// enough trials, is inconclusive, never a pass.
func Gate(base, cur *Result, opt GateOptions) (*GateReport, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if err := SameSetup(base, cur); err != nil {
		return nil, err
	}
	g := &GateReport{Options: opt}
	if base.Env.Kernel != cur.Env.Kernel {
		g.Notes = append(g.Notes, fmt.Sprintf("the baseline ran on kernel %s, this run on %s", base.Env.Kernel, cur.Env.Kernel))
	}
	thresholds := &benchmath.Thresholds{CompareAlpha: opt.Alpha}
	for _, b := range base.Points {
		if b.Mode == topology.ModeDirect {
			continue // the reference of every ratio, judged through them
		}
		row := GateRow{Mode: b.Mode, Clients: b.Clients, Base: b.Ratio}
		p, ok := cur.Point(b.Mode, b.Clients)
		if ok {
			row.New = p.Ratio
		}
		if why := unjudgeable(b, p, ok, cur, opt.Alpha); why != "" {
			row.Inconclusive, row.Reason, row.Verdict = true, why, VerdictInconclusive
			g.Inconclusive++
			g.Rows = append(g.Rows, row)
			continue
		}
		cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(row.Base.Values, thresholds),
			benchmath.NewSample(row.New.Values, thresholds))
		row.P = cmp.P
		row.Change = row.New.Median/row.Base.Median - 1
		row.ChangeLo, row.ChangeHi = changeInterval(row.Base.Values, row.New.Values)
		significant := cmp.P < opt.Alpha
		switch {
		case significant && row.Change < -opt.Margin:
			row.Regression, row.Verdict = true, VerdictRegression
			g.Regressions++
		case significant && row.Change < 0:
			row.Verdict = VerdictWithinMargin
		case significant:
			row.Verdict = VerdictFaster
		default:
			row.Verdict = VerdictNoChange
		}
		g.Rows = append(g.Rows, row)
	}
	if len(g.Rows) == 0 {
		return nil, errors.New("the baseline has no ratio to direct to compare with: measure a baseline with direct and at least one other mode")
	}
	for _, p := range cur.Points {
		if _, ok := base.Point(p.Mode, p.Clients); !ok && p.Ratio != nil {
			g.Notes = append(g.Notes, fmt.Sprintf("%s at %d clients is not in the baseline: not compared", p.Mode, p.Clients))
		}
	}
	return g, nil
}

// unjudgeable says why a baseline point b cannot be compared with the
// current run's point p (found says whether the run has it), or "".
func unjudgeable(b, p Point, found bool, cur *Result, alpha float64) string {
	at := fmt.Sprintf("%s at %d clients", b.Mode, b.Clients)
	switch {
	case b.Ratio == nil:
		return "the baseline has no ratio to direct here (direct measured 0 req/s or was not measured): measure a new baseline"
	case !slices.Contains(cur.Config.Modes, b.Mode):
		return fmt.Sprintf("this run did not measure %s (a bench on a host without ip_vs or QEMU leaves out nat, dr and tun): run it with --modes including %s, in the VM if need be", b.Mode, b.Mode)
	case !found:
		return fmt.Sprintf("this run did not measure %s: run it with --clients including %d", at, b.Clients)
	case p.Ratio == nil:
		return fmt.Sprintf("this run has no ratio to direct at %d clients (direct measured 0 req/s or was not measured): check the lab and run it again", b.Clients)
	}
	if why := degenerate(b.Ratio.Values); why != "" {
		return "the baseline's ratios " + why + ": measure a new baseline"
	}
	if slices.Contains(b.Ratio.Values, 0) {
		return "the baseline's ratio is 0 in a trial (the mode served nothing then), so no change can be computed: measure a new baseline"
	}
	if why := degenerate(p.Ratio.Values); why != "" {
		return "this run's ratios " + why + ": run the benchmark again"
	}
	if n := repeated(b.Ratio.Values, p.Ratio.Values); n > 0 {
		return fmt.Sprintf("%d of this run's %d ratios repeat the baseline's to the last bit: a copy of the baseline is no measurement; run the benchmark", n, len(p.Ratio.Values))
	}
	return trialsShort(len(b.Ratio.Values), len(p.Ratio.Values), alpha)
}

// degenerate says why a sample of ratios is not a set of measurements, or
// "". Measured rates never repeat to the last bit, so repeated non-zero
// values are copied trials: counted as independent they would make any
// difference look certain.
func degenerate(values []float64) string {
	seen := map[float64]int{}
	copies := 0
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Sprintf("include %g, which is not a ratio of two rates", v)
		}
		if v != 0 {
			if seen[v] > 0 {
				copies++
			}
			seen[v]++
		}
	}
	if copies > 0 {
		return fmt.Sprintf("repeat exactly (%d of %d values are copies of another trial's): copied trials are not measurements", copies, len(values))
	}
	return ""
}

// repeated counts the non-zero values of cur that are also in base:
// measured rates never repeat to the last bit, so they were copied (a
// baseline judged against itself passed).
func repeated(base, cur []float64) int {
	n := 0
	for _, v := range cur {
		if v != 0 && slices.Contains(base, v) {
			n++
		}
	}
	return n
}

// SameSetup refuses to compare results measured with different settings:
// a ratio to direct depends on the connection mode, the body size, the
// real servers, the scheduler, the scheduling class, the machine model,
// how long each measurement ran and the machine (accelerator and CPUs),
// so a change of any is another experiment, not a regression. (The
// director's extra rules are left out: they make a director slower on
// purpose, to show the gate catching it.)
func SameSetup(base, cur *Result) error {
	b, c := base.Config, cur.Config
	var diffs []string
	differ := func(what, flag string, bv, cv any) {
		if bv != cv {
			diffs = append(diffs, fmt.Sprintf("%s: the baseline %+v, this run %+v (%s)", what, bv, cv, flag))
		}
	}
	differ("connections", "--conn", b.Connection, c.Connection)
	differ("body bytes", "--body-size", b.BodyBytes, c.BodyBytes)
	differ("service time", "--service-time", b.Server.ServiceTime, c.Server.ServiceTime)
	differ("real servers", "the topology", b.RealServers, c.RealServers)
	differ("scheduler", "--scheduler", b.Scheduler, c.Scheduler)
	differ("SCHED_BATCH", "--sched-batch", b.Batch, c.Batch)
	differ("a station per CPU", "--isolate", b.Isolate, c.Isolate)
	differ("switch", "--switch, --ageing-time", b.Switch, c.Switch)
	differ("measurement", "--duration", b.Duration.Duration(), c.Duration.Duration())
	differ("warm-up", "--warmup", b.Warmup.Duration(), c.Warmup.Duration())
	differ("accelerator", "lvslab vm --accel/--icount", base.Env.Accel, cur.Env.Accel)
	differ("CPUs", "lvslab vm --cpus", base.Env.CPUs, cur.Env.CPUs)
	if len(diffs) > 0 {
		return fmt.Errorf("the two results were measured with different settings, so their ratios are not comparable: %s; measure this run with the baseline's settings, or a new baseline with these (lvslab bench --save-baseline)",
			strings.Join(diffs, "; "))
	}
	return nil
}

// trialsShort says, when samples of n1 and n2 values cannot reach p <
// alpha at all, how many trials would be needed; else "".
func trialsShort(n1, n2 int, alpha float64) string {
	if smallestP(n1, n2) < alpha {
		return ""
	}
	both := 2
	for smallestP(both, both) >= alpha {
		both++
	}
	msg := fmt.Sprintf("with %d baseline and %d current trials the U test cannot reach p < %g (its smallest p is %.3f): ",
		n1, n2, alpha, smallestP(n1, n2))
	switch {
	case n1 >= both:
		return msg + fmt.Sprintf("run the benchmark with --trials %d or more", trialsFor(n1, alpha))
	case n2 >= both:
		return msg + fmt.Sprintf("measure a baseline with --trials %d or more", trialsFor(n2, alpha))
	}
	return msg + fmt.Sprintf("measure the baseline and this run with --trials %d or more", both)
}

// trialsFor is the fewest trials that, against n others, can reach p < alpha.
func trialsFor(n int, alpha float64) int {
	m := 1
	for smallestP(n, m) >= alpha {
		m++
	}
	return m
}

// changeInterval is the bootstrap interval of median(cur)/median(base)-1,
// each side resampled on its own.
func changeInterval(base, cur []float64) (lo, hi float64) {
	b, c := newResampler(base), newResampler(cur)
	return bootstrap(func(rng *rand.Rand) float64 {
		return c.median(rng)/b.median(rng) - 1
	})
}

// Passed says whether every point was judged and none regressed.
func (g *GateReport) Passed() bool { return g.Regressions == 0 && g.Inconclusive == 0 }

// WriteTable writes the report like benchstat: one row per point, then
// the reason of every inconclusive one.
func (g *GateReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ratio to direct\tbaseline\tthis run\tchange\tbootstrap interval\tp (n)\tverdict\n")
	var reasons []string
	for _, r := range g.Rows {
		point := fmt.Sprintf("%s/clients=%d", r.Mode, r.Clients)
		if r.Inconclusive {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t%s\n", point, estimateOrDash(r.Base), estimateOrDash(r.New), r.Verdict)
			reasons = append(reasons, fmt.Sprintf("inconclusive: %s: %s", point, r.Reason))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+.1f%%\t[%+.1f%%, %+.1f%%]\tp=%.3f (n=%d+%d)\t%s\n",
			point, r.Base.String(), r.New.String(), 100*r.Change, 100*r.ChangeLo, 100*r.ChangeHi,
			r.P, len(r.Base.Values), len(r.New.Values), r.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range append(reasons, prefixed("note: ", g.Notes)...) {
		fmt.Fprintln(w, n)
	}
	judged := len(g.Rows) - g.Inconclusive
	var err error
	switch {
	case g.Regressions > 0:
		_, err = fmt.Fprintf(w, "against the baseline: FAIL: %d of %d points regressed by more than %.0f%% (p < %g)\n",
			g.Regressions, len(g.Rows), 100*g.Options.Margin, g.Options.Alpha)
	case g.Inconclusive > 0:
		_, err = fmt.Fprintf(w, "against the baseline: INCONCLUSIVE: %d of %d points could not be judged (see above); the other %d did not regress\n",
			g.Inconclusive, len(g.Rows), judged)
	default:
		_, err = fmt.Fprintf(w, "against the baseline: pass: no point regressed by more than %.0f%% with p < %g (%d points)\n",
			100*g.Options.Margin, g.Options.Alpha, len(g.Rows))
	}
	return err
}

func estimateOrDash(e *Estimate) string {
	if e == nil {
		return "-"
	}
	return e.String()
}

func prefixed(prefix string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = prefix + l
	}
	return out
}

// String is the median and the interval's half width in percent, as
// benchstat shows them.
func (e Estimate) String() string {
	if e.Median == 0 {
		return fmt.Sprintf("%.3f", e.Median)
	}
	half := max(e.Hi-e.Median, e.Median-e.Lo) / e.Median
	return fmt.Sprintf("%.3f ± %.1f%%", e.Median, 100*half)
}

// Thresholds are fixed limits a result must meet whatever the baseline
// says (fixtures/thresholds.yaml).
type Thresholds struct {
	Limits []Limit `yaml:"limits"`
}

// Limit applies to the points of one mode ("" or "*": every mode) at one
// client count (0: every count). Unset fields are not checked; at least
// one must be set. min_ratio applies to modes with a ratio to direct:
// direct is the reference, 1 by definition, so it is refused there.
type Limit struct {
	Mode      string   `yaml:"mode"`
	Clients   int      `yaml:"clients"`
	MinRatio  *float64 `yaml:"min_ratio"`
	MaxP99Ms  *float64 `yaml:"max_p99_ms"`
	MaxErrors *int64   `yaml:"max_errors"`
}

func (l Limit) String() string {
	mode, clients := l.Mode, "every client count"
	if mode == "" {
		mode = "*"
	}
	if l.Clients != 0 {
		clients = fmt.Sprintf("%d clients", l.Clients)
	}
	return fmt.Sprintf("mode %s at %s", mode, clients)
}

// ShippedThresholds names the shipped fixed limits
// (fixtures/thresholds.yaml, embedded) to LoadThresholds.
const ShippedThresholds = "shipped"

// maxThresholdsBytes bounds a thresholds file: the shipped one has a few
// hundred bytes.
const maxThresholdsBytes = 1 << 20

// LoadThresholds reads a thresholds file, or the shipped one: one YAML
// document with at least one limit, no unknown key (a typo must not be a
// limit silently ignored), and every value a finite number in range.
func LoadThresholds(path string) (*Thresholds, error) {
	if path == ShippedThresholds {
		t, err := parseThresholds(bytes.NewReader(fixtures.Thresholds()))
		if err != nil {
			return nil, fmt.Errorf("the shipped thresholds %s: %w", fixtures.ThresholdsFile, err)
		}
		return t, nil
	}
	data, err := boundedread.File(path, maxThresholdsBytes)
	if err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	t, err := parseThresholds(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("thresholds file %s: %w", path, err)
	}
	return t, nil
}

func parseThresholds(r io.Reader) (*Thresholds, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var t Thresholds
	if err := dec.Decode(&t); errors.Is(err, io.EOF) {
		return nil, errors.New("is empty: an empty file would mean every limit holds; write limits: [...] (see fixtures/thresholds.yaml)")
	} else if err != nil {
		return nil, fmt.Errorf("%w (see fixtures/thresholds.yaml for the keys)", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("holds more than one YAML document (a --- line): put every limit under one limits: list")
	}
	if len(t.Limits) == 0 {
		return nil, errors.New("has no limits: write limits: [...] with at least one (see fixtures/thresholds.yaml)")
	}
	var errs []error
	for i, l := range t.Limits {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("limit %d: "+format, append([]any{i + 1}, a...)...))
		}
		if l.Mode != "" && l.Mode != "*" && !slices.Contains(Modes, topology.Mode(l.Mode)) {
			bad("mode %q is unknown (use direct, routed, nat, dr, tun or *)", l.Mode)
		}
		if l.Clients < 0 {
			bad("clients %d must be 0 (every count) or positive", l.Clients)
		}
		if l.MinRatio == nil && l.MaxP99Ms == nil && l.MaxErrors == nil {
			bad("checks nothing: give min_ratio, max_p99_ms or max_errors")
		}
		if l.MinRatio != nil {
			if !(*l.MinRatio > 0 && *l.MinRatio <= 100) {
				bad("min_ratio %g: use a number above 0, e.g. 0.5", *l.MinRatio)
			}
			if topology.Mode(l.Mode) == topology.ModeDirect {
				bad("min_ratio on direct: direct is the reference of every ratio (1 by definition); put it on routed, nat, dr or tun")
			}
		}
		if l.MaxP99Ms != nil && !(*l.MaxP99Ms > 0 && !math.IsInf(*l.MaxP99Ms, 0)) {
			bad("max_p99_ms %g: use a finite number of milliseconds above 0, e.g. 50", *l.MaxP99Ms)
		}
		if l.MaxErrors != nil && *l.MaxErrors < 0 {
			bad("max_errors %d: use 0 or more", *l.MaxErrors)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &t, nil
}

// ThresholdCheck is what checking the limits found: limits broken, and
// limits that could not be checked (no point matched, or the point has no
// ratio), which make the verdict inconclusive.
type ThresholdCheck struct {
	Broken    []string `json:"broken"`
	Unchecked []string `json:"unchecked"`
}

// Check checks every limit against a result.
func (t *Thresholds) Check(r *Result) ThresholdCheck {
	var c ThresholdCheck
	for i, l := range t.Limits {
		what := fmt.Sprintf("limit %d (%s)", i+1, l)
		matched := false
		for _, p := range r.Points {
			if (l.Mode != "" && l.Mode != "*" && topology.Mode(l.Mode) != p.Mode) || (l.Clients != 0 && l.Clients != p.Clients) {
				continue
			}
			at := fmt.Sprintf("%s at %d clients", p.Mode, p.Clients)
			if l.MinRatio != nil && p.Mode != topology.ModeDirect {
				if p.Ratio == nil {
					c.Unchecked = append(c.Unchecked, fmt.Sprintf("%s: %s has no ratio to direct (direct measured 0 req/s or was not measured): min_ratio not checked", what, at))
				} else if p.Ratio.Median < *l.MinRatio {
					c.Broken = append(c.Broken, fmt.Sprintf("%s: ratio to direct %.3f is below %.3f", at, p.Ratio.Median, *l.MinRatio))
				}
				matched = true
			}
			if l.MaxP99Ms != nil {
				if p.P99 > *l.MaxP99Ms {
					c.Broken = append(c.Broken, fmt.Sprintf("%s: p99 %.2f ms is above %.2f ms", at, p.P99, *l.MaxP99Ms))
				}
				matched = true
			}
			if l.MaxErrors != nil {
				if p.Errors > *l.MaxErrors {
					c.Broken = append(c.Broken, fmt.Sprintf("%s: %d failed requests, more than %d", at, p.Errors, *l.MaxErrors))
				}
				matched = true
			}
		}
		if !matched {
			c.Unchecked = append(c.Unchecked, fmt.Sprintf("%s matches no point of this run (modes %s, clients %s): measure that point or correct the limit",
				what, joinModes(r.Config.Modes), strings.Trim(fmt.Sprint(r.Config.Clients), "[]")))
		}
	}
	return c
}

// SameKernel refuses to compare results measured on two kernel builds:
// IPVS's cost is the kernel's, so another build is another experiment,
// whatever the ratios say. A build is its release and, for a kernel of the
// list, its Debian package, version and .deb SHA256; a result that does
// not record them (an older baseline) is not the same build as one that
// does.
func SameKernel(base, cur *Result) error {
	b, c := base.Env, cur.Env
	if b.Kernel == c.Kernel && b.KernelPackage == c.KernelPackage && b.KernelVersion == c.KernelVersion && b.KernelSHA256 == c.KernelSHA256 {
		return nil
	}
	fix := "compare with a baseline measured on this build (lvslab bench --save-baseline), or pass --allow-kernel-change to compare two kernels on purpose"
	if b.KernelSHA256 == "" && c.KernelSHA256 != "" {
		return fmt.Errorf("the baseline records kernel %s but not its build (package, version, SHA256), and this run was measured on %s: re-measure the baseline with this lvslab, or %s",
			b.Kernel, kernelBuild(c), fix)
	}
	return fmt.Errorf("the baseline was measured on kernel %s and this run on %s: %s", kernelBuild(b), kernelBuild(c), fix)
}

func kernelBuild(e Env) string {
	if e.KernelSHA256 == "" {
		return e.Kernel
	}
	return fmt.Sprintf("%s (%s %s, sha256 %s)", e.Kernel, e.KernelPackage, e.KernelVersion, e.KernelSHA256)
}

// GateOutcome is a gate's verdict, in the order lvslab gate's exit
// statuses rank them: the first that applies.
type GateOutcome int

const (
	GatePass GateOutcome = iota
	// GateRegressed: a point's ratio dropped by more than the margin.
	GateRegressed
	// GateLimitBroken: a fixed limit is broken.
	GateLimitBroken
	// GateInconclusive: a point or a limit could not be judged, and
	// nothing judged regressed or broke.
	GateInconclusive
)

// Outcome is the verdict of the report and the check of the limits.
func (g *GateReport) Outcome(check ThresholdCheck) GateOutcome {
	switch {
	case g.Regressions > 0:
		return GateRegressed
	case len(check.Broken) > 0:
		return GateLimitBroken
	case g.Inconclusive > 0 || len(check.Unchecked) > 0:
		return GateInconclusive
	}
	return GatePass
}

// WriteVerdict writes the report, what the limits of the thresholds file
// limits ("" for none) found, and one closing line for the whole verdict.
func (g *GateReport) WriteVerdict(w io.Writer, check ThresholdCheck, limits string) error {
	if err := g.WriteTable(w); err != nil {
		return err
	}
	for _, b := range check.Broken {
		fmt.Fprintln(w, "threshold broken: "+b)
	}
	for _, u := range check.Unchecked {
		fmt.Fprintln(w, "threshold INCONCLUSIVE: "+u)
	}
	if limits != "" && len(check.Broken) == 0 && len(check.Unchecked) == 0 {
		fmt.Fprintf(w, "thresholds: every limit of %s holds\n", limits)
	}
	var err error
	switch g.Outcome(check) {
	case GateRegressed:
		_, err = fmt.Fprintf(w, "gate: FAIL: %d points regressed\n", g.Regressions)
	case GateLimitBroken:
		_, err = fmt.Fprintf(w, "gate: FAIL: %d fixed limits broken\n", len(check.Broken))
	case GateInconclusive:
		_, err = fmt.Fprintf(w, "gate: INCONCLUSIVE: %d points of the baseline and %d limits could not be judged: not a pass\n",
			g.Inconclusive, len(check.Unchecked))
	default:
		_, err = fmt.Fprintf(w, "gate: pass: all %d points of the baseline judged, none regressed\n", len(g.Rows))
	}
	return err
}

// WriteJSON writes the report with what the limits found.
func (g *GateReport) WriteJSON(w io.Writer, check ThresholdCheck) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*GateReport
		Broken    []string `json:"thresholds_broken"`
		Unchecked []string `json:"thresholds_unchecked"`
	}{g, check.Broken, check.Unchecked})
}
