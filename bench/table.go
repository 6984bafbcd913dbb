//go:build linux

package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes what lvslab bench prints when it is done: every
// point's throughput and ratio to direct, the single-client runs, each
// station's demand with the bounds and predictions made from them, and the
// verdict.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tclients\treq/s\tratio to direct\t95% interval\tCV\tp99 ms\terrors\tloadgen-bound\t")
	for _, p := range r.Points {
		ratio, ci, cv := "-", "-", "-"
		if p.Ratio != nil {
			ratio = fmt.Sprintf("%.3f", p.Ratio.Median)
			ci = fmt.Sprintf("[%.3f, %.3f]", p.Ratio.Lo, p.Ratio.Hi)
			cv = fmt.Sprintf("%.1f%%", 100*p.Ratio.CV)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%.2f\t%d\t%d/%d\t\n", p.Mode, p.Clients, p.RequestsPerSec.Median,
			ratio, ci, cv, p.P99, p.Errors, p.LoadgenBound, len(p.RequestsPerSec.Values))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range r.Latency {
		fmt.Fprintf(w, "one client, %s: %.0f req/s, mean %.3f ms, p99 %.3f ms\n", t.Mode, t.RequestsPerSec, t.Latency.Mean, t.Latency.P99)
	}
	r.writeModelTable(w, "")
	if r.Stations != nil {
		r.Stations.writeModelTable(w, "stations run: ")
	}
	v, why := r.Verdict()
	_, err := fmt.Fprintf(w, "\nverdict: %s: %s\n", v, why)
	return err
}

// writeModelTable writes a result's demands, bounds and paper prediction.
func (r *Result) writeModelTable(w io.Writer, prefix string) {
	if r.Model == nil {
		return
	}
	fmt.Fprintf(w, "\n%sCPU time per request under light load, ms (95%% interval):\n", prefix)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, d := range r.Demands {
		fmt.Fprintf(tw, "  %s\t%s\t%.3f [%.3f, %.3f]\t\n", d.Mode, d.Station, 1000*d.Seconds.Median, 1000*d.Seconds.Lo, 1000*d.Seconds.Hi)
	}
	tw.Flush()
	for _, b := range r.Model.Modes {
		check := ""
		if c := b.Check; c != nil {
			check = fmt.Sprintf("; at %d clients measured %.0f: %s", c.Clients, c.Measured.Median, c.Verdict)
		}
		fmt.Fprintf(w, "%s%s: bottleneck %s, predicted ceiling %.0f req/s [%.0f, %.0f]%s\n", prefix, b.Mode, b.Bottleneck,
			b.Ceiling.Median, b.Ceiling.Lo, b.Ceiling.Hi, check)
	}
	if ph := r.Model.Paper; ph != nil {
		for _, e := range ph.Ratios {
			fmt.Fprintf(w, "%spaper's hardware (%d real servers): %s at %.3f [%.3f, %.3f] of direct\n", prefix, ph.Servers, e.Mode,
				e.Estimate.Median, e.Estimate.Lo, e.Estimate.Hi)
		}
		for _, e := range ph.PerDirector {
			fmt.Fprintf(w, "%sreal servers one director feeds in %s: %.1f [%.1f, %.1f]\n", prefix, e.Mode, e.Estimate.Median, e.Estimate.Lo, e.Estimate.Hi)
		}
	}
}
