//go:build linux

package bench

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lvslab/lvslab/topology"
)

// Checks that per-station demands are physically possible before any
// verdict rests on them. A demand can be wrong and still look precise:
// CPU time charged to the wrong station (kernel work placed on an idle
// vCPU, a background not dropping out) gives a tight interval around a
// number no request caused. A run that fails one is inconclusive.

// offPath are the nodes no packet of a mode's requests or replies passes
// (topology.Spec.Routes): direct puts the client on the real servers'
// segment; in routed and NAT mode the real servers answer through the
// director, so the router only forwards in DR and TUN.
var offPath = map[topology.Mode][]string{
	topology.ModeDirect: {"director", "router"},
	topology.ModeRouted: {"router"},
	topology.ModeNAT:    {"router"},
}

// sanityConfidence is the level of a run's zero checks together: a false
// alarm makes a sane run inconclusive, and at 1 % a run five times over
// holds all five times 95 % of the time (at 95 % it would be 77 %).
const sanityConfidence = 0.99

// maxTotalsApart is how many times apart a mode's total demand relative
// to direct's may be between the stations run and the single-CPU sweep,
// at the nearest ends of their intervals.
// The two differ in clock (real time against executed instructions) and
// in load (light against saturated, which batches work), so only a gross
// disagreement is taken for nonsense; it is a judgment, not a measurement.
const maxTotalsApart = 1.5

// SanityCheck is one check of a run's demands.
type SanityCheck struct {
	Check  string `json:"check"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Sanity checks the per-station demands of r (the stations run, or a run
// under the machine model) and, with sweep, r's totals against that
// single-CPU sweep's. Checks that lack their inputs are left out.
func (r *Result) Sanity(sweep *Result) []SanityCheck {
	if r == nil || r.Machine == nil || len(r.Machine.Stations) < 2 {
		return nil
	}
	type offPathDemand struct {
		mode    topology.Mode
		station string
		d       Demand
	}
	var zeros []offPathDemand
	for _, m := range r.Config.Modes {
		if r.Refusal(m) != "" {
			continue
		}
		for _, node := range offPath[m] {
			st := stationHolding(r.Machine, node)
			if st == "" || !r.stationOffPath(st, m) {
				continue
			}
			if d, ok := r.Demand(m, st); ok && len(d.Seconds.Values) >= MinVerdictTrials {
				zeros = append(zeros, offPathDemand{m, st, d})
			}
		}
	}
	var out []SanityCheck
	for _, z := range zeros {
		// Its demand must not be told apart from 0: above, CPU time is
		// charged to it that no request caused; below, the idle
		// background subtracted from it was larger than what it spent.
		lo, hi, level := zeroTest(z.d.Seconds.Values, len(zeros))
		c := SanityCheck{Check: fmt.Sprintf("%s in %s mode, where no packet passes it, has no demand told apart from 0", z.station, z.mode),
			Passed: lo <= 0 && hi >= 0,
			Detail: fmt.Sprintf("median %s ms per request; mean of %d trials %.3f ms, Student's t interval [%.3f, %.3f] at %.2f%%",
				msInterval(z.d.Seconds), len(z.d.Seconds.Values), 1000*(lo+hi)/2, 1000*lo, 1000*hi, 100*level)}
		switch {
		case lo > 0:
			c.Detail += ": CPU time is charged to a station that did nothing for these requests"
		case hi < 0:
			c.Detail += ": below 0, the idle background subtracted from it was not what it spent idle"
		case !c.Passed:
			c.Detail += ": a trial's demand is not a number"
		}
		out = append(out, c)
	}
	if c, ok := r.directorsCheck(); ok {
		out = append(out, c)
	}
	if sweep != nil {
		out = append(out, r.totalsChecks(sweep)...)
	}
	return out
}

// stationOffPath says whether every node of station st is off mode m's path.
func (r *Result) stationOffPath(st string, m topology.Mode) bool {
	for _, s := range r.Machine.Stations {
		if s.Name == st {
			return !slices.ContainsFunc(s.Nodes, func(n string) bool { return !slices.Contains(offPath[m], n) })
		}
	}
	return false
}

// directorsCheck: DR's director sees only requests, NAT's rewrites both
// ways, so DR's may not cost more; dearer means its whole interval lies
// above NAT's.
func (r *Result) directorsCheck() (SanityCheck, bool) {
	st := stationHolding(r.Machine, "director")
	if st == "" || r.Refusal(topology.ModeDR) != "" || r.Refusal(topology.ModeNAT) != "" {
		return SanityCheck{}, false
	}
	dr, ok1 := r.Demand(topology.ModeDR, st)
	nat, ok2 := r.Demand(topology.ModeNAT, st)
	if !ok1 || !ok2 {
		return SanityCheck{}, false
	}
	return SanityCheck{Check: "DR's director (requests only) is no dearer than NAT's (both ways)", Passed: dr.Seconds.Lo <= nat.Seconds.Hi,
		Detail: fmt.Sprintf("DR %s ms against NAT %s ms", msInterval(dr.Seconds), msInterval(nat.Seconds))}, true
}

// totalsChecks compares each mode's total demand over direct's, trial by
// trial, in r's light-load runs and in the single-CPU sweep's saturated
// measurements (Result.pathTrials): the stations must add up to what one
// CPU spent on the same path.
func (r *Result) totalsChecks(sweep *Result) []SanityCheck {
	if sweep.Config.Isolate || len(sweep.Config.Clients) == 0 {
		return nil
	}
	ratios := func(dt demandTrials, m topology.Mode) []float64 {
		var out []float64
		for _, t := range dt.sortedTrials(m) {
			a, b := sum(dt[m][t]), sum(dt[topology.ModeDirect][t])
			if a > 0 && b > 0 {
				out = append(out, a/b)
			}
		}
		return out
	}
	light, saturated := r.demandTrials(), sweep.pathTrials(sweep.demandTrials())
	var out []SanityCheck
	for _, m := range r.Config.Modes {
		if m == topology.ModeDirect || r.Refusal(m) != "" || r.Refusal(topology.ModeDirect) != "" {
			continue
		}
		a, b := ratios(light, m), ratios(saturated, m)
		if len(a) < MinVerdictTrials || len(b) < MinVerdictTrials {
			continue
		}
		// Judged from the intervals, as every verdict is: two medians
		// 1.51 times apart once failed a run whose intervals met.
		x, y := Estimated(a), Estimated(b)
		apart, gap := 1.0, "their intervals meet"
		switch {
		case x.Lo > y.Hi:
			apart = x.Lo / y.Hi
		case y.Lo > x.Hi:
			apart = y.Lo / x.Hi
		}
		if apart > 1 {
			gap = fmt.Sprintf("their intervals %.2f times apart at their nearest ends", apart)
		}
		out = append(out, SanityCheck{
			Check:  fmt.Sprintf("%s's stations add up to the single-CPU sweep's total, relative to direct's, within a factor of %g", m, maxTotalsApart),
			Passed: apart <= maxTotalsApart,
			Detail: fmt.Sprintf("%s times direct's in the stations run, %s at %d clients on one CPU: %s",
				x.Show("%.2f"), y.Show("%.2f"), slices.Max(sweep.Config.Clients), gap),
		})
	}
	return out
}

func sum(ds map[string]float64) float64 {
	s := 0.0
	for _, d := range ds {
		s += d
	}
	return s
}

// failedSanity are the failed checks' descriptions.
func failedSanity(cs []SanityCheck) []string {
	var out []string
	for _, c := range cs {
		if !c.Passed {
			out = append(out, fmt.Sprintf("failed: %s (%s)", c.Check, c.Detail))
		}
	}
	return out
}

// zeroTest is the interval of the mean of a station's per-trial demands
// that a demand of 0 falls outside of only by chance, at a level that
// keeps that chance at 1 − sanityConfidence for the run's zero checks together
// (Bonferroni). Not the reported interval of the median: from n values
// under SureTrials it is their range, which covers 1 − 2^(1−n) (75 % from
// three), so an idle station whose slopes scatter around 0 would fail a
// quarter of the time from three trials, and a run's four idle stations
// most runs.
// Student's t keeps its level at any n ≥ 2 for slopes near normal, as
// a difference of sums of many CPU-time samples is.
func zeroTest(values []float64, checks int) (lo, hi, level float64) {
	level = 1 - (1-sanityConfidence)/float64(max(1, checks))
	mean, sd := stat.MeanStdDev(values, nil)
	n := float64(len(values))
	if len(values) < 2 || math.IsNaN(sd) {
		return mean, mean, level
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(1 - (1-level)/2)
	half := t * sd / math.Sqrt(n)
	return mean - half, mean + half, level
}
