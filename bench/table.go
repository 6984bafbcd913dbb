//go:build linux

package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes what lvslab bench prints when it is done: the first
// screen (FirstScreen), then every
// point's throughput and ratio to direct, the single-client runs, each
// station's demand with the bounds and predictions made from them, and the
// verdict.
func (r *Result) WriteTable(w io.Writer) error {
	v, why, facts := r.FirstScreen()
	fmt.Fprintf(w, "lvslab bench: %s\n%s.\n", v, upperFirst(why))
	for _, f := range facts {
		fmt.Fprintf(w, "  %s\n", f)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tclients\treq/s\tratio to direct\tinterval\tCV\tp99 ms\terrors\tloadgen-bound\t")
	for _, p := range r.Points {
		ratio, ci, cv := "-", "-", "-"
		if p.Ratio != nil {
			ratio = fmt.Sprintf("%.3f", p.Ratio.Median)
			ci = p.Ratio.Interval("%.3f")
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
	r.writeCappedTable(w)
	// Again at the end, where a terminal leaves it in sight.
	_, err := fmt.Fprintf(w, "\nverdict: %s\n", v)
	return err
}

// writeModelTable writes a result's demands, bounds and paper prediction.
func (r *Result) writeModelTable(w io.Writer, prefix string) {
	if r.Model == nil {
		return
	}
	fmt.Fprintf(w, "\n%sCPU time per request under light load, ms (median, interval):\n", prefix)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, d := range r.Demands {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", d.Mode, d.Station, msInterval(d.Seconds))
	}
	tw.Flush()
	for _, b := range r.Model.Modes {
		if b.Refused != "" {
			fmt.Fprintf(w, "%s%s: no prediction: %s\n", prefix, b.Mode, b.Refused)
			continue
		}
		check := ""
		if c := b.Check; c != nil {
			check = fmt.Sprintf("; at %d clients measured %.0f: %s", c.Clients, c.Measured.Median, c.Verdict)
		}
		fmt.Fprintf(w, "%s%s: bottleneck %s, predicted ceiling %s req/s%s\n", prefix, b.Mode, b.Bottleneck, b.Ceiling.Show("%.0f"), check)
	}
	if ph := r.Model.Paper; ph != nil {
		for _, e := range ph.Ratios {
			fmt.Fprintf(w, "%spaper's hardware (%d real servers): %s at %s of direct\n", prefix, ph.Servers, e.Mode, e.Estimate.Show("%.3f"))
		}
		for _, e := range ph.PerDirector {
			fmt.Fprintf(w, "%sreal servers one director feeds in %s: %s\n", prefix, e.Mode, e.Estimate.Show("%.1f"))
		}
	}
}
