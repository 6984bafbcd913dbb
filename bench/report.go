//go:build linux

package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"

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
		fmt.Fprintf(w, "\n# The stations run: a vCPU per station\n\nThe same modes under light load, in a second VM with %d vCPUs in real time (kernel %s, %s), each station on a vCPU of its own: the per-station demands a single CPU cannot tell apart. Then direct alone, saturated, for the host CPU the real servers' station delivers, which the capped run's cap is derived from.\n\n",
			st.Env.CPUs, st.Env.Kernel, st.Env.Accel)
		st.writeMachine(w)
		st.writeModel(w, "Where the time goes, per station (light load)", r)
	}
	r.writeCapped(w)
	var warnings []string
	warnings = append(warnings, r.modelWarnings()...)
	if r.Stations != nil {
		for _, s := range r.Stations.modelWarnings() {
			warnings = append(warnings, "stations run: "+s)
		}
	}
	warnings = append(warnings, r.cappedWarnings()...)
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
	fmt.Fprintf(w, "Closed-loop clients, %s, %d-byte responses from %d real servers (%s); %s of %gs after a %gs warm-up, modes interleaved in each trial.",
		conn, c.BodyBytes, c.RealServers, c.Scheduler, c.trialsText(), c.Duration.Seconds(), c.Warmup.Seconds())
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
	fmt.Fprintf(w, "\n\nIntervals are %s; CV is the coefficient of variation over trials.\n\n", intervalsAre)
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

// writeSweep writes the sweep's tables: requests/s, ratios, peaks.
func (r *Result) writeSweep(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "## Requests/s (median of %s)\n\n| clients |", c.trialsText())
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

	fmt.Fprint(w, "\n## Ratio to direct\n\n| mode | clients | ratio | interval | CV | p99 ms | errors | paper |\n|---|---:|---:|---|---:|---:|---:|---|\n")
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
