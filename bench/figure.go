//go:build linux

package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/lvslab/lvslab/topology"
)

// The figure: the paper's Figure 7 drawn again from a result.

// SaveFigure draws Figure 7 again: requests/s against the number of
// clients, one line per mode, with the interval of each median as error
// bars. The capped run, if any, comes first: the paper's shape,
// direct climbing and NAT flat at the director's cap. Then the sweep, then
// each mode's ratio to direct, the one figure that transfers between
// machines. The extension picks the format (.svg, .png).
func (r *Result) SaveFigure(path string) error {
	if len(r.Points) == 0 || len(r.Config.Clients) == 0 {
		return fmt.Errorf("figure %s: the result has no sweep to draw", path)
	}
	var panels []*plot.Plot
	c := r.Capped
	if c != nil && (len(c.Points) == 0 || len(c.Config.Clients) == 0) {
		c = nil
	}
	if c != nil {
		title := fmt.Sprintf("Capped run: the director at %g of a host CPU, one real server's share (absolute rates are this machine's)", c.Machine.Caps["director"])
		p, err := c.ratesPanel(title)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	title := fmt.Sprintf("lvslab Figure 7: %s connections, kernel %s (%s)", r.Config.Connection, r.Env.Kernel, r.Env.Accel)
	if r.Config.Isolate {
		title += ", a station per CPU"
	}
	p, err := r.ratesPanel(title)
	if err != nil {
		return err
	}
	if err := r.addBounds(p); err != nil {
		return err
	}
	q, err := r.ratioPanel(c)
	if err != nil {
		return err
	}
	panels = append(panels, p, q)
	if err := savePanels(path, 8*vg.Inch, vg.Length(len(panels))*4.5*vg.Inch, panels...); err != nil {
		return fmt.Errorf("save figure %s: %w", path, err)
	}
	return nil
}

// modeColour is a mode's index among Modes: the same colour and shape in
// every panel, whichever modes a run has.
func modeColour(m topology.Mode) int { return max(0, slices.Index(Modes, m)) }

// clientAxis sets a plot's x axis to clients on a log scale, ticked at
// each count, and returns its ends.
func clientAxis(p *plot.Plot, clients []int) (lo, hi float64) {
	p.X.Label.Text = "clients"
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, c := range clients {
		ticks = append(ticks, plot.Tick{Value: float64(c), Label: fmt.Sprint(c)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	lo, hi = float64(slices.Min(clients))/1.25, float64(slices.Max(clients))*1.25
	p.X.Min, p.X.Max = lo, hi
	return lo, hi
}

// ratesPanel is requests/s against clients, a line per mode.
func (r *Result) ratesPanel(title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "requests/s (median and its interval)"
	clientAxis(p, r.figureClients())
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = false, false // bottom right: the axis starts at 0, the lines run high
	p.Add(plotter.NewGrid())
	type points struct {
		plotter.XYs
		plotter.YErrors
	}
	for _, m := range r.Config.Modes {
		var pts points
		if one, ok := r.oneClient(m); ok {
			pts.XYs = append(pts.XYs, plotter.XY{X: 1, Y: one.RequestsPerSec})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{})
		}
		for _, pt := range r.Points {
			if pt.Mode != m {
				continue
			}
			e := pt.RequestsPerSec
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(pt.Clients), Y: e.Median})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{e.Median - e.Lo, e.Hi - e.Median})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, scatter, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("figure: %w", err)
		}
		i := modeColour(m)
		line.Color, scatter.Color = plotutil.Color(i), plotutil.Color(i)
		scatter.Shape = plotutil.Shape(i)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("figure: %w", err)
		}
		bars.Color = plotutil.Color(i)
		p.Add(line, scatter, bars)
		p.Legend.Add(string(m), line, scatter)
	}
	return p, nil
}

// ratioPanel is the figure's last panel: each mode's ratio to direct
// against clients, with its interval, the capped run's (if any) dashed,
// and the paper's NAT ratio as a line. Absolute rates depend on the
// machine; the ratio is what can be set beside the paper's.
func (r *Result) ratioPanel(capped *Result) (*plot.Plot, error) {
	q := plot.New()
	q.Title.Text = fmt.Sprintf("Ratio to direct: only the ratio transfers between machines (paper: NAT ≤ %.2f)", PaperRatio)
	q.Y.Label.Text = "ratio to direct (median and its interval)"
	// The same axis as the rates above, so that the panels line up.
	clients := r.figureClients()
	if capped != nil {
		clients = append(clients, capped.figureClients()...)
		slices.Sort(clients)
		clients = slices.Compact(clients)
	}
	lo, hi := clientAxis(q, clients)
	q.Y.Min = 0
	q.Legend.Top, q.Legend.Left = true, false
	q.Add(plotter.NewGrid())
	paper, err := plotter.NewLine(plotter.XYs{{X: lo, Y: PaperRatio}, {X: hi, Y: PaperRatio}})
	if err != nil {
		return nil, fmt.Errorf("figure: %w", err)
	}
	paper.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	q.Add(paper)
	q.Legend.Add(fmt.Sprintf("paper: NAT ≤ %.2f (%d ÷ %d conn/s)", PaperRatio, PaperNATConnsPerSec, PaperDirectConnsPerSec), paper)
	if err := r.addRatios(q, ""); err != nil {
		return nil, err
	}
	if capped != nil {
		if err := capped.addRatios(q, ", capped"); err != nil {
			return nil, err
		}
	}
	q.Y.Max *= 1.35 // room for the legend above the lines
	return q, nil
}

// addRatios draws each mode's ratio to direct into q, dashed for a
// label other than "".
func (r *Result) addRatios(q *plot.Plot, label string) error {
	for _, m := range r.Config.Modes {
		var pts struct {
			plotter.XYs
			plotter.YErrors
		}
		for _, pt := range r.Points {
			if pt.Mode != m || pt.Ratio == nil {
				continue
			}
			e := *pt.Ratio
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(pt.Clients), Y: e.Median})
			var lo, hi float64 // no bar for fewer trials than an interval needs
			if len(e.Values) >= MinVerdictTrials {
				lo, hi = e.Median-e.Lo, e.Hi-e.Median
			}
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{lo, hi})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, scatter, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("figure: %w", err)
		}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return fmt.Errorf("figure: %w", err)
		}
		i := modeColour(m)
		line.Color, scatter.Color, bars.Color = plotutil.Color(i), plotutil.Color(i), plotutil.Color(i)
		scatter.Shape = plotutil.Shape(i)
		if label != "" {
			line.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		}
		q.Add(line, scatter, bars)
		q.Legend.Add(string(m)+label, line, scatter)
	}
	return nil
}

// savePanels draws plots one above the other into path, the extension
// picking the format.
func savePanels(path string, w, h vg.Length, plots ...*plot.Plot) error {
	var c vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		c = vgsvg.New(w, h)
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	default:
		return fmt.Errorf("unknown figure format %q: use .svg or .png", filepath.Ext(path))
	}
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
	canvases := plot.Align(rows, tiles, draw.New(c))
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// oneClientStandsIn says whether the figure draws the one-client runs at
// 1 client: there are some, and the sweep has no 1-client point.
func (r *Result) oneClientStandsIn() bool {
	return len(r.Latency) > 0 && !slices.Contains(r.Config.Clients, 1)
}

// figureClients are the client counts the figure's axis shows: the
// sweep's, and 1 when the one-client runs stand in for it.
func (r *Result) figureClients() []int {
	clients := slices.Clone(r.Config.Clients)
	if r.oneClientStandsIn() {
		clients = append([]int{1}, clients...)
	}
	return clients
}

// oneClient is mode m's one-client run, when it stands in for the sweep.
func (r *Result) oneClient(m topology.Mode) (Trial, bool) {
	if !r.oneClientStandsIn() {
		return Trial{}, false
	}
	for _, t := range r.Latency {
		if t.Mode == m {
			return t, true
		}
	}
	return Trial{}, false
}

// addBounds draws each mode's bound, predicted from the light-load runs,
// as a dashed line in the mode's colour: min(n/R(1), ceiling).
func (r *Result) addBounds(p *plot.Plot) error {
	if r.Model == nil || len(r.Config.Clients) == 0 {
		return nil
	}
	clients := r.figureClients()
	lo, hi := float64(slices.Min(clients))/1.25, float64(slices.Max(clients))*1.25
	for _, m := range r.Config.Modes {
		i := modeColour(m)
		b, ok := r.Model.Bound(m)
		if !ok || b.Refused != "" {
			continue
		}
		var pts plotter.XYs
		const steps = 60
		for k := 0; k <= steps; k++ {
			n := lo * math.Pow(hi/lo, float64(k)/steps)
			x := b.Ceiling.Median
			if b.R1 > 0 {
				x = min(x, n/b.R1)
			}
			pts = append(pts, plotter.XY{X: n, Y: x})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("figure: %w", err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		line.Width = vg.Points(0.8)
		p.Add(line)
		p.Legend.Add(string(m)+" bound (light load)", line)
	}
	return nil
}
