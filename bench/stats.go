//go:build linux

package bench

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"golang.org/x/perf/benchmath"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/combin"

	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// Confidence is the level an interval must reach to decide a verdict;
// an interval from fewer trials says its own (Estimate.Level).
const Confidence = 0.95

// bootstrapResamples is enough for a stable 95 % percentile interval; the
// generator is seeded, so the same data always gives the same interval.
const bootstrapResamples = 4000

// Estimate is a sample summarised by its median, a confidence interval of
// the median and its coefficient of variation.
type Estimate struct {
	Median float64 `json:"median"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	// Level is the probability that [Lo, Hi] holds the true median: at
	// least Confidence from SureTrials values on, less from fewer.
	Level  float64   `json:"level"`
	CV     float64   `json:"cv"`
	Values []float64 `json:"values"`
}

// SureTrials is the fewest values whose interval of the median reaches
// Confidence without assuming their distribution: their range holds the
// median with probability 1 − 2·½ⁿ, 96.9 % from six, 75 % from three.
const SureTrials = 6

// Estimated summarises values (in any order). The interval is the order
// statistics' interval of the median (benchmath's, as benchstat's), whose
// level holds whatever the values' distribution; from fewer than
// SureTrials values it is their range, at the lower level the range has.
func Estimated(values []float64) Estimate {
	e := Estimate{Values: slices.Clone(values)}
	if len(values) == 0 {
		return e
	}
	// NewSample sorts the slice it is given: the caller's stays in order.
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(values), &benchmath.DefaultThresholds), Confidence)
	e.Median, e.Lo, e.Hi, e.Level = s.Center, s.Lo, s.Hi, s.Confidence
	if math.IsInf(e.Lo, 0) || math.IsInf(e.Hi, 0) {
		e.Lo, e.Hi = slices.Min(values), slices.Max(values)
		e.Level = max(0, 1-2*math.Pow(0.5, float64(len(values))))
	}
	if mean, sd := stat.MeanStdDev(values, nil); len(values) > 1 && mean != 0 {
		e.CV = sd / mean
	}
	return e
}

// intervalsAre is how reports name the intervals Estimated gives.
const intervalsAre = "intervals of the median from order statistics (as benchstat's), at 95 % or more from 6 trials; from fewer, the trials' range, marked with the level it has (75 % from 3)"

// Sure says whether the estimate's interval reaches Confidence: only such
// an interval may decide a verdict.
func (e Estimate) Sure() bool { return e.Level >= Confidence }

// Unsure says why an estimate cannot decide a verdict ("" if it can):
// "3 trials give only a 75 % range; 6 give a 95 % interval".
func (e Estimate) Unsure() string {
	if e.Sure() {
		return ""
	}
	return fmt.Sprintf("%d trial(s) give only a %.0f %% range; %d give a %.0f %% interval", len(e.Values), 100*e.Level, SureTrials, 100*Confidence)
}

// Interval writes the estimate's interval, each end with the verb f
// ("%.3f"), and its level when below Confidence; from fewer than
// MinVerdictTrials values it says how few there were: the range of one
// value has zero width, and of two, a level of one half, either of which
// would read as certainty.
func (e Estimate) Interval(f string) string {
	if len(e.Values) < MinVerdictTrials {
		return fmt.Sprintf("(%d trial(s), no interval)", len(e.Values))
	}
	return fmt.Sprintf("["+f+", "+f+"]", e.Lo, e.Hi) + levelNote(e)
}

// levelNote is " (75 %)" for an interval below Confidence, else "".
func levelNote(e Estimate) string {
	if e.Sure() || len(e.Values) < MinVerdictTrials {
		return ""
	}
	return fmt.Sprintf(" (%.0f %%)", 100*e.Level)
}

// Show writes the median and its interval: Show("%.3f") "0.250 [0.2, 0.3]".
func (e Estimate) Show(f string) string {
	return fmt.Sprintf(f, e.Median) + " " + e.Interval(f)
}

// bootstrap returns the Confidence percentile interval of a statistic
// computed on resamples: the gate's interval of a change between two
// samples, which benchmath does not give.
func bootstrap(statistic func(rng *rand.Rand) float64) (lo, hi float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	stats := make([]float64, bootstrapResamples)
	for i := range stats {
		stats[i] = statistic(rng)
	}
	slices.Sort(stats)
	// Efron's percentile interval: the B·tail-th and B·(1-tail)-th of the
	// B ordered statistics, which is stat.Empirical's quantile.
	tail := (1 - Confidence) / 2
	return stat.Quantile(tail, stat.Empirical, stats, nil), stat.Quantile(1-tail, stat.Empirical, stats, nil)
}

// resampler draws resamples of values with replacement and gives their
// medians. A resample is counted, not built and sorted: values are sorted
// once, and a resample's median found by walking its counts, in O(n), so
// a bootstrap of MaxTrials values takes milliseconds; the draws are the
// same as drawing values one by one, and so are the medians.
type resampler struct {
	values []float64
	order  []int // indices of values, by value
	counts []int // by index: how often the resample drew it
}

func newResampler(values []float64) *resampler {
	order := make([]int, len(values))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(values[a], values[b]) })
	return &resampler{values: values, order: order, counts: make([]int, len(values))}
}

// median draws a resample and returns its median.
func (r *resampler) median(rng *rand.Rand) float64 {
	n := len(r.values)
	clear(r.counts)
	for range n {
		r.counts[rng.IntN(n)]++
	}
	// The resample's values at ranks (n-1)/2 and n/2: one value when n
	// is odd.
	lo, hi := (n-1)/2, n/2
	var atLo float64
	seen := 0
	for _, i := range r.order {
		c := r.counts[i]
		if seen <= lo && lo < seen+c {
			atLo = r.values[i]
		}
		if seen <= hi && hi < seen+c {
			return (atLo + r.values[i]) / 2
		}
		seen += c
	}
	return math.NaN() // no values
}

// median is the sample median: the middle value, or the mean of the two
// middle ones. Hand-written: none of gonum's quantile estimators gives it
// (stat.Empirical takes the lower of the two middle values, stat.LinInterp
// puts the median of 1, 2 and 3 at 1.5).
func median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Point summarises one mode at one client count over all trials.
type Point struct {
	Mode           topology.Mode `json:"mode"`
	Clients        int           `json:"clients"`
	RequestsPerSec Estimate      `json:"requests_per_s"`
	// Ratio is requests/s over direct's in the same trial; nil for direct
	// itself and when direct was not measured.
	Ratio *Estimate `json:"ratio_to_direct,omitempty"`
	// P99 is the median over trials of each trial's 99th percentile.
	P99    float64 `json:"p99_ms"`
	Errors int64   `json:"errors"`
	// LoadgenBound counts the trials the load generator limited.
	LoadgenBound int `json:"loadgen_bound_trials,omitempty"`
}

// Summarise turns a result's trials into points, in the order of the
// configured client counts and modes. Ratios pair each trial with direct's
// trial at the same client count, measured seconds apart.
func Summarise(r *Result) []Point {
	type key struct {
		mode    topology.Mode
		clients int
	}
	trials := map[key][]Trial{}
	for _, t := range r.Trials {
		k := key{t.Mode, t.Clients}
		trials[k] = append(trials[k], t)
	}
	var out []Point
	for _, c := range r.Config.Clients {
		direct := map[int]float64{}
		for _, t := range trials[key{topology.ModeDirect, c}] {
			direct[t.Trial] = t.RequestsPerSec
		}
		for _, m := range r.Config.Modes {
			ts := trials[key{m, c}]
			if len(ts) == 0 {
				continue
			}
			p := Point{Mode: m, Clients: c}
			var rps, ratios, p99 []float64
			for _, t := range ts {
				rps = append(rps, t.RequestsPerSec)
				p99 = append(p99, t.Latency.P99)
				p.Errors += t.Errors
				if t.LoadgenBound {
					p.LoadgenBound++
				}
				if d, ok := direct[t.Trial]; ok && d > 0 && m != topology.ModeDirect {
					ratios = append(ratios, t.RequestsPerSec/d)
				}
			}
			p.RequestsPerSec = Estimated(rps)
			p.P99 = median(p99)
			if len(ratios) > 0 {
				e := Estimated(ratios)
				p.Ratio = &e
			}
			out = append(out, p)
		}
	}
	return out
}

// Point returns the summary of one mode at one client count.
func (r *Result) Point(m topology.Mode, clients int) (Point, bool) {
	for _, p := range r.Points {
		if p.Mode == m && p.Clients == clients {
			return p, true
		}
	}
	return Point{}, false
}

// smallestP is the smallest two-sided p-value the exact Mann–Whitney U
// test can give for samples of n1 and n2 values: the two samples wholly
// apart, one of the C(n1+n2, n1) equally likely orderings at either end.
// With 3 and 3 it is 0.1, so no difference can be significant at 0.05.
func smallestP(n1, n2 int) float64 {
	if n1 < 1 || n2 < 1 {
		return 1
	}
	return min(1, 2/combin.GeneralizedBinomial(float64(n1+n2), float64(n1)))
}

// maxRate bounds a plausible requests/s: far above what one host serves,
// low enough that a ratio of two rates stays finite.
const maxRate = 1e9

// checkTrials refuses trials no benchmark could have measured: a rate that
// is negative or absurd, a mode or client count outside the configuration,
// or the same trial twice (copied lines would look like certainty).
func checkTrials(r *Result) error {
	type key struct {
		mode           topology.Mode
		clients, trial int
	}
	seen := map[key]bool{}
	var errs []error
	// Trials are numbered from 1 to Config.Trials (TopTrials at the top
	// client count), at most MaxTrials: a point of more is no run lvslab
	// bench made, and the gate's bootstrap of it would take minutes.
	if r.Config.Trials < 0 || r.Config.Trials > MaxTrials || r.Config.TopTrials < 0 || r.Config.TopTrials > MaxTrials {
		errs = append(errs, fmt.Errorf("config trials %d (%d at the top client count): a benchmark has 0 to %d", r.Config.Trials, r.Config.TopTrials, MaxTrials))
	}
	for i, t := range r.Latency {
		if err := checkMeasurement(t); err != nil {
			errs = append(errs, fmt.Errorf("latency run %d (%s): %w", i+1, t.Mode, err))
		}
	}
	for i, t := range r.Light {
		if err := checkMeasurement(t); err != nil {
			errs = append(errs, fmt.Errorf("light-load run %d (%s): %w", i+1, t.Mode, err))
		}
	}
	for i, t := range r.Trials {
		at := fmt.Sprintf("trial %d (%s at %d clients, trial %d)", i+1, t.Mode, t.Clients, t.Trial)
		if !(t.RequestsPerSec >= 0 && t.RequestsPerSec <= maxRate) {
			errs = append(errs, fmt.Errorf("%s: requests_per_s %g is not a rate (0 to %g)", at, t.RequestsPerSec, float64(maxRate)))
		}
		if t.Trial < 1 || t.Trial > r.Config.trialsAt(t.Clients) {
			errs = append(errs, fmt.Errorf("%s: trial number %d is not one of the config's 1 to %d", at, t.Trial, r.Config.trialsAt(t.Clients)))
		}
		if err := checkMeasurement(t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
		}
		if !slices.Contains(r.Config.Modes, t.Mode) || !slices.Contains(r.Config.Clients, t.Clients) {
			errs = append(errs, fmt.Errorf("%s: mode or client count is not in the result's config (modes %v, clients %v)", at, r.Config.Modes, r.Config.Clients))
		}
		k := key{t.Mode, t.Clients, t.Trial}
		if seen[k] {
			errs = append(errs, fmt.Errorf("%s appears twice: a result holds each trial once", at))
		}
		seen[k] = true
		if len(errs) >= 5 {
			errs = append(errs, errors.New("…"))
			break
		}
	}
	return errors.Join(errs...)
}

// checkMeasurement refuses counts and latencies no measurement gives: a
// limit such as max_errors: 0 would hold for -1e12 errors.
func checkMeasurement(t Trial) error {
	if t.Requests < 0 || t.Errors < 0 {
		return fmt.Errorf("requests %d and errors %d: counts are 0 or more", t.Requests, t.Errors)
	}
	l := t.Latency
	for _, v := range []float64{l.Min, l.Mean, l.P50, l.P90, l.P99, l.P999, l.Max} {
		if !(v >= 0 && v <= float64(loadgen.MaxDuration/time.Millisecond)) {
			return fmt.Errorf("a latency of %g ms: latencies are 0 to %s", v, loadgen.MaxDuration)
		}
	}
	return nil
}
