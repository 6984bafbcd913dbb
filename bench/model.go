//go:build linux

package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

// The model: what the light-load runs predict, made before the sweep ran
// and compared with it afterwards. A closed system of n clients obeys the
// asymptotic bounds X(n) ≤ min(n/(D+Z), 1/D_max) (Lazowska et al.,
// Quantitative System Performance, ch. 5), with D the total demand, Z the
// time a request spends outside the stations' CPUs (Z = R(1) − D, from the
// single-client run, so n/(D+Z) = n/R(1)) and D_max the bottleneck's
// demand per unit of its capacity. A prediction from the saturated run
// itself would be no prediction: there 1/D_max = X/U_max equals X by
// construction.

// PaperServers is the number of real servers of the paper's lab.
const PaperServers = 8

// PaperRatio is the paper's LVS-NAT over direct: 1,790 ÷ 7,116.
const PaperRatio = float64(PaperNATConnsPerSec) / PaperDirectConnsPerSec

// Model is what a result's light-load runs predict.
type Model struct {
	Modes []ModeBound `json:"modes"`
	// Paths is the added demand of each path, with the reference that
	// isolates it; PathsFrom says which runs it comes from.
	Paths     []PathCost `json:"paths,omitempty"`
	PathsFrom string     `json:"paths_from,omitempty"`
	// Paper is the paper's hardware predicted from per-station demands
	// (runs under the machine model only).
	Paper *PaperHardware `json:"paper,omitempty"`
}

// HostStation names the bound every vCPU shares: the host's own CPUs.
const HostStation = "host CPUs"

// ModeBound is one mode's bounds.
type ModeBound struct {
	Mode topology.Mode `json:"mode"`
	// R1 is the time per request with one client (1/X(1)), DTotal the
	// stations' demands added up (median), Z = R1 − DTotal; in seconds.
	R1     float64 `json:"r1_s"`
	DTotal float64 `json:"d_total_s"`
	Z      float64 `json:"z_s"`
	// Bottleneck is the station with the largest demand per capacity.
	Bottleneck string `json:"bottleneck"`
	// Ceiling is 1/D_max in requests/s, over the light-load trials.
	Ceiling Estimate `json:"ceiling"`
	// LightBusy is the busiest station's utilization under light load;
	// the prediction holds only if it is at most MaxLightShare.
	LightBusy float64 `json:"light_busy"`
	// Refused says why no bound is predicted (Result.Refusal); Ceiling,
	// Bottleneck and Check are then empty.
	Refused string `json:"refused,omitempty"`
	// Check compares the sweep's highest client count with the bound.
	Check *BoundCheck `json:"check,omitempty"`
	// LightSwitches and SweepSwitches are the machine's context switches
	// per request in the heavier light-load runs and in the sweep's
	// highest client count (medians): work a saturated machine batches,
	// a lightly loaded one pays for request by request.
	LightSwitches float64 `json:"light_switches_per_request,omitempty"`
	SweepSwitches float64 `json:"sweep_switches_per_request,omitempty"`
}

// switchesPerRequest is the median context switches per request of the
// trials keep accepts.
func switchesPerRequest(trials []Trial, keep func(Trial) bool) float64 {
	var v []float64
	for _, t := range trials {
		if keep(t) && t.Requests > t.Errors && t.Switches > 0 {
			v = append(v, float64(t.Switches)/float64(t.Requests-t.Errors))
		}
	}
	if len(v) == 0 {
		return 0
	}
	return median(v)
}

// Bound is the predicted most requests/s with n clients (median).
func (b ModeBound) Bound(n int) float64 {
	x := b.Ceiling.Median
	if b.R1 > 0 {
		x = min(x, float64(n)/b.R1)
	}
	return x
}

// BoundCheck is the sweep's measurement at one client count against the
// bound predicted for it.
type BoundCheck struct {
	Clients  int      `json:"clients"`
	Measured Estimate `json:"measured"`
	Bound    Estimate `json:"bound"`
	// Off is measured over bound, minus one (medians).
	Off     float64 `json:"off"`
	Verdict string  `json:"verdict"`
}

// PathCost is the demand one path adds, as a difference of two modes'
// total demands, trial by trial.
type PathCost struct {
	Path      string        `json:"path"`
	Mode      topology.Mode `json:"mode"`
	Reference topology.Mode `json:"reference"`
	// Seconds is the added CPU time per request; Share that over the
	// mode's total demand.
	Seconds Estimate `json:"seconds"`
	Share   Estimate `json:"share"`
}

// PaperHardware is "one director and N real servers, each a machine of
// the speed of one of this run's stations", from the light-load demands.
type PaperHardware struct {
	Servers  int    `json:"servers"`
	Director string `json:"director_station"`
	Farm     string `json:"servers_station"`
	// Ratios is each mode's ceiling over direct's.
	Ratios []ModeEstimate `json:"ratios"`
	// PerDirector is how many real servers one director can feed before it
	// saturates (servers' demand over the director's).
	PerDirector []ModeEstimate `json:"servers_per_director"`
	Note        string         `json:"note,omitempty"`
}

// ModeEstimate is one mode's estimate.
type ModeEstimate struct {
	Mode     topology.Mode `json:"mode"`
	Estimate Estimate      `json:"estimate"`
}

// Summarise computes the points, demands and model of a result (and of
// its stations run) from its measurements.
func (r *Result) Summarise() {
	r.Points = Summarise(r)
	r.Demands = r.summariseDemands()
	r.Model = r.model()
	if r.Stations != nil {
		r.Stations.Summarise()
	}
	if r.Capped != nil {
		r.Capped.Summarise()
	}
	r.Physical = r.physicalOf()
	f := &Finding{}
	f.Verdict, f.Reason = r.Verdict()
	if st := r.perStation(); st != nil {
		var sweep *Result
		if st != r {
			sweep = r
		}
		f.Sanity = st.Sanity(sweep)
	}
	r.Finding = f
}

// Finding is the verdict on the paper's finding as results.json records
// it, so that runs can be compared without reading their summaries.
type Finding struct {
	Verdict string        `json:"verdict"`
	Reason  string        `json:"reason"`
	Sanity  []SanityCheck `json:"sanity,omitempty"`
}

func (r *Result) model() *Model {
	if len(r.Demands) == 0 {
		return nil
	}
	dt := r.demandTrials()
	md := &Model{}
	for _, m := range r.Config.Modes {
		if b, ok := r.bound(m, dt); ok {
			md.Modes = append(md.Modes, b)
		}
	}
	md.Paths, md.PathsFrom = r.paths(r.pathTrials(dt)), "light load, the stations' demands added up"
	if !r.Config.Isolate && len(r.Config.Clients) > 0 {
		md.PathsFrom = fmt.Sprintf("the sweep at %d clients, the CPU time per request of a saturated machine", slices.Max(r.Config.Clients))
	}
	md.Paper = r.paperHardware(dt)
	return md
}

// bound is one mode's asymptotic bounds from its light-load demands.
func (r *Result) bound(m topology.Mode, dt demandTrials) (ModeBound, bool) {
	b := ModeBound{Mode: m}
	if len(dt[m]) == 0 && !slices.ContainsFunc(r.Light, func(t Trial) bool { return t.Mode == m }) {
		return b, false
	}
	for _, d := range r.Demands {
		if d.Mode == m {
			b.DTotal += d.Seconds.Median
			b.LightBusy = max(b.LightBusy, d.Busy)
		}
	}
	for _, t := range r.Latency {
		if t.Mode == m && t.RequestsPerSec > 0 {
			b.R1 = 1 / t.RequestsPerSec
			b.Z = b.R1 - b.DTotal
		}
	}
	if b.Refused = r.Refusal(m); b.Refused != "" {
		return b, true
	}
	// A station whose median demand's interval reaches 0 (an idle
	// station's noise, such as the director's in direct mode) bounds
	// nothing, however small its capacity. Stations off the path get a
	// test of their own in the sanity checks (Sanity).
	negligible := map[string]bool{}
	for _, d := range r.Demands {
		if d.Mode == m && d.Seconds.Lo <= 0 {
			negligible[d.Station] = true
		}
	}
	var ceilings []float64
	worst := map[string]int{}
	for _, t := range dt.sortedTrials(m) {
		ceiling, total, by := math.Inf(1), 0.0, ""
		for _, st := range stationNames(r.Machine) { // in order: a tie goes to the first
			d, ok := dt[m][t][st]
			if !ok {
				continue
			}
			total += d
			if c := r.Machine.Capacity(st); d > 0 && !negligible[st] && c/d < ceiling {
				ceiling, by = c/d, st
			}
		}
		if h := r.Machine.HostCPUs; h > 0 && r.Machine.Source == SourceVCPU && total > 0 && float64(h)/total < ceiling {
			ceiling, by = float64(h)/total, HostStation
		}
		if !math.IsInf(ceiling, 1) {
			ceilings = append(ceilings, ceiling)
			worst[by]++
		}
	}
	if len(ceilings) < MinVerdictTrials {
		b.Refused = fmt.Sprintf("%s: only %d light-load trial(s) had a station whose demand bounds anything", m, len(ceilings))
		return b, true
	}
	b.Ceiling = Estimated(ceilings)
	for st, n := range worst {
		if n > worst[b.Bottleneck] || (n == worst[b.Bottleneck] && st < b.Bottleneck) {
			b.Bottleneck = st
		}
	}
	b.Check = r.check(b, ceilings)
	b.LightSwitches = switchesPerRequest(r.Light, func(t Trial) bool { return t.Mode == m && t.Level == 2 })
	if b.Check != nil {
		b.SweepSwitches = switchesPerRequest(r.Trials, func(t Trial) bool { return t.Mode == m && t.Clients == b.Check.Clients })
	}
	return b, true
}

// check compares the sweep's highest client count with the bound.
func (r *Result) check(b ModeBound, ceilings []float64) *BoundCheck {
	if len(r.Config.Clients) == 0 {
		return nil
	}
	n := slices.Max(r.Config.Clients)
	p, ok := r.Point(b.Mode, n)
	if !ok {
		return nil
	}
	var bounds []float64
	for _, c := range ceilings {
		x := c
		if b.R1 > 0 {
			x = min(x, float64(n)/b.R1)
		}
		bounds = append(bounds, x)
	}
	c := &BoundCheck{Clients: n, Measured: p.RequestsPerSec, Bound: Estimated(bounds)}
	c.Off = c.Measured.Median/c.Bound.Median - 1
	switch {
	case !c.Bound.Sure():
		c.Verdict = fmt.Sprintf("inconclusive: the bound rests on light-load trials, and %s", c.Bound.Unsure())
	case !c.Measured.Sure():
		c.Verdict = fmt.Sprintf("inconclusive: the measurement rests on trials, and %s", c.Measured.Unsure())
	case !(c.Bound.Lo > 0 && c.Bound.Hi <= maxBoundSpread*c.Bound.Lo):
		// An interval that wide overlaps nearly any measurement: it would
		// pass what it did not check.
		c.Verdict = fmt.Sprintf("inconclusive: the bound's interval [%.0f, %.0f] spans more than a factor of %g (more light-load trials, or a rate the stations feel)",
			c.Bound.Lo, c.Bound.Hi, maxBoundSpread)
	case c.Measured.Hi >= c.Bound.Lo && c.Measured.Lo <= c.Bound.Hi:
		c.Verdict = "as predicted (the intervals overlap)"
	case c.Off > 0:
		c.Verdict = fmt.Sprintf("%.0f%% above the bound", 100*c.Off)
	default:
		c.Verdict = fmt.Sprintf("%.0f%% below the bound", -100*c.Off)
	}
	return c
}

// maxBoundSpread is how many times its low end a predicted bound's
// interval may reach and still be checked against the sweep.
const maxBoundSpread = 2.0

// pathTrials is what the paths' costs are measured from. On one station
// (no machine model) the sweep's highest client count, where the machine
// is saturated and its CPU time per request is each mode's whole cost
// (1/X on one CPU): more precise than light load, whose demands also hold
// the cost of going idle and waking request by request. Under the model,
// the stations' light-load demands added up.
func (r *Result) pathTrials(light demandTrials) demandTrials {
	if r.Config.Isolate || len(r.Config.Clients) == 0 {
		return light
	}
	n := slices.Max(r.Config.Clients)
	out := demandTrials{}
	for _, t := range r.Trials {
		served := float64(t.Requests - t.Errors)
		if t.Clients != n || served <= 0 || len(t.Stations) == 0 {
			continue
		}
		if out[t.Mode] == nil {
			out[t.Mode] = map[int]map[string]float64{}
		}
		out[t.Mode][t.Trial] = map[string]float64{}
		for _, u := range t.Stations {
			out[t.Mode][t.Trial][u.Station] = u.CPUSeconds / served
		}
	}
	if len(out) == 0 {
		return light
	}
	return out
}

// paths is the demand each path adds: IPVS's own cost is a balanced mode
// less routed (the director forwarding without a virtual service); the
// extra hop is routed less direct (which also has the client on the real
// servers' segment: one bridge hop and the router fewer).
func (r *Result) paths(dt demandTrials) []PathCost {
	total := func(m topology.Mode, t int) (float64, bool) {
		ds, ok := dt[m][t]
		s := 0.0
		for _, d := range ds {
			s += d
		}
		return s, ok && s > 0
	}
	diff := func(path string, m, ref topology.Mode) (PathCost, bool) {
		var secs, shares []float64
		for _, t := range dt.sortedTrials(m) {
			a, ok1 := total(m, t)
			b, ok2 := total(ref, t)
			if ok1 && ok2 {
				secs = append(secs, a-b)
				shares = append(shares, (a-b)/a)
			}
		}
		if len(secs) == 0 {
			return PathCost{}, false
		}
		return PathCost{Path: path, Mode: m, Reference: ref, Seconds: Estimated(secs), Share: Estimated(shares)}, true
	}
	var out []PathCost
	for _, c := range []struct {
		path   string
		m, ref topology.Mode
	}{
		{"IPVS in NAT (rewriting both directions)", topology.ModeNAT, topology.ModeRouted},
		{"IPVS in DR (requests only)", topology.ModeDR, topology.ModeRouted},
		{"IPVS in TUN, with IP-in-IP on the real servers", topology.ModeTUN, topology.ModeRouted},
		{"the extra hop (director as a router, a bridge hop, the router)", topology.ModeRouted, topology.ModeDirect},
	} {
		if p, ok := diff(c.path, c.m, c.ref); ok {
			out = append(out, p)
		}
	}
	return out
}

// paperHardware predicts the paper's lab from per-station demands: one
// director and PaperServers real servers, each a machine as fast as one of
// this run's stations, the clients never the limit. A mode's ceiling is
// min(1/D_director, N/D_servers); direct's is N/D_servers(direct).
func (r *Result) paperHardware(dt demandTrials) *PaperHardware {
	if r.Machine == nil {
		return nil
	}
	dir, farm := stationHolding(r.Machine, "director"), stationHolding(r.Machine, "rs1")
	if dir == "" || farm == "" || dir == farm {
		return nil
	}
	ph := &PaperHardware{Servers: PaperServers, Director: dir, Farm: farm}
	if farm != "servers" {
		ph.Note = fmt.Sprintf("the real servers share station %s: its demand stands for the servers'", farm)
	}
	n := float64(PaperServers)
	if r.Refusal(topology.ModeDirect) != "" {
		return nil // every ratio is over direct's
	}
	for _, m := range r.Config.Modes {
		if r.Refusal(m) != "" {
			continue
		}
		var ratios, per []float64
		for _, t := range dt.sortedTrials(m) {
			dd, ds := dt[m][t][dir], dt[m][t][farm]
			direct, ok := dt[topology.ModeDirect][t]
			if !ok || direct[farm] <= 0 || ds <= 0 {
				continue
			}
			ceiling := n / ds
			if dd > 0 {
				ceiling = min(ceiling, 1/dd)
			}
			ratios = append(ratios, ceiling/(n/direct[farm]))
			if m.Balanced() && dd > 0 {
				per = append(per, ds/dd)
			}
		}
		if len(ratios) > 0 && m != topology.ModeDirect {
			ph.Ratios = append(ph.Ratios, ModeEstimate{Mode: m, Estimate: Estimated(ratios)})
		}
		if len(per) > 0 {
			ph.PerDirector = append(ph.PerDirector, ModeEstimate{Mode: m, Estimate: Estimated(per)})
		}
	}
	if len(ph.Ratios) == 0 {
		return nil
	}
	return ph
}

// Bound returns the model's bounds of a mode.
func (md *Model) Bound(m topology.Mode) (ModeBound, bool) {
	if md == nil {
		return ModeBound{}, false
	}
	for _, b := range md.Modes {
		if b.Mode == m {
			return b, true
		}
	}
	return ModeBound{}, false
}

// Verdicts on the paper's finding (gate rows have Verdict* of their own).
const (
	// FindingPhysical: in the capped run, whose director is capped at one
	// real server's share derived in the same benchmark (DeriveCap), NAT's
	// ratio to direct at the top client count has its whole interval at or
	// below the paper's and the director is the bottleneck.
	FindingPhysical = "reproduced physically"
	// FindingConsistent: NAT's ratio, predicted for the paper's hardware,
	// has an interval that spans at most a factor of maxVerdictSpread and
	// reaches the paper's ratio or below it (the paper gives an upper
	// bound: NAT at most 1,790 conn/s where direct took more than 7,116).
	FindingConsistent    = "consistent with the paper"
	FindingNotReproduced = "not reproduced"
	FindingInconclusive  = "inconclusive"
)

// maxVerdictSpread is how many times its low end an interval may reach
// and still carry a verdict of "consistent": a wider one agrees with
// nearly any ratio.
const maxVerdictSpread = 2.0

// judgeRatio judges NAT's ratio to direct by its interval, never by its
// median alone: three runs of the same code once gave medians of 0.41,
// 0.33 and 0.24, and the last was read as a reproduction, though each
// interval spanned a factor of 2 to 4.
func judgeRatio(e Estimate, what string) (string, string) {
	show := fmt.Sprintf("%s gives NAT %s of direct", what, e.Show("%.3f"))
	switch {
	case !e.Sure():
		return FindingInconclusive, fmt.Sprintf("%s: too few to judge, %s (more light-load trials)", show, e.Unsure())
	case e.Lo > PaperRatio:
		return FindingNotReproduced, fmt.Sprintf("%s, wholly above the paper's %.2f", show, PaperRatio)
	case !(e.Lo > 0 && e.Hi <= maxVerdictSpread*e.Lo):
		return FindingInconclusive, fmt.Sprintf("%s: it reaches the paper's %.2f or below but spans more than a factor of %g, so it agrees with nearly anything; more light-load trials, or the capped run, would decide it",
			show, PaperRatio, maxVerdictSpread)
	}
	return FindingConsistent, fmt.Sprintf("%s, an interval within a factor of %g that reaches the paper's %.2f", show, maxVerdictSpread, PaperRatio)
}

// perStation is the result whose stations ran on CPUs of their own: the
// stations run, or r itself under the machine model.
func (r *Result) perStation() *Result {
	if r.Stations != nil {
		return r.Stations
	}
	if r.Config.Isolate {
		return r
	}
	return nil
}

// Verdict says whether a result reproduces the paper's finding (LVS-NAT
// flat at the director's limit, at most PaperRatio of direct), and why,
// from intervals. A capped run with its cap derived in the run measures
// the finding itself, so it decides when it has enough trials, and the
// prediction for the paper's hardware is stated beside it; without one
// the prediction decides (predictedVerdict).
func (r *Result) Verdict() (string, string) {
	var reasons []string
	if m := r.measuredReason(); m != "" {
		reasons = append(reasons, m)
	}
	p := r.Physical
	if !p.decides() {
		v, why := r.predictedVerdict()
		return v, joinReasons(append(reasons, why))
	}
	v := p.verdict()
	reasons = append(reasons, p.Statement)
	if v == FindingInconclusive {
		reasons = append(reasons, fmt.Sprintf("its interval reaches the paper's %.2f but spans more than a factor of %g: more capped trials would decide it", PaperRatio, maxVerdictSpread))
	}
	pv, why := r.predictedVerdict()
	return v, joinReasons(append(reasons, "beside it, the prediction for the paper's hardware, "+pv+": "+why))
}

// decides says whether a capped run measured NAT's ratio in enough
// trials to decide the verdict: an interval at Confidence.
func (p *Physical) decides() bool {
	return p != nil && p.Ratio != nil && p.Ratio.Sure()
}

// verdict judges the capped run's measured ratio by the rules a
// prediction is judged by (judgeRatio), "reproduced physically" first:
// its whole interval at or below the paper's with the director the
// bottleneck (Physical.judge).
func (p *Physical) verdict() string {
	switch {
	case p.Reproduced:
		return FindingPhysical
	case p.Ratio.Lo > PaperRatio:
		return FindingNotReproduced
	case p.Ratio.Lo > 0 && p.Ratio.Hi <= maxVerdictSpread*p.Ratio.Lo:
		return FindingConsistent
	}
	return FindingInconclusive
}

// predictedVerdict judges NAT's ratio predicted for the paper's hardware
// from per-station demands (judgeRatio). Demands that fail a sanity check
// make it inconclusive, whatever they predict.
func (r *Result) predictedVerdict() (string, string) {
	var reasons []string
	st := r.perStation()
	if st == nil {
		if r.Physical != nil {
			reasons = append(reasons, r.Physical.Statement)
		}
		return FindingInconclusive, joinReasons(append(reasons, "no per-station demands (the stations run, or --isolate) to predict the paper's hardware from"))
	}
	var sweep *Result
	if st != r {
		sweep = r
	}
	if failed := failedSanity(st.Sanity(sweep)); len(failed) > 0 {
		return FindingInconclusive, joinReasons(append(reasons, failed...))
	}
	if !r.Physical.decides() {
		reasons = append(reasons, r.physicalReason(st))
	}
	for _, m := range []topology.Mode{topology.ModeNAT, topology.ModeDirect} {
		if why := st.Refusal(m); why != "" && slices.Contains(st.Config.Modes, m) {
			return FindingInconclusive, joinReasons(append(reasons, "no prediction for the paper's hardware: "+why))
		}
	}
	if st.Model != nil && st.Model.Paper != nil {
		for _, e := range st.Model.Paper.Ratios {
			if e.Mode != topology.ModeNAT {
				continue
			}
			v, why := judgeRatio(e.Estimate, fmt.Sprintf("the paper's hardware predicted from per-station demands (one director, %d real servers, each one station's speed)", PaperServers))
			if v == FindingNotReproduced {
				why += st.slowerDirector()
			}
			return v, joinReasons(append(reasons, why))
		}
	}
	return FindingInconclusive, joinReasons(append(reasons, "no NAT ratio predicted for the paper's hardware (NAT, direct and the director's and servers' stations are needed)"))
}

// physicalReason is what the capped run showed, short of the physical
// verdict, or why no physical verdict is made: it needs a run whose
// director is capped at one real server's share of the servers' station,
// derived in the same benchmark (st: the run with stations). A cap given
// by --cap is a choice, not that derivation.
func (r *Result) physicalReason(st *Result) string {
	if r.Physical != nil {
		return r.Physical.Statement
	}
	if st.Machine != nil {
		if c, ok := st.Machine.Caps[stationHolding(st.Machine, "director")]; ok {
			return fmt.Sprintf("the director was capped at %g of a host CPU by --cap, a choice rather than one real server's share derived in the run: the physical verdict is not made", c)
		}
	}
	return "no capped run (the director's vCPU capped at one real server's share of the servers' station): the physical verdict is not made"
}

// measuredReason states NAT's measured ratio at the sweep's highest
// client count, which judges nothing on its own: on one CPU every station
// shares it, so the ratio measures costs, not capacity.
func (r *Result) measuredReason() string {
	s := r.measuredRatio()
	if s == "" {
		return ""
	}
	if !r.Config.Isolate {
		s += ", where every station shares the CPU: costs, not capacity"
	}
	return "measured, NAT ÷ direct on a " + s
}

// slowerDirector says how many times slower, relative to one real
// server, the director would have to be for NAT to fall to the paper's
// ratio: N·D_director/D_servers = PaperRatio, from the real servers one
// director feeds.
func (r *Result) slowerDirector() string {
	for _, e := range r.Model.Paper.PerDirector {
		if e.Mode != topology.ModeNAT || len(e.Estimate.Values) < MinVerdictTrials {
			continue
		}
		var f []float64
		for _, v := range e.Estimate.Values {
			f = append(f, v/(PaperServers*PaperRatio))
		}
		return fmt.Sprintf("; the director would have to be %s times slower, relative to one real server, to give the paper's %.2f",
			Estimated(f).Show("%.1f"), PaperRatio)
	}
	return ""
}

// MinVerdictTrials is the fewest trials a verdict rests on.
const MinVerdictTrials = 3

func joinReasons(r []string) string { return strings.Join(r, "; ") }
