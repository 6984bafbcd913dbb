//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "Reproduce the paper's Figure 7 (direct, routed, NAT, DR, TUN; interleaved trials) into results.json, results.txt, figure7.svg/png, summary.md.",
		usage: "bench [--modes direct,routed,nat,dr,tun] [--clients 8,32] [--conn new|keepalive] [--trials 6] " +
			"[--duration 1.5s] [--warmup 0.3s] [--latency 1s]\n   [--light-trials 3] [--light-duration 0.5s] [--light-share 0.4] [--light-burst 8] [--stations 4] " +
			"[--isolate] [--cap STATION=CPUS,…] [--switch static|learning] [--sched-batch=false]\n   [--where auto|host|vm] [--kernel K] [--out DIR] [--save-baseline FILE]",
		root: true,
		run:  runBench,
	})
}

type benchFlags struct {
	modes, clients, conn, kernel, out, baseline, scheduler, name, where string
	icount, configFile, caps, switchMode                                string
	trials, rules, cpus, lightTrials, stations, lightBurst              int
	duration, warmup, latency, timeout, lightDuration                   time.Duration
	lightShare                                                          float64
	isolate, batch                                                      bool
	set                                                                 map[string]bool
}

func (b *benchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.modes, "modes", "direct,routed,nat,dr,tun", "modes to compare, interleaved; direct is the reference of every ratio")
	// The default sweep keeps make bench near 8 minutes on 2 cores; 1.5 s
	// measurements keep a ratio's CV at or under 3 % (docs/findings.md).
	// One client is left to the one-client run, which the figure draws at 1.
	fs.StringVar(&b.clients, "clients", "8,32", "closed-loop client counts")
	fs.StringVar(&b.conn, "conn", "new", "new (one TCP connection per request, like WebBench) or keepalive")
	fs.IntVar(&b.trials, "trials", 6, "trials; each measures every mode at every client count (0: light load only)")
	fs.DurationVar(&b.duration, "duration", 1500*time.Millisecond, "measured time per mode, client count and trial")
	fs.DurationVar(&b.warmup, "warmup", 300*time.Millisecond, "unmeasured load before each measurement")
	fs.DurationVar(&b.latency, "latency", time.Second, "single-client run per mode: the paper's third test, and R(1) of the model (0 skips it)")
	fs.IntVar(&b.lightTrials, "light-trials", 3, "light-load trials per mode, that each station's demand is measured in (0 skips them)")
	fs.DurationVar(&b.lightDuration, "light-duration", 500*time.Millisecond, "measured time of each of a light-load trial's two runs")
	fs.Float64Var(&b.lightShare, "light-share", 0.4, "the busiest station's utilization a light-load run aims at (at most 0.5)")
	fs.IntVar(&b.lightBurst, "light-burst", 8, "light-load requests come this many at a time (same mean rate), so that a station\nserves them back to back instead of waking from idle for each (1: evenly spaced)")
	fs.IntVar(&b.stations, "stations", 4, "in the VM, then run every mode under light load in a second VM with this many vCPUs,\na vCPU per station (client, director, router, real servers), for per-station demands (0 skips it)")
	fs.BoolVar(&b.isolate, "isolate", false, "the machine model: each station on CPUs of its own (in the VM: its vCPUs, in real time);\nevery measurement records each station's CPU time")
	fs.StringVar(&b.caps, "cap", "", "with --isolate in the VM: cap stations' vCPUs at shares of a host CPU, e.g. director=0.25")
	fs.BoolVar(&b.batch, "sched-batch", true, "run the load generator and real servers under SCHED_BATCH (no wake-up preemption),\nfor steady context switches per request where stations share CPUs")
	fs.StringVar(&b.switchMode, "switch", "static", "static (forwarding entries for every node's link) or learning (the bridges age out ports that never send)")
	fs.StringVar(&b.kernel, "kernel", "", "kernel of the shipped list for the VM (default: the list's default)")
	fs.StringVar(&b.out, "out", "results/bench", "output `folder`")
	fs.StringVar(&b.baseline, "save-baseline", "", "also write the result as a baseline `file` for lvslab gate")
	fs.StringVar(&b.scheduler, "scheduler", "rr", "IPVS scheduler of the virtual services")
	fs.IntVar(&b.rules, "director-rules", 0, "slow the director down on purpose with this many nftables rules (proves the gate)")
	fs.StringVar(&b.name, "name", "bench", "prefix of the labs' names")
	fs.StringVar(&b.where, "where", bench.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	fs.DurationVar(&b.timeout, "vm-timeout", time.Hour, "kill each VM after this long")
	fs.IntVar(&b.cpus, "vm-cpus", 1, "the VM's CPUs (with --isolate: 4)")
	// An instruction-driven clock makes a trial's timing depend on the work
	// it took, not on what else the host ran (docs/findings.md).
	fs.StringVar(&b.icount, "vm-icount", "shift=2,sleep=off", "QEMU -icount for the VM's clock, or off for the host's real time (--isolate: off)")
	// How the VM hands the guest its configuration; not for direct use.
	fs.StringVar(&b.configFile, "config", "", "")
}

// config checks the flags and turns them into a benchmark.
func (b *benchFlags) config() (bench.Config, error) {
	if b.configFile != "" {
		c, err := bench.ReadConfig(b.configFile)
		if err != nil {
			return c, usageError{err}
		}
		return c, nil
	}
	cfg := bench.Config{Name: b.name, Trials: b.trials, Duration: bench.Seconds(b.duration), Warmup: bench.Seconds(b.warmup),
		Latency: bench.Seconds(b.latency), Scheduler: b.scheduler, DirectorRules: b.rules, Server: harness.DefaultServerConfig,
		Light:   bench.LightLoad{Trials: b.lightTrials, Duration: bench.Seconds(b.lightDuration), Share: b.lightShare, Burst: b.lightBurst},
		Isolate: b.isolate, Batch: b.batch}
	switch b.switchMode {
	case "static":
	case "learning":
		cfg.Switch.Learning = true
	default:
		return cfg, usageError{fmt.Errorf("--switch %q: use static or learning", b.switchMode)}
	}
	if b.caps != "" {
		var err error
		if cfg.Caps, err = bench.ParseCaps(b.caps); err != nil {
			return cfg, usageError{err}
		}
	}
	// No single-client run, no light load sized from it (unless asked for,
	// which Validate then refuses by name).
	if b.latency == 0 && !b.set["light-trials"] {
		cfg.Light.Trials = 0
	}
	if b.isolate {
		// The model needs real time and a vCPU per station.
		if b.set["vm-icount"] && b.icount != "off" {
			return cfg, usageError{errors.New("--isolate needs real time: under --vm-icount every vCPU runs on one host thread (leave --vm-icount out, or give off)")}
		}
		b.icount = "off"
		if !b.set["vm-cpus"] {
			b.cpus = 4
		}
	}
	if b.isolate {
		// Which stations a VM of that many vCPUs has is known now: a cap
		// of another is refused before any VM boots.
		if err := bench.CheckCaps(cfg.Caps, b.cpus); err != nil {
			return cfg, usageError{err}
		}
	}
	if b.stations != 0 && (b.stations < topology.MinIsolateCPUs || b.stations > 64) {
		return cfg, usageError{fmt.Errorf("--stations %d: give 0 (skip) or %d to 64 vCPUs", b.stations, topology.MinIsolateCPUs)}
	}
	for _, m := range strings.Split(b.modes, ",") {
		cfg.Modes = append(cfg.Modes, topology.Mode(strings.TrimSpace(m)))
	}
	var err error
	if cfg.Clients, err = parseInts(b.clients); err != nil {
		return cfg, usageError{fmt.Errorf("--clients: %w", err)}
	}
	switch b.conn {
	case "new":
	case "keepalive":
		cfg.KeepAlive = true
	default:
		return cfg, usageError{fmt.Errorf("--conn %q: use new or keepalive", b.conn)}
	}
	if b.cpus < 1 || b.cpus > 64 || b.timeout <= 0 {
		return cfg, usageError{errors.New("--vm-cpus must be 1-64 and --vm-timeout positive")}
	}
	if err := errors.Join(cfg.Validate(), b.checkPlaces()); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// checkPlaces checks, before any lab or VM, what would otherwise fail only
// at the end of a long run: the kernel to boot, and where results go.
func (b *benchFlags) checkPlaces() error {
	var errs []error
	if b.kernel != "" {
		if b.where == bench.WhereHost {
			errs = append(errs, errors.New("--kernel picks the VM's kernel: use --where vm or auto, or leave --kernel out"))
		} else if list, err := vm.LoadKernels(""); err != nil {
			errs = append(errs, err)
		} else if _, err := list.Select(b.kernel, false); err != nil {
			errs = append(errs, fmt.Errorf("--kernel: %w", err))
		}
	}
	if fi, err := os.Stat(b.out); err == nil && !fi.IsDir() {
		errs = append(errs, fmt.Errorf("--out %s is a file: give a folder (it is created if missing)", b.out))
	}
	if b.baseline != "" {
		dir := filepath.Dir(b.baseline)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("--save-baseline %s: folder %s does not exist: create it first", b.baseline, dir))
		} else if fi, err := os.Stat(b.baseline); err == nil && fi.IsDir() {
			errs = append(errs, fmt.Errorf("--save-baseline %s is a folder: give a file name", b.baseline))
		}
	}
	return errors.Join(errs...)
}

func runBench(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var b benchFlags
	b.register(fs)
	if err := parse(find("bench"), fs, args, false); err != nil {
		return err
	}
	b.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { b.set[f.Name] = true })
	cfg, err := b.config()
	if err != nil {
		return err
	}
	if b.out, err = filepath.Abs(b.out); err != nil {
		return err
	}
	place, err := bench.Place(cfg, b.where)
	if err != nil {
		return usageError{err}
	}
	if place.Note != "" {
		fmt.Fprintln(os.Stderr, "lvslab bench: "+place.Note)
	}
	cfg.Modes = place.Modes
	// The guest gets its configuration, caps included, from the host that applies them.
	if len(cfg.Caps) > 0 && place.Where != bench.WhereVM && b.configFile == "" {
		return usageError{errors.New("--cap needs the VM (--where vm): on a host a station's speed is its CPUs'")}
	}
	var res *bench.Result
	if place.Where == bench.WhereVM {
		res, err = benchInVM(ctx, cfg, &b)
	} else {
		res, err = benchHere(ctx, cfg, b.out)
	}
	if err != nil {
		return err
	}
	printBench(res)
	if len(res.Points) > 0 {
		fmt.Printf("\nfigure:  %s", filepath.Join(b.out, bench.FigureSVG))
	}
	fmt.Printf("\nsummary: %s\ntrials:  %s (benchstat -col /mode %s)\n", filepath.Join(b.out, bench.SummaryMD),
		filepath.Join(b.out, bench.ResultsJSON), filepath.Join(b.out, bench.ResultsText))
	if b.baseline != "" {
		f, err := os.Create(b.baseline)
		if err != nil {
			return fmt.Errorf("save baseline: %w", err)
		}
		if err := errors.Join(res.WriteJSON(f), f.Close()); err != nil {
			return fmt.Errorf("save baseline %s: %w", b.baseline, err)
		}
		fmt.Printf("baseline: %s\n", b.baseline)
	}
	return nil
}

// benchHere runs the benchmark on this kernel and writes its files.
func benchHere(ctx context.Context, cfg bench.Config, out string) (*bench.Result, error) {
	cfg.SuperviseServers = true
	p := newProgress("bench")
	cfg.Progress = func(s bench.Step) {
		desc := fmt.Sprintf("%s trial %d: %-6s %2d clients", s.Phase, s.Trial, s.Mode, s.Clients)
		switch s.Phase {
		case "one client":
			desc = fmt.Sprintf("%s: %s", s.Phase, s.Mode)
		case "light load":
			desc = fmt.Sprintf("%s trial %d: %-6s rate %d of 2", s.Phase, s.Trial, s.Mode, s.Level)
		}
		p.step(s.Done, s.Total, s.Work, s.Left, desc)
	}
	res, err := bench.Run(ctx, cfg)
	p.finish()
	if err != nil {
		if ctx.Err() != nil {
			return nil, exitError{code: exitInterrupted, msg: "interrupted: every lab was removed"}
		}
		return nil, err
	}
	res.Env.Version = version()
	return res, res.WriteFiles(out)
}

// benchInVM runs this same command inside the VM, which writes the files
// into the output folder.
func benchInVM(ctx context.Context, cfg bench.Config, b *benchFlags) (*bench.Result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	icount := b.icount
	if icount == "off" {
		icount = ""
	}
	stations := b.stations
	if cfg.Isolate || cfg.Light.Trials == 0 {
		stations = 0
	}
	res, err := bench.RunInVM(ctx, cfg, b.out, bench.VMOptions{
		Kernel: b.kernel, CPUs: b.cpus, ICount: icount, Timeout: b.timeout, Stations: stations,
		Command: func(configFile, out string) []string {
			return []string{self, "bench", "--where", bench.WhereHost, "--config", configFile, "--out", out}
		},
		Console: os.Stderr,
		Log:     func(s string) { fmt.Fprintln(os.Stderr, "lvslab bench: "+s) },
	})
	var ge *bench.GuestError
	if errors.As(err, &ge) {
		return nil, exitError{code: ge.Code, msg: ge.Error()}
	}
	return res, err
}

func printBench(r *bench.Result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
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
	tw.Flush()
	for _, t := range r.Latency {
		fmt.Printf("one client, %s: %.0f req/s, mean %.3f ms, p99 %.3f ms\n", t.Mode, t.RequestsPerSec, t.Latency.Mean, t.Latency.P99)
	}
	printModel(r, "")
	if r.Stations != nil {
		printModel(r.Stations, "stations run: ")
	}
	v, why := r.Verdict()
	fmt.Printf("\nverdict: %s: %s\n", v, why)
}

// printModel prints a result's demands, bounds and paper prediction.
func printModel(r *bench.Result, prefix string) {
	if r.Model == nil {
		return
	}
	fmt.Printf("\n%sCPU time per request under light load, ms (95%% interval):\n", prefix)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	for _, d := range r.Demands {
		fmt.Fprintf(tw, "  %s\t%s\t%.3f [%.3f, %.3f]\t\n", d.Mode, d.Station, 1000*d.Seconds.Median, 1000*d.Seconds.Lo, 1000*d.Seconds.Hi)
	}
	tw.Flush()
	for _, b := range r.Model.Modes {
		check := ""
		if c := b.Check; c != nil {
			check = fmt.Sprintf("; at %d clients measured %.0f: %s", c.Clients, c.Measured.Median, c.Verdict)
		}
		fmt.Printf("%s%s: bottleneck %s, predicted ceiling %.0f req/s [%.0f, %.0f]%s\n", prefix, b.Mode, b.Bottleneck,
			b.Ceiling.Median, b.Ceiling.Lo, b.Ceiling.Hi, check)
	}
	if ph := r.Model.Paper; ph != nil {
		for _, e := range ph.Ratios {
			fmt.Printf("%spaper's hardware (%d real servers): %s at %.3f [%.3f, %.3f] of direct\n", prefix, ph.Servers, e.Mode,
				e.Estimate.Median, e.Estimate.Lo, e.Estimate.Hi)
		}
		for _, e := range ph.PerDirector {
			fmt.Printf("%sreal servers one director feeds in %s: %.1f [%.1f, %.1f]\n", prefix, e.Mode, e.Estimate.Median, e.Estimate.Lo, e.Estimate.Hi)
		}
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > loadgen.MaxClients {
			return nil, fmt.Errorf("%q is not a client count (1-%d)", f, loadgen.MaxClients)
		}
		out = append(out, n)
	}
	return out, nil
}
