//go:build linux

package bench

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

// Service demand (operational analysis: Denning and Buzen, "The
// operational analysis of queueing network models", 1978; Lazowska et al.,
// Quantitative System Performance, ch. 3): a station's demand D is the CPU
// time it spends per request. The utilization law D = U/X charges every
// busy moment to the requests; but a lightly loaded station also spends
// CPU whatever the rate (under TCG the idle loop, timers and the Go
// runtimes' polling cost a few per cent of a CPU, more than an idle window
// shows), and at light load that background would be charged to the few
// requests there are. So each light-load trial runs every mode at two
// rates, and a station's demand is the slope between them, U = B + X·D:
// D = (U₂ − U₁)/(X₂ − X₁), its CPU time per second over the throughput
// (utilization regressed on throughput: Rolia and Vetland, "Parameter
// estimation for performance models of distributed application systems",
// 1995). The background B drops out.

// Demand is one station's service demand in one mode.
type Demand struct {
	Mode    topology.Mode `json:"mode"`
	Station string        `json:"station"`
	// Seconds is the CPU time per request over the light-load trials.
	Seconds Estimate `json:"seconds"`
	// Capacity is the station's CPUs (or cap): it serves at most
	// Capacity/Seconds requests per second.
	Capacity float64 `json:"capacity"`
	// Busy is the station's utilization in the heavier of the two
	// light-load runs (median).
	Busy float64 `json:"busy"`
}

// demandTrials is, per mode, trial number and station, the light-load
// demands.
type demandTrials map[topology.Mode]map[int]map[string]float64

// pairDemands is each station's demand from the two runs of one trial,
// or why the pair gives none. Utilization and throughput are both taken
// over the window the station times span (Trial.Window): that window also
// holds the load generator's start and end, and taking the throughput
// over the shorter measured time instead charges the background of those
// moments to the requests (B·o/N per request, o the extra time and N the
// extra requests of the heavier run), a bias that gave even an idle
// director a demand. A negative slope is kept: it is noise around a
// demand of zero, and clipping it to 0 would bias the median up and could
// make an interval of zero width.
func pairDemands(lo, hi Trial) (map[string]float64, string) {
	if len(lo.Stations) == 0 || len(hi.Stations) == 0 {
		return nil, "its station times were lost (a console mark missing)"
	}
	x := func(t Trial) float64 { return float64(t.Requests-t.Errors) / t.span() }
	if lo.span() <= 0 || hi.span() <= 0 {
		return nil, "a run has no measured time"
	}
	dx := x(hi) - x(lo)
	if dx <= 0 {
		return nil, fmt.Sprintf("its heavier run served no more requests per second than its lighter (%.0f against %.0f): a station saturated, so the rate was too high for light load",
			x(hi), x(lo))
	}
	out := map[string]float64{}
	for _, a := range lo.Stations {
		for _, b := range hi.Stations {
			if a.Station == b.Station {
				out[a.Station] = (b.CPUSeconds/hi.span() - a.CPUSeconds/lo.span()) / dx
			}
		}
	}
	return out, ""
}

// busiest is the busiest station of two runs and its utilization.
func busiest(runs ...Trial) (string, float64) {
	station, busy := "", 0.0
	for _, t := range runs {
		for _, u := range t.Stations {
			if u.Busy > busy {
				station, busy = u.Station, u.Busy
			}
		}
	}
	return station, busy
}

// Refusal says why no prediction may rest on mode m's light-load demands,
// or "" if one may: fewer than MinVerdictTrials trials gave them. A demand
// from one or two trials has no interval worth the name (one trial's
// range has zero width), and a prediction from it would look precise and
// be a guess.
func (r *Result) Refusal(m topology.Mode) string {
	dt, dropped := r.lightDemands()
	if n := len(dt[m]); n < MinVerdictTrials {
		why := fmt.Sprintf("%s's demands rest on %d light-load trial(s), fewer than %d", m, n, MinVerdictTrials)
		if len(dropped[m]) > 0 {
			why += " (" + strings.Join(dropped[m], "; ") + ")"
		}
		return why
	}
	return ""
}

// span is the wall time a measurement's station times cover: its window,
// or for results that record none, its measured time.
func (t Trial) span() float64 {
	if t.Window > 0 {
		return t.Window
	}
	return t.Elapsed
}

// demandTrials is each mode's light-load demands, trial by trial.
func (r *Result) demandTrials() demandTrials {
	dt, _ := r.lightDemands()
	return dt
}

// lightDemands is each mode's light-load demands, trial by trial, and per
// mode why a trial gave none: a run lost, a rate the stations could not
// follow, or a station above MaxLightShare busy (its demand would hold
// queueing, and no prediction may rest on it).
func (r *Result) lightDemands() (demandTrials, map[topology.Mode][]string) {
	type key struct {
		mode  topology.Mode
		trial int
	}
	pairs := map[key][2]*Trial{}
	for i := range r.Light {
		t := &r.Light[i]
		if t.Level != 1 && t.Level != 2 {
			continue
		}
		k := key{t.Mode, t.Trial}
		p := pairs[k]
		p[t.Level-1] = t
		pairs[k] = p
	}
	out := demandTrials{}
	dropped := map[topology.Mode][]string{}
	for _, k := range slices.SortedFunc(maps.Keys(pairs), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.mode, b.mode), a.trial-b.trial)
	}) {
		p := pairs[k]
		if p[0] == nil || p[1] == nil {
			dropped[k.mode] = append(dropped[k.mode], fmt.Sprintf("trial %d has one run of two", k.trial))
			continue
		}
		ds, why := pairDemands(*p[0], *p[1])
		if st, busy := busiest(*p[0], *p[1]); ds != nil && busy > MaxLightShare {
			ds, why = nil, fmt.Sprintf("station %s was %.0f%% busy, above the %.0f%% light load allows", st, 100*busy, 100*MaxLightShare)
		}
		if ds == nil {
			dropped[k.mode] = append(dropped[k.mode], fmt.Sprintf("trial %d: %s", k.trial, why))
			continue
		}
		if out[k.mode] == nil {
			out[k.mode] = map[int]map[string]float64{}
		}
		out[k.mode][k.trial] = ds
	}
	return out, dropped
}

// sortedTrials lists the trial numbers of a mode in order.
func (d demandTrials) sortedTrials(m topology.Mode) []int {
	var out []int
	for t := range d[m] {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// summariseDemands turns the light-load trials into each mode's
// per-station demands.
func (r *Result) summariseDemands() []Demand {
	if r.Machine == nil {
		return nil
	}
	dt := r.demandTrials()
	var out []Demand
	for _, m := range r.Config.Modes {
		for _, st := range stationNames(r.Machine) {
			var values, busy []float64
			for _, t := range dt.sortedTrials(m) {
				if v, ok := dt[m][t][st]; ok {
					values = append(values, v)
				}
			}
			for _, t := range r.Light {
				if t.Mode != m || t.Level != 2 {
					continue
				}
				for _, u := range t.Stations {
					if u.Station == st {
						busy = append(busy, u.Busy)
					}
				}
			}
			if len(values) == 0 {
				continue
			}
			out = append(out, Demand{Mode: m, Station: st, Seconds: Estimated(values), Capacity: r.Machine.Capacity(st), Busy: median(busy)})
		}
	}
	return out
}

// Demand returns one station's demand in one mode.
func (r *Result) Demand(m topology.Mode, station string) (Demand, bool) {
	for _, d := range r.Demands {
		if d.Mode == m && d.Station == station {
			return d, true
		}
	}
	return Demand{}, false
}

// stationNames lists the stations in placement order.
func stationNames(p *Machine) []string {
	var out []string
	for _, st := range p.Stations {
		out = append(out, st.Name)
	}
	return out
}
