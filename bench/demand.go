//go:build linux

package bench

import (
	"slices"

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

// pairDemands is each station's demand from the two runs of one trial.
func pairDemands(lo, hi Trial) map[string]float64 {
	x := func(t Trial) float64 { return float64(t.Requests-t.Errors) / t.Elapsed }
	dx := x(hi) - x(lo)
	if lo.Elapsed <= 0 || hi.Elapsed <= 0 || dx <= 0 {
		return nil
	}
	out := map[string]float64{}
	for _, a := range lo.Stations {
		for _, b := range hi.Stations {
			if a.Station == b.Station {
				out[a.Station] = max(0, b.CPUSeconds/hi.Elapsed-a.CPUSeconds/lo.Elapsed) / dx
			}
		}
	}
	return out
}

func (r *Result) demandTrials() demandTrials {
	type key struct {
		mode  topology.Mode
		trial int
	}
	pairs := map[key][2]*Trial{}
	for i := range r.Light {
		t := &r.Light[i]
		if t.Level != 1 && t.Level != 2 || len(t.Stations) == 0 {
			continue
		}
		k := key{t.Mode, t.Trial}
		p := pairs[k]
		p[t.Level-1] = t
		pairs[k] = p
	}
	out := demandTrials{}
	for k, p := range pairs {
		if p[0] == nil || p[1] == nil {
			continue
		}
		ds := pairDemands(*p[0], *p[1])
		if ds == nil {
			continue
		}
		if out[k.mode] == nil {
			out[k.mode] = map[int]map[string]float64{}
		}
		out[k.mode][k.trial] = ds
	}
	return out
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
