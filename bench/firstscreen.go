//go:build linux

package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

// The first screen: what summary.md and the terminal open with, at most
// eight lines that answer the paper's question; the tables and the
// method come after it.

// FirstScreen is the verdict and its reason, NAT's ratio to direct, the
// knee, the real servers one director feeds and the bottleneck.
func (r *Result) FirstScreen() (verdict, why string, facts []string) {
	verdict, why = r.Verdict()
	st := r.perStation()
	var ratios []string
	if s := r.measuredRatio(); s != "" {
		ratios = append(ratios, s)
	}
	p := r.Physical
	switch {
	case p != nil && p.Ratio != nil:
		ratios = append([]string{p.ratioFact()}, ratios...)
	case p != nil:
		ratios = append([]string{"physical: " + p.Statement}, ratios...)
	case !r.Config.Isolate:
		ratios = append([]string{"physical: no capped run"}, ratios...)
	}
	if st != nil && st.Model != nil && st.Model.Paper != nil {
		for _, e := range st.Model.Paper.Ratios {
			if e.Mode == topology.ModeNAT {
				ratios = append(ratios, "predicted for the paper's hardware "+e.Estimate.Show("%.3f"))
			}
		}
	}
	facts = append(facts, fmt.Sprintf("NAT ÷ direct (paper ≤ %.2f): %s", PaperRatio, strings.Join(ratios, "; ")))
	physical := p != nil && p.Ratio != nil
	if physical {
		facts = append(facts, "knee: "+p.kneeFact())
	} else {
		facts = append(facts, "knee: "+r.kneeLine())
	}
	var feeds []string
	if st != nil && st.Model != nil && st.Model.Paper != nil && len(st.Model.Paper.PerDirector) > 0 {
		var per []string
		for _, e := range st.Model.Paper.PerDirector {
			per = append(per, fmt.Sprintf("%s %s", e.Mode, e.Estimate.Show("%.1f")))
		}
		feeds = append(feeds, strings.Join(per, ", "))
	}
	if physical && p.feedsFact() != "" {
		feeds = append(feeds, p.feedsFact())
	}
	if len(feeds) > 0 {
		facts = append(facts, fmt.Sprintf("real servers one director feeds (paper: %d): %s", PaperServers, strings.Join(feeds, "; ")))
	} else {
		facts = append(facts, "real servers one director feeds: not predicted (no per-station demands)")
	}
	if physical {
		facts = append(facts, "bottleneck: "+p.bottleneckFact()+"; "+r.bottleneckLine(st))
	} else {
		facts = append(facts, "bottleneck: "+r.bottleneckLine(st))
	}
	return verdict, why, facts
}

// measuredRatio is NAT's measured ratio at the top client count, and
// where it was measured.
func (r *Result) measuredRatio() string {
	if len(r.Config.Clients) == 0 {
		return ""
	}
	n := slices.Max(r.Config.Clients)
	p, ok := r.Point(topology.ModeNAT, n)
	if !ok || p.Ratio == nil {
		return ""
	}
	where := "single CPU"
	if r.Config.Isolate {
		where = "machine model"
		if r.Machine != nil {
			if c, ok := r.Machine.Caps[stationHolding(r.Machine, "director")]; ok {
				where = fmt.Sprintf("director capped at %g by --cap", c)
				if r.Config.CapFrom != nil {
					where = fmt.Sprintf("director capped at one real server's share, %g,", c)
				}
			}
		}
	}
	return fmt.Sprintf("%s %s at %d clients", where, p.Ratio.Show("%.3f"), n)
}

// knee is the first client count from which a mode's throughput rises no
// more: every later median within that point's interval or below it.
// ok is false when the sweep has no later point to tell.
func (r *Result) knee(m topology.Mode) (Point, bool) {
	var pts []Point
	for _, p := range r.Points {
		if p.Mode == m {
			pts = append(pts, p)
		}
	}
	slices.SortFunc(pts, func(a, b Point) int { return a.Clients - b.Clients })
	for i := 0; i+1 < len(pts); i++ {
		if !slices.ContainsFunc(pts[i+1:], func(q Point) bool { return q.RequestsPerSec.Median > pts[i].RequestsPerSec.Hi }) {
			return pts[i], true
		}
	}
	return Point{}, false
}

func (r *Result) kneeLine() string {
	var parts []string
	for _, m := range []topology.Mode{topology.ModeNAT, topology.ModeDirect} {
		if !slices.ContainsFunc(r.Points, func(p Point) bool { return p.Mode == m }) {
			continue
		}
		if p, ok := r.knee(m); ok {
			parts = append(parts, fmt.Sprintf("%s flat from %d clients at %s req/s", m, p.Clients, p.RequestsPerSec.Show("%.0f")))
		} else {
			parts = append(parts, fmt.Sprintf("%s still rising at %d clients", m, slices.Max(r.Config.Clients)))
		}
	}
	if len(parts) == 0 {
		return "no sweep"
	}
	s := strings.Join(parts, "; ")
	if !r.Config.Isolate {
		s += " (one CPU: every mode saturates the same CPU)"
	}
	return s
}

func (r *Result) bottleneckLine(st *Result) string {
	from, what := r, "one CPU"
	if st != nil {
		from, what = st, "per station"
	}
	if from.Model == nil {
		return "not measured"
	}
	var parts []string
	for _, m := range []topology.Mode{topology.ModeNAT, topology.ModeDirect} {
		b, ok := from.Model.Bound(m)
		switch {
		case !ok:
		case b.Refused != "":
			parts = append(parts, fmt.Sprintf("%s not predicted", m))
		default:
			parts = append(parts, fmt.Sprintf("%s: %s", m, b.Bottleneck))
		}
	}
	if len(parts) == 0 {
		return "not measured"
	}
	return strings.Join(parts, ", ") + " (" + what + ", light load)"
}

// writeFirstScreen writes the first screen as markdown.
func (r *Result) writeFirstScreen(w io.Writer) {
	v, why, facts := r.FirstScreen()
	fmt.Fprintf(w, "# lvslab bench: %s\n\n%s.\n", v, upperFirst(why))
	for _, f := range facts {
		fmt.Fprintf(w, "- %s\n", upperFirst(f))
	}
}
