package bench

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"text/tabwriter"

	"golang.org/x/perf/benchmath"
	"gopkg.in/yaml.v3"

	"github.com/lvslab/lvslab/topology"
)

// GateOptions says how sure and how big a regression must be to fail.
type GateOptions struct {
	// Margin is the smallest drop of a ratio that counts (0.10 = 10 %).
	Margin float64
	// Alpha is the Mann–Whitney U test's significance level.
	Alpha float64
}

// GateRow compares one mode at one client count.
type GateRow struct {
	Mode    topology.Mode `json:"mode"`
	Clients int           `json:"clients"`
	Base    Estimate      `json:"baseline"`
	New     Estimate      `json:"current"`
	// Change is the current median ratio over the baseline's, minus one,
	// with its bootstrap interval.
	Change   float64 `json:"change"`
	ChangeLo float64 `json:"change_lo"`
	ChangeHi float64 `json:"change_hi"`
	P        float64 `json:"p"`
	// Regression: significant (P < Alpha) and a drop bigger than Margin.
	Regression bool   `json:"regression"`
	Verdict    string `json:"verdict"`
}

// GateReport is the gate's answer.
type GateReport struct {
	Options     GateOptions `json:"options"`
	Rows        []GateRow   `json:"rows"`
	Notes       []string    `json:"notes,omitempty"`
	Regressions int         `json:"regressions"`
}

// Gate compares each mode's ratio to direct, point by point, between a
// baseline and a current result. Ratios, not requests/s, are compared:
// both sides of a ratio were measured seconds apart on the same machine, so
// a faster or slower machine, or another day, cancels out.
func Gate(base, cur *Result, opt GateOptions) (*GateReport, error) {
	if opt.Margin < 0 || opt.Margin >= 1 {
		return nil, fmt.Errorf("margin %g: use a fraction in [0, 1), e.g. 0.10", opt.Margin)
	}
	if opt.Alpha <= 0 || opt.Alpha >= 1 {
		return nil, fmt.Errorf("alpha %g: use a level in (0, 1), e.g. 0.05", opt.Alpha)
	}
	if base.Config.Connection != cur.Config.Connection {
		return nil, fmt.Errorf("the baseline used %s connections and this run %s: measure with the same --conn",
			base.Config.Connection, cur.Config.Connection)
	}
	g := &GateReport{Options: opt}
	if base.Env.Kernel != cur.Env.Kernel {
		g.Notes = append(g.Notes, fmt.Sprintf("the baseline ran on kernel %s, this run on %s", base.Env.Kernel, cur.Env.Kernel))
	}
	thresholds := &benchmath.Thresholds{CompareAlpha: opt.Alpha}
	for _, p := range cur.Points {
		if p.Ratio == nil {
			continue
		}
		b, ok := base.Point(p.Mode, p.Clients)
		if !ok || b.Ratio == nil {
			g.Notes = append(g.Notes, fmt.Sprintf("%s at %d clients is not in the baseline: not compared", p.Mode, p.Clients))
			continue
		}
		row := GateRow{Mode: p.Mode, Clients: p.Clients, Base: *b.Ratio, New: *p.Ratio}
		cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(b.Ratio.Values, thresholds),
			benchmath.NewSample(p.Ratio.Values, thresholds))
		row.P = cmp.P
		row.Change = row.New.Median/row.Base.Median - 1
		row.ChangeLo, row.ChangeHi = changeInterval(row.Base.Values, row.New.Values)
		significant := cmp.P < opt.Alpha
		switch {
		case significant && row.Change < -opt.Margin:
			row.Regression, row.Verdict = true, "REGRESSION"
			g.Regressions++
		case significant && row.Change < 0:
			row.Verdict = "slower, within margin"
		case significant:
			row.Verdict = "faster"
		case len(row.Base.Values) < 4 || len(row.New.Values) < 4:
			row.Verdict = "too few trials to tell"
		default:
			row.Verdict = "no significant change"
		}
		g.Rows = append(g.Rows, row)
	}
	if len(g.Rows) == 0 {
		return nil, errors.New("nothing to compare: the baseline and this run share no mode and client count with a ratio to direct (measure direct and at least one other mode)")
	}
	return g, nil
}

// changeInterval is the bootstrap interval of median(cur)/median(base)-1,
// each side resampled on its own.
func changeInterval(base, cur []float64) (lo, hi float64) {
	sb, sc := make([]float64, len(base)), make([]float64, len(cur))
	return bootstrap(func(rng *rand.Rand) float64 {
		return median(resample(rng, cur, sc))/median(resample(rng, base, sb)) - 1
	})
}

// WriteTable writes the report like benchstat: one row per point.
func (g *GateReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ratio to direct\tbaseline\tthis run\tchange\t%.0f%% interval\tp (n)\tverdict\n", 100*Confidence)
	for _, r := range g.Rows {
		fmt.Fprintf(tw, "%s/clients=%d\t%s\t%s\t%+.1f%%\t[%+.1f%%, %+.1f%%]\tp=%.3f (n=%d+%d)\t%s\n",
			r.Mode, r.Clients, r.Base.String(), r.New.String(), 100*r.Change, 100*r.ChangeLo, 100*r.ChangeHi,
			r.P, len(r.Base.Values), len(r.New.Values), r.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range g.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if g.Regressions > 0 {
		_, err := fmt.Fprintf(w, "gate: FAIL: %d of %d points regressed by more than %.0f%% (p < %g)\n",
			g.Regressions, len(g.Rows), 100*g.Options.Margin, g.Options.Alpha)
		return err
	}
	_, err := fmt.Fprintf(w, "gate: pass: no point regressed by more than %.0f%% with p < %g (%d points)\n",
		100*g.Options.Margin, g.Options.Alpha, len(g.Rows))
	return err
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
// client count (0: every count). Unset fields are not checked.
type Limit struct {
	Mode      string   `yaml:"mode"`
	Clients   int      `yaml:"clients"`
	MinRatio  *float64 `yaml:"min_ratio"`
	MaxP99Ms  *float64 `yaml:"max_p99_ms"`
	MaxErrors *int64   `yaml:"max_errors"`
}

// LoadThresholds reads a thresholds file, refusing unknown keys so that a
// typo is not a limit silently ignored.
func LoadThresholds(path string) (*Thresholds, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var t Thresholds
	if err := dec.Decode(&t); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("thresholds file %s: %w", path, err)
	}
	for i, l := range t.Limits {
		if l.Mode != "" && l.Mode != "*" && !slices.Contains(Modes, topology.Mode(l.Mode)) {
			return nil, fmt.Errorf("thresholds file %s: limit %d: mode %q is unknown (use direct, routed, nat, dr, tun or *)", path, i+1, l.Mode)
		}
		if l.Clients < 0 {
			return nil, fmt.Errorf("thresholds file %s: limit %d: clients %d must be 0 (every count) or positive", path, i+1, l.Clients)
		}
	}
	return &t, nil
}

// Check returns every limit a result breaks, one line each.
func (t *Thresholds) Check(r *Result) []string {
	var out []string
	for _, l := range t.Limits {
		for _, p := range r.Points {
			if (l.Mode != "" && l.Mode != "*" && topology.Mode(l.Mode) != p.Mode) || (l.Clients != 0 && l.Clients != p.Clients) {
				continue
			}
			at := fmt.Sprintf("%s at %d clients", p.Mode, p.Clients)
			if l.MinRatio != nil && p.Ratio != nil && p.Ratio.Median < *l.MinRatio {
				out = append(out, fmt.Sprintf("%s: ratio to direct %.3f is below %.3f", at, p.Ratio.Median, *l.MinRatio))
			}
			if l.MaxP99Ms != nil && p.P99 > *l.MaxP99Ms {
				out = append(out, fmt.Sprintf("%s: p99 %.2f ms is above %.2f ms", at, p.P99, *l.MaxP99Ms))
			}
			if l.MaxErrors != nil && p.Errors > *l.MaxErrors {
				out = append(out, fmt.Sprintf("%s: %d failed requests, more than %d", at, p.Errors, *l.MaxErrors))
			}
		}
	}
	return out
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
