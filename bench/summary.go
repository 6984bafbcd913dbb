//go:build linux

package bench

import (
	"fmt"
	"io"
	"strings"
)

// The model's part of summary.md: where the time goes, the bounds and how
// the sweep compares, the paper's hardware predicted, and the methods.

func ms(s float64) string { return fmt.Sprintf("%.3f", 1000*s) }

// percent writes a share as percentages with its interval.
func percent(e Estimate) string {
	return Estimate{Median: 100 * e.Median, Lo: 100 * e.Lo, Hi: 100 * e.Hi, Level: e.Level, Values: e.Values}.Show("%.0f%%")
}

func msInterval(e Estimate) string {
	return Estimate{Median: 1000 * e.Median, Lo: 1000 * e.Lo, Hi: 1000 * e.Hi, Level: e.Level, Values: e.Values}.Show("%.3f")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// writeMachine says how the labs were placed on CPUs.
func (r *Result) writeMachine(w io.Writer) {
	m := r.Machine
	if m == nil {
		return
	}
	if !r.Config.Isolate {
		fmt.Fprintf(w, "Every node shares the machine's %d CPU(s): one station, the whole machine.\n", len(m.Stations[0].CPUs))
		return
	}
	fmt.Fprintf(w, "Machine model: each station on CPUs of its own (processes pinned, receive processing steered there with RPS, the bridge ports included):\n\n")
	fmt.Fprintf(w, "| station | nodes | CPUs | capacity (CPUs) |\n|---|---|---|---:|\n")
	for _, st := range m.Stations {
		capNote := ""
		if c, ok := m.Caps[st.Name]; ok {
			capNote = fmt.Sprintf(" (capped at %g of a host CPU)", c)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %g%s |\n", st.Name, strings.Join(st.Nodes, " "), st.CPUs, m.Capacity(st.Name), capNote)
	}
	fmt.Fprintf(w, "\nStation CPU time: %s.", m.Source)
	if m.HostCPUs > 0 {
		fmt.Fprintf(w, " Every vCPU thread shares the host's %d CPUs.", m.HostCPUs)
	}
	fmt.Fprintln(w)
	for _, n := range m.Notes {
		fmt.Fprintf(w, "\nNote: %s.\n", n)
	}
}

// writeDemands writes each mode's per-station demands, the bottleneck and
// the added cost of each path.
func (r *Result) writeDemands(w io.Writer, title string) {
	if len(r.Demands) == 0 || r.Machine == nil {
		return
	}
	names := stationNames(r.Machine)
	fmt.Fprintf(w, "\n## %s\n\nCPU time per request (ms), median of %d light-load trials per mode with its interval; the bottleneck is the station with the most demand per CPU of capacity.\n\n| mode |",
		title, r.Config.Light.Trials)
	for _, n := range names {
		fmt.Fprintf(w, " %s |", n)
	}
	fmt.Fprintf(w, " total | bottleneck | busiest station's load |\n|---|%s---:|---|---:|\n", strings.Repeat("---:|", len(names)))
	for _, m := range r.Config.Modes {
		b, ok := r.Model.Bound(m)
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| %s |", m)
		for _, n := range names {
			if d, ok := r.Demand(m, n); ok {
				fmt.Fprintf(w, " %s |", msInterval(d.Seconds))
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		bottleneck := b.Bottleneck
		if b.Refused != "" {
			bottleneck = "refused: " + b.Refused
		}
		fmt.Fprintf(w, " %s | %s | %.0f%% |\n", ms(b.DTotal), bottleneck, 100*b.LightBusy)
	}
	if len(r.Model.Paths) > 0 {
		fmt.Fprintf(w, "\nAdded cost of each path, as a difference of two modes' total demands in the same trial (ms per request, and share of the mode's total), from %s:\n\n| path | mode − reference | added ms | share of the mode's demand |\n|---|---|---:|---:|\n", r.Model.PathsFrom)
		for _, p := range r.Model.Paths {
			fmt.Fprintf(w, "| %s | %s − %s | %s | %s |\n", p.Path, p.Mode, p.Reference, msInterval(p.Seconds), percent(p.Share))
		}
	}
}

// writeBounds writes each mode's bounds and how the sweep compares.
func (r *Result) writeBounds(w io.Writer) {
	if r.Model == nil || len(r.Model.Modes) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Predicted bounds and the sweep\n\nPredicted from the light-load runs before the sweep: X(n) ≤ min(n/(D+Z), 1/D_max), with Z = R(1) − D. Drawn dashed in the figure.\n\n")
	fmt.Fprintf(w, "| mode | R(1) ms | D ms | Z ms | bottleneck | ceiling req/s (interval) | measured at n | bound at n | | context switches per request, light → sweep |\n|---|---:|---:|---:|---|---|---|---|---|---|\n")
	above := false
	for _, b := range r.Model.Modes {
		if b.Refused != "" {
			fmt.Fprintf(w, "| %s | %s | %s | %s | – | refused: %s | | | | |\n", b.Mode, ms(b.R1), ms(b.DTotal), ms(b.Z), b.Refused)
			continue
		}
		measured, bound, verdict, switches := "–", "–", "no sweep", "–"
		if c := b.Check; c != nil {
			measured = fmt.Sprintf("%s at %d", c.Measured.Show("%.0f"), c.Clients)
			bound = c.Bound.Show("%.0f")
			verdict = c.Verdict
			above = above || (c.Bound.Sure() && c.Measured.Sure() && c.Measured.Lo > c.Bound.Hi)
		}
		if b.LightSwitches > 0 && b.SweepSwitches > 0 {
			switches = fmt.Sprintf("%.1f → %.1f", b.LightSwitches, b.SweepSwitches)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", b.Mode, ms(b.R1), ms(b.DTotal), ms(b.Z), b.Bottleneck,
			b.Ceiling.Show("%.0f"), measured, bound, verdict, switches)
	}
	if above {
		fmt.Fprintf(w, "\nWhere the sweep runs above its bound, a request cost more CPU under light load than at saturation. A lightly loaded station pays for each request alone: it wakes from idle, and on a shared CPU the load generator and the real servers take turns request by request (a context switch each way; under TCG every switch between processes also flushes the emulated TLB). A saturated one batches that work: several requests per wake-up and per turn. The context switches per request above show it. Demands are assumed not to depend on the load; here they do.\n")
	}
}

// writePaper writes the paper's hardware predicted.
func (r *Result) writePaper(w io.Writer) {
	if r.Model == nil || r.Model.Paper == nil {
		return
	}
	ph := r.Model.Paper
	fmt.Fprintf(w, "\n## The paper's hardware, predicted\n\nOne director and %d real servers, each a machine as fast as one station here (station %s for the director, %s for the real servers), the clients never the limit: a mode's ceiling is min(1/D_director, %d/D_servers), direct's %d/D_servers(direct). Light-load demands, trial by trial.\n\n",
		ph.Servers, ph.Director, ph.Farm, ph.Servers, ph.Servers)
	if ph.Note != "" {
		fmt.Fprintf(w, "Note: %s.\n\n", ph.Note)
	}
	fmt.Fprintf(w, "| mode | ratio to direct, N = %d | interval | paper |\n|---|---:|---|---|\n", ph.Servers)
	for _, e := range ph.Ratios {
		fmt.Fprintf(w, "| %s | %.3f | %s | %s |\n", e.Mode, e.Estimate.Median, e.Estimate.Interval("%.3f"), paperNote(e.Mode))
	}
	if len(ph.PerDirector) > 0 {
		fmt.Fprintf(w, "\nHow many real servers one director can feed before it saturates (D_servers ÷ D_director), the paper's next step:\n\n| mode | real servers per director | interval |\n|---|---:|---|\n")
		for _, e := range ph.PerDirector {
			fmt.Fprintf(w, "| %s | %.1f | %s |\n", e.Mode, e.Estimate.Median, e.Estimate.Interval("%.1f"))
		}
	}
}

// writeModel writes every model section of a result; sweep is the
// single-CPU run its stations are checked against (nil for none).
func (r *Result) writeModel(w io.Writer, title string, sweep *Result) {
	r.writeDemands(w, title)
	r.writeSanity(w, sweep)
	r.writeBounds(w)
	r.writePaper(w)
}

// writeSanity writes the demands' sanity checks.
func (r *Result) writeSanity(w io.Writer, sweep *Result) {
	checks := r.Sanity(sweep)
	if len(checks) == 0 {
		return
	}
	fmt.Fprintf(w, "\nSanity checks of the demands (a failed one makes the verdict inconclusive):\n\n| check | | measured |\n|---|---|---|\n")
	for _, c := range checks {
		mark := "passed"
		if !c.Passed {
			mark = "**failed**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.Check, mark, c.Detail)
	}
}

// modelWarnings are the model's premises a result breaks.
func (r *Result) modelWarnings() []string {
	var out []string
	if r.Model == nil {
		return nil
	}
	for _, b := range r.Model.Modes {
		if b.LightBusy > MaxLightShare {
			out = append(out, fmt.Sprintf("%s: under light load its busiest station was %.0f%% busy, above %.0f%%: its demands include queueing, and the bounds are less sure",
				b.Mode, 100*b.LightBusy, 100*MaxLightShare))
		}
	}
	return out
}

// writeMethods states how every number was obtained.
func (r *Result) writeMethods(w io.Writer) {
	fmt.Fprintf(w, "\n## Methods\n\n")
	items := []string{
		"**Sweep.** Closed-loop clients, one TCP connection per request unless keep-alive; the modes run back to back in an order rotated every trial; requests/s is successful requests over the measured time after a warm-up. A mode's ratio to direct pairs each trial with direct's at the same client count, seconds apart; intervals are " + intervalsAre + ".",
		"**Single client.** One client per mode, closed loop: the paper's third test, and R(1) = 1/X(1), the time a request takes with nothing queued.",
		fmt.Sprintf("**Demand.** Each light-load trial runs every mode open loop at two rates, the busiest station near %.0f%% and near %.0f%% of its capacity (judged from the single-client run; no run may pass %.0f%%). A station's demand is the slope of its CPU time per second over the throughput between the two, U = B + X·D (utilization regressed on throughput, Rolia and Vetland 1995): the utilization law D = U/X (Denning and Buzen 1978) without charging the requests for what the station spends whatever the load (B: the idle loop, timers, the runtimes' polling).",
			100*r.Config.Light.Share, 50*r.Config.Light.Share, 100*MaxLightShare),
		"**Stations.** Without the machine model every node shares every CPU, so the whole machine is one station and only the total demand per mode can be measured. Under it (--isolate, and the stations run of the default benchmark) each station's processes are pinned to its CPUs, the receive processing of its links and of the bridge ports that lead to them is steered there with RPS, and IPVS's estimator kthreads too where the kernel has net.ipv4.vs.est_cpulist. In a VM under TCG the guest's own accounting sees no steal time, so a station's CPU time is the host CPU time of its vCPU threads, sampled at console marks around every measurement.",
		"**Paths.** A path's added cost is the difference of two modes' total demands in the same trial (on one CPU from the sweep's highest client count, where the machine is saturated and its CPU time per request is the mode's whole cost; under the machine model from the light-load demands): IPVS's own cost is a balanced mode less routed (the director forwarding as a plain router), the extra hop routed less direct (direct also puts the client on the real servers' segment, so that difference includes a bridge hop and the router).",
		"**Bounds.** Asymptotic bounds of a closed system (Lazowska et al., Quantitative System Performance, ch. 5): X(n) ≤ min(n/(D+Z), 1/D_max), D the total demand, Z = R(1) − D, D_max the bottleneck's demand per CPU of capacity; in a VM also the host's CPUs, which every vCPU thread shares. Predicted from the light-load runs, never from the saturated run judged (there 1/D_max = X/U_max equals X by construction), and checked against the sweep's highest client count.",
		fmt.Sprintf("**The paper's hardware.** One director and %d real servers, each a machine of one station's speed, clients unlimited: a mode's ceiling is min(1/D_director, N/D_servers) from the light-load demands, trial by trial; real servers per director is D_servers/D_director.", PaperServers),
		fmt.Sprintf("**Verdict.** From intervals, never from a median alone. Reproduced physically: in the capped run, whose director's vCPU is capped at one real server's share (the host CPU the real servers' station delivered per second, saturated in direct mode in the stations run, ÷ %d), NAT's ratio to direct at the highest client count lies wholly at or below the paper's %.3f (%d ÷ %d conn/s) and the director is the busiest station there (CPU time over capacity, the host's CPUs among them). Otherwise the capped run's measured ratio is judged as a prediction is, and the reason gives its knee, its ratio and how much slower the director would have to be for %.2f: the ceiling the cap gives at the director's saturated CPU per request over %.2f times direct's rate, trial by trial. Consistent with the paper: the ratio's interval spans at most a factor of %g and reaches %.3f or lies below it (the paper's figure is an upper bound). Not reproduced: the interval lies wholly above %.3f. Inconclusive otherwise, and whenever the interval judged is not at %.0f%% (from fewer than %d trials, the capped run's at its highest client count). NAT's ratio predicted for the paper's hardware is judged by the same rules and stated beside it; it decides only where the capped run's ratio has no such interval, and it is inconclusive when a sanity check of the demands fails.",
			PaperServers, PaperRatio, PaperNATConnsPerSec, PaperDirectConnsPerSec, PaperRatio, PaperRatio, maxVerdictSpread, PaperRatio, PaperRatio, 100*Confidence, SureTrials),
		fmt.Sprintf("**Sanity checks.** A station no packet of a mode passes (the director and router in direct mode, the router in routed and NAT mode) has a demand not told apart from 0: Student's t interval of the mean of its trials' demands holds 0, at %.0f%% for the run's zero checks together, so that a sane run fails one of them 1%% of the time (Bonferroni; the median's interval from n trials covers at most 1 − 2^(1−n), 75%% from three); DR's director, which sees only requests, is no dearer than NAT's (its interval not wholly above); each mode's total demand relative to direct's agrees with the single-CPU sweep's within a factor of %g at the nearest ends of their intervals (relative, since the sweep's clock runs by executed instructions and the stations run's in real time).", 100*sanityConfidence, maxTotalsApart),
		fmt.Sprintf("**Refusals.** A light-load trial is dropped, with its reason, when its heavier run served no more than its lighter (a station saturated) or a station was above %.0f%% busy; a mode with fewer than %d trials left predicts nothing. An interval from fewer than %d values is never printed, and one from fewer than %d is their range, marked with its level.", 100*MaxLightShare, MinVerdictTrials, MinVerdictTrials, SureTrials),
		"**Switch.** " + r.Env.Switch + ".",
	}
	for _, it := range items {
		fmt.Fprintf(w, "- %s\n", it)
	}
}
