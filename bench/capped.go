//go:build linux

package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

// The capped run: the paper's knee shown physically. The paper's director
// was one machine in front of eight equal real servers, so under the
// machine model the director's vCPU gets one real server's share of what
// the servers' station delivered: the host CPU its vCPU used per second
// when saturated in direct mode, measured in the stations run, divided by
// PaperServers. The cap is derived from the run, never picked; a cap given
// by --cap is a choice, and carries no physical verdict.

// CappedDir is the output folder's subfolder of the capped run.
const CappedDir = "capped"

// CappedClients are the capped run's client counts: from one client to
// well past NAT's knee under the director's cap.
var CappedClients = []int{1, 4, 16, 32, 64}

// CapDerivation is how the capped run's director cap was derived.
type CapDerivation struct {
	// Station is the real servers' station; Capacity the host CPUs its
	// vCPU delivered per second, trial by trial, in direct mode at Clients
	// clients (the stations run), where it was saturated.
	Station  string   `json:"servers_station"`
	Clients  int      `json:"clients"`
	Capacity Estimate `json:"servers_capacity"`
	// Servers is the paper's real servers; Cap is Capacity's median over
	// them, and CapRange its interval over them: the director's share.
	Servers  int        `json:"servers"`
	Cap      float64    `json:"director_cap"`
	CapRange [2]float64 `json:"director_cap_interval"`
	// Refused says why no cap was derived, and so no capped run made.
	Refused string `json:"refused,omitempty"`
}

// minCap is the smallest share of a host CPU a cap may give (Validate).
const minCap = 0.05

// DeriveCap derives the director's cap from a stations run that saturated
// direct mode: its servers' station's delivered host CPU per second over
// PaperServers.
func DeriveCap(st *Result) CapDerivation {
	d := CapDerivation{Servers: PaperServers}
	if st == nil || st.Machine == nil || len(st.Config.Clients) == 0 {
		d.Refused = "no stations run that saturated direct mode"
		return d
	}
	d.Station, d.Clients = stationHolding(st.Machine, "rs1"), slices.Max(st.Config.Clients)
	var per []float64
	for _, t := range st.Trials {
		if t.Mode != topology.ModeDirect || t.Clients != d.Clients || t.Window <= 0 {
			continue
		}
		for _, u := range t.Stations {
			if u.Station == d.Station {
				per = append(per, u.CPUSeconds/t.Window)
			}
		}
	}
	d.Capacity = Estimated(per)
	switch {
	case d.Station == "":
		d.Refused = "the stations run has no real servers' station"
	case len(per) < MinVerdictTrials:
		d.Refused = fmt.Sprintf("the servers' capacity rests on %d saturated direct trial(s), fewer than %d", len(per), MinVerdictTrials)
	default:
		// Rounded to a thousandth of a CPU, a precision the quota holds.
		d.Cap = math.Round(1000*d.Capacity.Median/PaperServers) / 1000
		d.CapRange = [2]float64{d.Capacity.Lo / PaperServers, d.Capacity.Hi / PaperServers}
		if d.Cap < minCap {
			d.Refused = fmt.Sprintf("one real server's share, %.3f of a host CPU, is below the %g a quota can give", d.Cap, minCap)
		}
	}
	return d
}

// String says how the cap was derived.
func (d CapDerivation) String() string {
	return fmt.Sprintf("director capped at %.3f of a host CPU = the %s station's %s host CPUs (saturated, direct, %d clients) ÷ %d real servers",
		d.Cap, d.Station, d.Capacity.Show("%.2f"), d.Clients, d.Servers)
}

// CappedConfig is the default benchmark's capped run: direct and the
// balanced modes of cfg (routed adds nothing to the paper's question)
// swept over CappedClients under the machine model, the director's vCPU
// capped at d.Cap, MinVerdictTrials trials, and SureTrials at the top
// client count, where the verdict reads NAT's ratio. No light load: the
// run measures the knee and the saturated demands, not a prediction.
func CappedConfig(cfg Config, d CapDerivation) Config {
	c := cfg
	c.Name = cfg.Name + "c"
	c.Modes = filterModes(cfg.Modes, func(m topology.Mode) bool { return m != topology.ModeRouted })
	c.SweepModes = nil
	c.Clients = slices.Clone(CappedClients)
	c.Trials, c.TopTrials = MinVerdictTrials, SureTrials
	c.Latency, c.Light = 0, LightLoad{}
	c.Isolate = true
	c.Caps = map[string]float64{"director": d.Cap}
	c.CapFrom = &d
	return c
}

// cappedRun says whether a default benchmark adds the capped run: the
// stations run is made and direct and NAT are among the modes.
func cappedRun(cfg Config, o VMOptions) bool {
	return stationsRun(cfg, o) && slices.Contains(cfg.Modes, topology.ModeDirect) && slices.Contains(cfg.Modes, topology.ModeNAT)
}

// Physical is what the capped run shows, beside the paper's figures.
type Physical struct {
	Derivation CapDerivation `json:"derivation"`
	// Clients is the top client count; Ratio NAT's requests/s over
	// direct's there, NAT and Direct their requests/s.
	Clients int       `json:"clients,omitempty"`
	Ratio   *Estimate `json:"nat_ratio,omitempty"`
	NAT     Estimate  `json:"nat_requests_per_s,omitzero"`
	Direct  Estimate  `json:"direct_requests_per_s,omitzero"`
	// NATKnee and DirectKnee are the client counts from which each stops
	// rising (0: still rising at the top).
	NATKnee    int `json:"nat_knee,omitempty"`
	DirectKnee int `json:"direct_knee,omitempty"`
	// Bottleneck is NAT's busiest station at the top client count, by
	// its CPU time over its capacity (the host's CPUs too), and Busy that.
	Bottleneck string  `json:"bottleneck,omitempty"`
	Busy       float64 `json:"bottleneck_busy,omitempty"`
	// DirectorDemand is NAT's director CPU seconds per request at the top
	// client count, Ceiling the requests/s the cap gives at that cost.
	DirectorDemand Estimate `json:"director_demand_s,omitzero"`
	Ceiling        Estimate `json:"director_ceiling,omitzero"`
	// Feeds is, per balanced mode, how many real servers the capped
	// director feeds: D_servers ÷ D_director at the top client count.
	Feeds []ModeEstimate `json:"feeds,omitempty"`
	// Slower is how many times slower, relative to one real server, the
	// director would have to be for NAT at PaperRatio of direct: the
	// ceiling the cap gives over PaperRatio times direct, trial by trial.
	Slower     Estimate `json:"slower_for_paper,omitzero"`
	Reproduced bool     `json:"reproduced"`
	Statement  string   `json:"statement"`
}

// physicalOf is what the capped run of r shows (r's own when r is one),
// nil when r has none.
func (r *Result) physicalOf() *Physical {
	switch {
	case r.Capped != nil && r.Capped.Config.CapFrom != nil:
		return physical(*r.Capped.Config.CapFrom, r.Capped)
	case r.Config.CapFrom != nil:
		return physical(*r.Config.CapFrom, r)
	case r.Stations != nil && len(r.Stations.Config.Clients) > 0:
		if d := DeriveCap(r.Stations); d.Refused != "" {
			return physical(d, nil)
		}
	}
	return nil
}

// physical judges the capped run c made with the cap d.
func physical(d CapDerivation, c *Result) *Physical {
	p := &Physical{Derivation: d}
	if d.Refused != "" {
		p.Statement = "no capped run: " + d.Refused
		return p
	}
	if c == nil || len(c.Config.Clients) == 0 || c.Machine == nil {
		p.Statement = "no capped run was measured"
		return p
	}
	p.Clients = slices.Max(c.Config.Clients)
	nat, ok1 := c.Point(topology.ModeNAT, p.Clients)
	direct, ok2 := c.Point(topology.ModeDirect, p.Clients)
	if !ok1 || !ok2 || nat.Ratio == nil {
		p.Statement = fmt.Sprintf("the capped run has no NAT and direct at %d clients", p.Clients)
		return p
	}
	p.Ratio, p.NAT, p.Direct = nat.Ratio, nat.RequestsPerSec, direct.RequestsPerSec
	if k, ok := c.knee(topology.ModeNAT); ok {
		p.NATKnee = k.Clients
	}
	if k, ok := c.knee(topology.ModeDirect); ok {
		p.DirectKnee = k.Clients
	}
	p.Bottleneck, p.Busy = c.saturatedBottleneck(topology.ModeNAT, p.Clients)
	dir := stationHolding(c.Machine, "director")
	p.DirectorDemand = c.saturatedDemand(topology.ModeNAT, dir, p.Clients)
	directRate := map[int]float64{}
	for _, t := range c.Trials {
		if t.Mode == topology.ModeDirect && t.Clients == p.Clients {
			directRate[t.Trial] = t.RequestsPerSec
		}
	}
	var ceilings, slower []float64
	for _, t := range c.sortedTrials(topology.ModeNAT, p.Clients) {
		if dd := perRequest(t, dir); dd > 0 {
			ceilings = append(ceilings, d.Cap/dd)
			if x := directRate[t.Trial]; x > 0 {
				slower = append(slower, d.Cap/dd/(PaperRatio*x))
			}
		}
	}
	p.Ceiling, p.Slower = Estimated(ceilings), Estimated(slower)
	for _, m := range c.Config.Modes {
		if !m.Balanced() {
			continue
		}
		var feeds []float64
		for _, t := range c.sortedTrials(m, p.Clients) {
			if dd, ds := perRequest(t, dir), perRequest(t, stationHolding(c.Machine, "rs1")); dd > 0 && ds > 0 {
				feeds = append(feeds, ds/dd)
			}
		}
		if len(feeds) > 0 {
			p.Feeds = append(p.Feeds, ModeEstimate{Mode: m, Estimate: Estimated(feeds)})
		}
	}
	p.Reproduced, p.Statement = p.judge(dir)
	return p
}

// judge says whether the capped run reproduces the paper physically: NAT's
// ratio wholly at or below PaperRatio with the director (station dir) the
// bottleneck; otherwise the knee, the ratio and how much slower the
// director would have to be.
func (p *Physical) judge(dir string) (bool, string) {
	head := fmt.Sprintf("capped run (the director at %.3f of a host CPU, one real server's share): NAT %s of direct at %d clients",
		p.Derivation.Cap, p.Ratio.Show("%.3f"), p.Clients)
	knee := "NAT still rising at " + fmt.Sprint(p.Clients) + " clients"
	if p.NATKnee > 0 {
		knee = fmt.Sprintf("NAT flat from %d clients", p.NATKnee)
	}
	bottleneck := fmt.Sprintf("the bottleneck %s (%.0f%% busy)", p.Bottleneck, 100*p.Busy)
	switch {
	case !p.Ratio.Sure():
		return false, fmt.Sprintf("%s: too few to judge, %s", head, p.Ratio.Unsure())
	case p.Ratio.Hi <= PaperRatio && p.Bottleneck == dir:
		return true, fmt.Sprintf("%s, wholly at or below the paper's %.2f; %s; %s", head, PaperRatio, knee, bottleneck)
	}
	why := fmt.Sprintf("%s, not wholly at or below the paper's %.2f; %s; %s", head, PaperRatio, knee, bottleneck)
	if p.Bottleneck != dir {
		why = fmt.Sprintf("%s; %s; %s, not the director", head, knee, bottleneck)
	}
	if len(p.Slower.Values) >= MinVerdictTrials {
		why += fmt.Sprintf("; for the paper's %.2f the director would have to be %s times slower than one real server", PaperRatio, p.Slower.Show("%.1f"))
	}
	return false, why
}

// sortedTrials are mode m's sweep trials at clients clients, by trial.
func (r *Result) sortedTrials(m topology.Mode, clients int) []Trial {
	var out []Trial
	for _, t := range r.Trials {
		if t.Mode == m && t.Clients == clients && t.Requests > t.Errors {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Trial) int { return a.Trial - b.Trial })
	return out
}

// perRequest is station st's CPU seconds per request served in trial t
// (0 when not measured).
func perRequest(t Trial, st string) float64 {
	served := float64(t.Requests - t.Errors)
	for _, u := range t.Stations {
		if u.Station == st && served > 0 {
			return u.CPUSeconds / served
		}
	}
	return 0
}

// saturatedDemand is station st's CPU seconds per request in mode m at
// clients clients, over the trials.
func (r *Result) saturatedDemand(m topology.Mode, st string, clients int) Estimate {
	var v []float64
	for _, t := range r.sortedTrials(m, clients) {
		if d := perRequest(t, st); d > 0 {
			v = append(v, d)
		}
	}
	return Estimated(v)
}

// saturatedBottleneck is mode m's busiest station at clients clients, by
// the median over trials of its CPU time over its capacity and the
// window, the host's CPUs (which every vCPU thread shares) among them.
func (r *Result) saturatedBottleneck(m topology.Mode, clients int) (string, float64) {
	busy := map[string][]float64{}
	for _, t := range r.sortedTrials(m, clients) {
		total := 0.0
		for _, u := range t.Stations {
			busy[u.Station] = append(busy[u.Station], u.Busy)
			total += u.CPUSeconds
		}
		if h := r.Machine.HostCPUs; h > 0 && t.Window > 0 {
			busy[HostStation] = append(busy[HostStation], total/t.Window/float64(h))
		}
	}
	best, most := "", 0.0
	for _, st := range append(stationNames(r.Machine), HostStation) { // in order: a tie goes to the first
		if v := busy[st]; len(v) > 0 && median(v) > most {
			best, most = st, median(v)
		}
	}
	return best, most
}

// The capped run's parts of the first screen: NAT's ratio, the knee, the
// real servers the director feeds, the bottleneck.
func (p *Physical) ratioFact() string {
	if p == nil || p.Ratio == nil {
		return ""
	}
	return fmt.Sprintf("physical (director at one real server's share, %.3f) %s at %d clients", p.Derivation.Cap, p.Ratio.Show("%.3f"), p.Clients)
}

func (p *Physical) kneeFact() string {
	parts := []string{}
	for _, k := range []struct {
		mode  topology.Mode
		knee  int
		top   Estimate
		label string
	}{{topology.ModeNAT, p.NATKnee, p.NAT, "NAT"}, {topology.ModeDirect, p.DirectKnee, p.Direct, "direct"}} {
		if k.knee > 0 {
			parts = append(parts, fmt.Sprintf("%s flat from %d clients, %s req/s at %d", k.label, k.knee, k.top.Show("%.0f"), p.Clients))
		} else {
			parts = append(parts, fmt.Sprintf("%s still rising, %s req/s at %d", k.label, k.top.Show("%.0f"), p.Clients))
		}
	}
	return strings.Join(parts, "; ") + " (capped run)"
}

func (p *Physical) feedsFact() string {
	var per []string
	for _, e := range p.Feeds {
		per = append(per, fmt.Sprintf("%s %s", e.Mode, e.Estimate.Show("%.1f")))
	}
	if len(per) == 0 {
		return ""
	}
	return "capped, saturated: " + strings.Join(per, ", ")
}

func (p *Physical) bottleneckFact() string {
	return fmt.Sprintf("nat: %s, %.0f%% busy; the director %s ms per request, a ceiling of %s req/s under its cap (capped run, %d clients)",
		p.Bottleneck, 100*p.Busy, msInterval(p.DirectorDemand), p.Ceiling.Show("%.0f"), p.Clients)
}

// writeCapped writes the capped run's section of summary.md: how the cap
// was derived, the run's figures beside the paper's, and its sweep.
func (r *Result) writeCapped(w io.Writer) {
	p, c := r.Physical, r.Capped
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\n# The capped run: the knee, physically\n\n")
	if p.Derivation.Refused != "" || c == nil {
		fmt.Fprintf(w, "%s.\n", upperFirst(p.Statement))
		return
	}
	d := p.Derivation
	fmt.Fprintf(w, "The paper's director was one machine in front of %d equal real servers. Here the director's vCPU was capped at one real server's share of what the real servers' station delivered, derived in this benchmark, not picked: the %s station's vCPU used %s host CPUs per second (median of %d trials) saturated in direct mode at %d clients in the stations run; ÷ %d = **%.3f of a host CPU** [%.3f, %.3f]%s. Then direct and the balanced modes at %s clients, %s of %gs, in a VM with %d vCPUs in real time (kernel %s).\n\n",
		d.Servers, d.Station, d.Capacity.Show("%.3f"), len(d.Capacity.Values), d.Clients, d.Servers, d.Cap, d.CapRange[0], d.CapRange[1], levelNote(d.Capacity),
		strings.Trim(fmt.Sprint(c.Config.Clients), "[]"), c.Config.trialsText(), c.Config.Duration.Seconds(), c.Env.CPUs, c.Env.Kernel)
	fmt.Fprintf(w, "| | capped run | paper |\n|---|---|---|\n")
	fmt.Fprintf(w, "| NAT ÷ direct at %d clients | %s | ≤ %.2f (%d ÷ %d conn/s) |\n", p.Clients, p.Ratio.Show("%.3f"), PaperRatio, PaperNATConnsPerSec, PaperDirectConnsPerSec)
	fmt.Fprintf(w, "| NAT, req/s at %d clients | %s, %s | %d conn/s, flat |\n", p.Clients, p.NAT.Show("%.0f"), kneeText(p.NATKnee, p.Clients), PaperNATConnsPerSec)
	fmt.Fprintf(w, "| direct, req/s at %d clients | %s, %s | > %d conn/s |\n", p.Clients, p.Direct.Show("%.0f"), kneeText(p.DirectKnee, p.Clients), PaperDirectConnsPerSec)
	fmt.Fprintf(w, "| NAT's bottleneck at %d clients | %s, %.0f%% busy | the director |\n", p.Clients, p.Bottleneck, 100*p.Busy)
	fmt.Fprintf(w, "| NAT director's CPU per request, saturated | %s ms | – |\n", msInterval(p.DirectorDemand))
	fmt.Fprintf(w, "| the ceiling that implies under the cap (cap ÷ CPU per request; NAT's own rate where the director is saturated) | %s req/s | %d conn/s |\n", p.Ceiling.Show("%.0f"), PaperNATConnsPerSec)
	for _, e := range p.Feeds {
		fmt.Fprintf(w, "| real servers one %s director feeds (D_servers ÷ D_director, saturated) | %s | %s |\n", e.Mode, e.Estimate.Show("%.1f"), feedsPaper(e.Mode))
	}
	if len(p.Slower.Values) >= MinVerdictTrials {
		fmt.Fprintf(w, "| how much slower than one real server the director would have to be for NAT at %.2f | %s times | 1 |\n", PaperRatio, p.Slower.Show("%.2f"))
	}
	fmt.Fprintf(w, "\n%s.\n\n", upperFirst(p.Statement))
	c.writeMachine(w)
	fmt.Fprintln(w)
	c.writeSweep(w)
}

func kneeText(knee, top int) string {
	if knee == 0 {
		return fmt.Sprintf("still rising at %d", top)
	}
	return fmt.Sprintf("flat from %d clients", knee)
}

// feedsPaper is what the paper implies for the real servers one director
// feeds: NAT held eight servers to at most PaperRatio of their direct rate.
func feedsPaper(m topology.Mode) string {
	if m != topology.ModeNAT {
		return "–"
	}
	return fmt.Sprintf("≤ %.0f (%.2f × %d)", PaperRatio*PaperServers, PaperRatio, PaperServers)
}

// writeCappedTable writes the capped run's lines of the terminal's table.
func (r *Result) writeCappedTable(w io.Writer) {
	p, c := r.Physical, r.Capped
	if p == nil || c == nil {
		return
	}
	fmt.Fprintf(w, "\ncapped run: %s\n", p.Derivation)
	for _, pt := range c.Points {
		ratio := ""
		if pt.Ratio != nil {
			ratio = ", " + pt.Ratio.Show("%.3f") + " of direct"
		}
		fmt.Fprintf(w, "capped run: %-6s %2d clients: %s req/s%s\n", pt.Mode, pt.Clients, pt.RequestsPerSec.Show("%.0f"), ratio)
	}
	fmt.Fprintf(w, "capped run: %s\n", p.Statement)
}

// cappedWarnings are the capped run's failed requests and the points its
// load generator limited: either would make its knee the wrong one.
func (r *Result) cappedWarnings() []string {
	if r.Capped == nil {
		return nil
	}
	var out []string
	for _, p := range r.Capped.Points {
		if p.LoadgenBound > 0 {
			out = append(out, fmt.Sprintf("capped run, %s at %d clients: the load generator was the bottleneck in %d of %d trials", p.Mode, p.Clients, p.LoadgenBound, len(p.RequestsPerSec.Values)))
		}
		if p.Errors > 0 {
			out = append(out, fmt.Sprintf("capped run, %s at %d clients: %d requests failed", p.Mode, p.Clients, p.Errors))
		}
	}
	return out
}
