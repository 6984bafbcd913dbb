//go:build linux

package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/internal/boundedread"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

// The paper's figures (Ibrahim and Makan, "Linux on Carrier Grade Web
// Servers"): LVS-NAT handled at most 1,790 valid TCP connections/s where
// the same servers took more than 7,116 directly; one client saw 0.3 ms
// per request and more than 178 requests/s.
const (
	PaperNATConnsPerSec    = 1790
	PaperDirectConnsPerSec = 7116
	PaperSingleLatencyMs   = 0.3
	PaperSingleReqPerSec   = 178
)

// The files a benchmark writes into its output folder.
const (
	ResultsJSON = "results.json"
	ResultsText = "results.txt"
	FigureSVG   = "figure7.svg"
	FigurePNG   = "figure7.png"
	SummaryMD   = "summary.md"
)

// WriteFiles writes every output of a benchmark into dir.
func (r *Result) WriteFiles(dir string) error {
	figures := []string{FigureSVG, FigurePNG}
	if len(r.Points) == 0 {
		figures = nil // a run of light load only has no curve to draw
	}
	return writeOutputs(dir, []output{{ResultsJSON, r.WriteJSON}, {ResultsText, r.WriteBenchfmt}, {SummaryMD, r.WriteSummary}},
		r.SaveFigure, figures...)
}

// output is one text file of a result.
type output struct {
	name  string
	write func(io.Writer) error
}

// writeOutputs writes a result's text files and its figure (once per
// name, the extension picking the format) into dir. Each is written in a
// folder of this process's own and renamed into place: a symlink planted
// where a file goes (in a folder others can write) is replaced, never
// written through as root.
func writeOutputs(dir string, texts []output, figure func(path string) error, figures ...string) error {
	if st, err := os.Lstat(dir); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("output folder %s is a symlink: give the real folder", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	private, err := os.MkdirTemp(dir, ".writing-")
	if err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	defer os.RemoveAll(private)
	var errs []error
	place := func(name string, err error) {
		if err == nil {
			err = os.Chmod(filepath.Join(private, name), 0o644)
		}
		if err == nil {
			err = os.Rename(filepath.Join(private, name), filepath.Join(dir, name))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", filepath.Join(dir, name), err))
		}
	}
	for _, o := range texts {
		f, err := os.OpenFile(filepath.Join(private, o.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			err = errors.Join(o.write(f), f.Close())
		}
		place(o.name, err)
	}
	for _, name := range figures {
		place(name, figure(filepath.Join(private, name)))
	}
	return errors.Join(errs...)
}

// WriteFileIn writes one file into dir as writeOutputs does (a baseline,
// a VM's configuration).
func WriteFileIn(dir, name string, write func(io.Writer) error) error {
	return writeOutputs(dir, []output{{name, write}}, nil)
}

// CheckOutDir accepts an output folder lvslab bench or failover may write
// as root (vm.CheckOutDir: not a symlink, a directory holding none), given
// relative or absolute: what they check before they measure anything.
func CheckOutDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("output folder %s: %w", dir, err)
	}
	return vm.CheckOutDir(abs)
}

// WriteJSON writes the whole result, as results.json and baselines hold it.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(r)
}

// MaxResultBytes bounds a results.json that ReadResult reads: the shipped
// baselines take about 2 kB a trial, so every mode at 20 client counts
// and MaxTrials trials is some 25 MB.
const MaxResultBytes = 64 << 20

// ReadResult reads a results.json or a baseline.
func ReadResult(path string) (*Result, error) {
	data, err := boundedread.File(path, MaxResultBytes)
	if err != nil {
		return nil, err
	}
	return parseResult(data, path)
}

// ReadBaseline reads the baseline lvslab gate compares with: a shipped one
// by its kernel's name (debian-6.1: fixtures/baselines, embedded), or any
// result file by its path (a value with a "/" or ending in .json).
func ReadBaseline(nameOrPath string) (*Result, error) {
	if strings.Contains(nameOrPath, "/") || strings.HasSuffix(nameOrPath, ".json") {
		return ReadResult(nameOrPath)
	}
	data, err := fixtures.Baseline(nameOrPath)
	if err != nil {
		return nil, err
	}
	return parseResult(data, "the shipped baseline "+nameOrPath)
}

// parseResult reads a result that source (a path) holds.
func parseResult(data []byte, source string) (*Result, error) {
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is not an lvslab bench result: %w", source, err)
	}
	if len(r.Trials) == 0 && len(r.Light) == 0 {
		return nil, fmt.Errorf("%s holds no trials: give a results.json written by lvslab bench", source)
	}
	if err := checkTrials(&r); err != nil {
		return nil, fmt.Errorf("%s is not a result lvslab bench wrote: %w", source, err)
	}
	r.Summarise()
	return &r, nil
}

// WriteBenchfmt writes every trial in the Go benchmark format, one line per
// trial, so that benchstat reads it: benchstat -col /mode results.txt
// shows the modes side by side.
func (r *Result) WriteBenchfmt(w io.Writer) error {
	bw := benchfmt.NewWriter(w)
	res := &benchfmt.Result{}
	for _, kv := range [][2]string{{"goos", "linux"}, {"kernel", r.Env.Kernel}, {"cpu", r.Env.CPUModel},
		{"accelerator", r.Env.Accel}, {"lvslab", r.Env.Version}, {"connection", r.Config.Connection}} {
		res.SetConfig(kv[0], strings.ReplaceAll(kv[1], " ", "_"))
		res.Config[len(res.Config)-1].File = true
	}
	direct := map[[2]int]float64{}
	for _, t := range r.Trials {
		if t.Mode == topology.ModeDirect {
			direct[[2]int{t.Clients, t.Trial}] = t.RequestsPerSec
		}
	}
	// benchstat orders columns as they first appear: direct, the reference, first.
	trials := slices.Clone(r.Trials)
	slices.SortStableFunc(trials, func(a, b Trial) int {
		return cmp.Or(a.Trial-b.Trial, slices.Index(r.Config.Clients, a.Clients)-slices.Index(r.Config.Clients, b.Clients),
			slices.Index(r.Config.Modes, a.Mode)-slices.Index(r.Config.Modes, b.Mode))
	})
	for _, t := range trials {
		res.Name = benchfmt.Name(fmt.Sprintf("WebBench/clients=%d/mode=%s", t.Clients, t.Mode))
		res.Iters = int(t.Requests)
		res.Values = []benchfmt.Value{
			{Value: t.RequestsPerSec, Unit: "req/s"},
			{Value: t.Latency.P50 / 1000, Unit: "p50-sec"},
			{Value: t.Latency.P99 / 1000, Unit: "p99-sec"},
		}
		if d, ok := direct[[2]int{t.Clients, t.Trial}]; ok && d > 0 && t.Mode != topology.ModeDirect {
			res.Values = append(res.Values, benchfmt.Value{Value: t.RequestsPerSec / d, Unit: "ratio-to-direct"})
		}
		if err := bw.Write(res); err != nil {
			return err
		}
	}
	return nil
}

// SaveFigure draws Figure 7 again: requests/s against the number of
// clients, one line per mode, with the bootstrap interval of each median
// as error bars. The extension picks the format (.svg, .png).
func (r *Result) SaveFigure(path string) error {
	if len(r.Points) == 0 || len(r.Config.Clients) == 0 {
		return fmt.Errorf("figure %s: the result has no sweep to draw", path)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("lvslab Figure 7: %s connections, kernel %s (%s)", r.Config.Connection, r.Env.Kernel, r.Env.Accel)
	if r.Config.Isolate {
		p.Title.Text += ", a station per CPU"
	}
	p.X.Label.Text = "clients"
	p.Y.Label.Text = "requests/s (median, 95% interval)"
	p.X.Scale = plot.LogScale{}
	clients := r.figureClients()
	var ticks []plot.Tick
	for _, c := range clients {
		ticks = append(ticks, plot.Tick{Value: float64(c), Label: fmt.Sprint(c)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = float64(slices.Min(clients))/1.25, float64(slices.Max(clients))*1.25
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = false, false // bottom right: the axis starts at 0, the lines run high
	p.Add(plotter.NewGrid())
	type points struct {
		plotter.XYs
		plotter.YErrors
	}
	for i, m := range r.Config.Modes {
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
			return fmt.Errorf("figure: %w", err)
		}
		line.Color, scatter.Color = plotutil.Color(i), plotutil.Color(i)
		scatter.Shape = plotutil.Shape(i)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return fmt.Errorf("figure: %w", err)
		}
		bars.Color = plotutil.Color(i)
		p.Add(line, scatter, bars)
		p.Legend.Add(string(m), line, scatter)
	}
	if err := r.addBounds(p); err != nil {
		return err
	}
	q, err := r.ratioPanel()
	if err != nil {
		return err
	}
	if err := savePanels(path, 8*vg.Inch, 9*vg.Inch, p, q); err != nil {
		return fmt.Errorf("save figure %s: %w", path, err)
	}
	return nil
}

// ratioPanel is the figure's second panel: each mode's ratio to direct
// against clients, with its interval, and the paper's NAT ratio as a
// line. Absolute rates depend on the machine; the ratio is what can be
// set beside the paper's.
func (r *Result) ratioPanel() (*plot.Plot, error) {
	q := plot.New()
	q.Title.Text = fmt.Sprintf("Ratio to direct: only the ratio transfers between machines (paper: NAT ≤ %.2f)", PaperRatio)
	q.X.Label.Text = "clients"
	q.Y.Label.Text = "ratio to direct (median, 95% interval)"
	q.X.Scale = plot.LogScale{}
	// The same axis as the rates above, so that the panels line up.
	clients := r.figureClients()
	var ticks []plot.Tick
	for _, c := range clients {
		ticks = append(ticks, plot.Tick{Value: float64(c), Label: fmt.Sprint(c)})
	}
	q.X.Tick.Marker = plot.ConstantTicks(ticks)
	lo, hi := float64(slices.Min(clients))/1.25, float64(slices.Max(clients))*1.25
	q.X.Min, q.X.Max = lo, hi
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
	for i, m := range r.Config.Modes {
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
			return nil, fmt.Errorf("figure: %w", err)
		}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("figure: %w", err)
		}
		line.Color, scatter.Color, bars.Color = plotutil.Color(i), plotutil.Color(i), plotutil.Color(i)
		scatter.Shape = plotutil.Shape(i)
		q.Add(line, scatter, bars)
		q.Legend.Add(string(m), line, scatter)
	}
	q.Y.Max *= 1.35 // room for the legend above the lines
	return q, nil
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

// WriteSummary writes summary.md: the environment, each mode's ratio to
// direct with its interval, the paper's figures beside them, the
// single-client latency run and any warning.
func (r *Result) WriteSummary(w io.Writer) error {
	r.writeFirstScreen(w)
	fmt.Fprintln(w)
	if len(r.Trials) > 0 {
		r.writeSweep(w)
	}
	if len(r.Latency) > 0 {
		fmt.Fprintf(w, "\n## One client (the paper's third test: %.1f ms per request, more than %d requests/s)\n\n", PaperSingleLatencyMs, PaperSingleReqPerSec)
		fmt.Fprintf(w, "| mode | requests/s | mean ms | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|\n")
		for _, t := range r.Latency {
			l := t.Latency
			fmt.Fprintf(w, "| %s | %.0f | %.3f | %.3f | %.3f | %.3f |\n", t.Mode, t.RequestsPerSec, l.Mean, l.P50, l.P99, l.Max)
		}
	}
	r.writeModel(w, "Where the time goes (light load)", nil)
	if st := r.Stations; st != nil {
		fmt.Fprintf(w, "\n# The stations run: a vCPU per station\n\nThe same modes under light load only, in a second VM with %d vCPUs in real time (kernel %s, %s), each station on a vCPU of its own: the per-station demands a single CPU cannot tell apart.\n\n",
			st.Env.CPUs, st.Env.Kernel, st.Env.Accel)
		st.writeMachine(w)
		st.writeModel(w, "Where the time goes, per station (light load)", r)
	}
	var warnings []string
	warnings = append(warnings, r.modelWarnings()...)
	if r.Stations != nil {
		for _, s := range r.Stations.modelWarnings() {
			warnings = append(warnings, "stations run: "+s)
		}
	}
	for _, p := range r.Points {
		if p.LoadgenBound > 0 {
			warnings = append(warnings, fmt.Sprintf("%s at %d clients: the load generator, not the system under test, was the bottleneck in %d of %d trials",
				p.Mode, p.Clients, p.LoadgenBound, len(p.RequestsPerSec.Values)))
		}
		if p.Ratio != nil && p.Ratio.CV > 0.05 {
			warnings = append(warnings, fmt.Sprintf("%s at %d clients: the trials' ratios vary by %.0f%% (CV): look for a drift across trials in %s",
				p.Mode, p.Clients, 100*p.Ratio.CV, ResultsJSON))
		}
		if p.Errors > 0 {
			warnings = append(warnings, fmt.Sprintf("%s at %d clients: %d requests failed", p.Mode, p.Clients, p.Errors))
		}
	}
	if len(warnings) > 0 {
		fmt.Fprintf(w, "\n## Warnings\n\n")
		for _, s := range warnings {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
	fmt.Fprintf(w, "\n# Method\n\n")
	r.writeSetup(w)
	r.writeMethods(w)
	_, err := fmt.Fprintf(w, "\nFiles: `%s` (every trial), `%s` (`benchstat -col /mode %s`), `%s`/`%s`.\n", ResultsJSON, ResultsText, ResultsText, FigureSVG, FigurePNG)
	return err
}

// writeSetup says where and how the run was made.
func (r *Result) writeSetup(w io.Writer) {
	e, c := r.Env, r.Config
	kernel := e.Kernel
	if e.KernelName != "" {
		kernel += " (" + e.KernelName + ")"
	}
	fmt.Fprintf(w, "Kernel %s, %d × %s, accelerator %s, lvslab %s, %s.\n", kernel, e.CPUs, e.CPUModel, e.Accel, e.Version, e.Started.Format("2006-01-02 15:04 MST"))
	conn := "one TCP connection per request (like WebBench)"
	if c.Connection == "keepalive" {
		conn = "keep-alive connections"
	}
	fmt.Fprintf(w, "Closed-loop clients, %s, %d-byte responses from %d real servers (%s); %d trials of %gs after a %gs warm-up, modes interleaved in each trial.",
		conn, c.BodyBytes, c.RealServers, c.Scheduler, c.Trials, c.Duration.Seconds(), c.Warmup.Seconds())
	if c.Light.Trials > 0 {
		fmt.Fprintf(w, " Before the sweep: one client per mode for %gs, and %d light-load trials per mode, each of two open-loop runs of at least %gs", c.Latency.Seconds(), c.Light.Trials, c.Light.Duration.Seconds())
		if c.Light.Burst > 1 {
			fmt.Fprintf(w, ", the requests in bursts of %d (a station serves them back to back, as a saturated one does, instead of waking from idle for each; its load is as light on average)", c.Light.Burst)
		}
		fmt.Fprint(w, ".")
	}
	if c.Batch {
		fmt.Fprintf(w, " The load generator and the real servers ran under SCHED_BATCH: a woken process waits for the running one to block or use up its slice instead of preempting it, so that where stations share a CPU the context switches per request, and the throughput with them, do not change from run to run.")
	}
	if r.oneClientStandsIn() {
		fmt.Fprintf(w, " In the figure, 1 client is the one-client run (a single measurement, no interval).")
	}
	if c.DirectorRules > 0 {
		fmt.Fprintf(w, " **The director was slowed down on purpose by %d nftables rules.**", c.DirectorRules)
	}
	fmt.Fprintf(w, "\n\nIntervals are %.0f%% bootstrap intervals of the median; CV is the coefficient of variation over trials.\n\n", 100*Confidence)
	r.writeMachine(w)
	if r.Env.Switch != "" {
		fmt.Fprintf(w, "\nSwitch: %s.\n", r.Env.Switch)
	}
}

func paperNote(m topology.Mode) string {
	if m == topology.ModeNAT {
		return fmt.Sprintf("≤ %.2f (%d ÷ %d conn/s)", float64(PaperNATConnsPerSec)/PaperDirectConnsPerSec, PaperNATConnsPerSec, PaperDirectConnsPerSec)
	}
	return "–"
}

// addBounds draws each mode's bound, predicted from the light-load runs,
// as a dashed line in the mode's colour: min(n/R(1), ceiling).
func (r *Result) addBounds(p *plot.Plot) error {
	if r.Model == nil || len(r.Config.Clients) == 0 {
		return nil
	}
	clients := r.figureClients()
	lo, hi := float64(slices.Min(clients))/1.25, float64(slices.Max(clients))*1.25
	for i, m := range r.Config.Modes {
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

// writeSweep writes the sweep's tables: requests/s, ratios, peaks.
func (r *Result) writeSweep(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "## Requests/s (median of %d trials)\n\n| clients |", c.Trials)
	for _, m := range c.Modes {
		fmt.Fprintf(w, " %s |", m)
	}
	fmt.Fprintf(w, "\n|---:|%s\n", strings.Repeat("---:|", len(c.Modes)))
	for _, n := range c.Clients {
		fmt.Fprintf(w, "| %d |", n)
		for _, m := range c.Modes {
			if p, ok := r.Point(m, n); ok {
				fmt.Fprintf(w, " %.0f |", p.RequestsPerSec.Median)
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "\n## Ratio to direct\n\n| mode | clients | ratio | %.0f%% interval | CV | p99 ms | errors | paper |\n|---|---:|---:|---|---:|---:|---:|---|\n", 100*Confidence)
	for _, m := range c.Modes {
		for _, n := range c.Clients {
			p, ok := r.Point(m, n)
			if !ok || p.Ratio == nil {
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %.3f | %s | %.1f%% | %.2f | %d | %s |\n", m, n, p.Ratio.Median,
				p.Ratio.Interval("%.3f"), 100*p.Ratio.CV, p.P99, p.Errors, paperNote(m))
		}
	}
	fmt.Fprintf(w, "\nThe paper (Ibrahim and Makan, *Linux on Carrier Grade Web Servers*): LVS-NAT peaked at %d conn/s where the servers took more than %d directly, a ratio of at most %.2f; it did not measure DR or TUN.\n",
		PaperNATConnsPerSec, PaperDirectConnsPerSec, float64(PaperNATConnsPerSec)/PaperDirectConnsPerSec)
	fmt.Fprintf(w, "\n## Peak\n\n| mode | peak req/s | at clients | paper |\n|---|---:|---:|---|\n")
	for _, m := range c.Modes {
		var best Point
		for _, p := range r.Points {
			if p.Mode == m && p.RequestsPerSec.Median > best.RequestsPerSec.Median {
				best = p
			}
		}
		paper := "–"
		switch m {
		case topology.ModeDirect:
			paper = fmt.Sprintf("> %d conn/s", PaperDirectConnsPerSec)
		case topology.ModeNAT:
			paper = fmt.Sprintf("≤ %d conn/s", PaperNATConnsPerSec)
		}
		fmt.Fprintf(w, "| %s | %.0f | %d | %s |\n", m, best.RequestsPerSec.Median, best.Clients, paper)
	}
}

// SaveBaseline writes the result as a baseline file for lvslab gate.
func (r *Result) SaveBaseline(path string) error {
	if err := WriteFileIn(filepath.Dir(path), filepath.Base(path), r.WriteJSON); err != nil {
		return fmt.Errorf("save baseline %s: %w", path, err)
	}
	return nil
}

// CheckOutputs checks, before any lab or VM, where a benchmark's files go
// (out, a folder, created if missing) and its baseline ("" for none, else
// a file in a folder that exists): a mistake there would otherwise show
// only at the end of a long run.
func CheckOutputs(out, baseline string) error {
	var errs []error
	if err := CheckOutDir(out); err != nil {
		errs = append(errs, fmt.Errorf("--out: %w", err))
	}
	if baseline != "" {
		dir := filepath.Dir(baseline)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("--save-baseline %s: folder %s does not exist: create it first", baseline, dir))
		} else if fi, err := os.Stat(baseline); err == nil && fi.IsDir() {
			errs = append(errs, fmt.Errorf("--save-baseline %s is a folder: give a file name", baseline))
		}
	}
	return errors.Join(errs...)
}
