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
	icount, configFile, caps                                            string
	trials, rules, cpus, lightTrials, stations, lightBurst              int
	duration, warmup, latency, timeout, lightDuration                   time.Duration
	lightShare                                                          float64
	isolate, batch                                                      bool
	switchMode                                                          switchFlag
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
	fs.Var(&b.switchMode, "switch", "static (forwarding entries for every node's link) or learning (the bridges age out ports that never send)")
	fs.StringVar(&b.kernel, "kernel", "", "kernel of the shipped list for the VM (default: the list's default)")
	fs.StringVar(&b.out, "out", "results/bench", "output `folder`")
	fs.StringVar(&b.baseline, "save-baseline", "", "also write the result as a baseline `file` for lvslab gate")
	fs.StringVar(&b.scheduler, "scheduler", "rr", "IPVS scheduler of the virtual services")
	fs.IntVar(&b.rules, "director-rules", 0, "slow the director down on purpose with this many nftables rules (proves the gate)")
	fs.StringVar(&b.name, "name", "bench", "prefix of the labs' names")
	fs.StringVar(&b.where, "where", vm.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	fs.DurationVar(&b.timeout, "vm-timeout", time.Hour, "kill each VM after this long")
	fs.IntVar(&b.cpus, "vm-cpus", 0, "the VM's CPUs (default 1; with --isolate 4)")
	fs.StringVar(&b.icount, "vm-icount", "", "QEMU -icount for the VM's clock (default "+bench.DefaultICount+"), or off for the host's real time (--isolate: off)")
	// How the VM hands the guest its configuration; not for direct use.
	fs.StringVar(&b.configFile, "config", "", "")
}

// config checks the flags and turns them into a benchmark.
func (b *benchFlags) config(fs *flag.FlagSet) (bench.Config, error) {
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
		Isolate: b.isolate, Batch: b.batch, Switch: topology.Switch{Learning: b.switchMode.learning}}
	if b.caps != "" {
		var err error
		if cfg.Caps, err = bench.ParseCaps(b.caps); err != nil {
			return cfg, usageError{err}
		}
	}
	// No single-client run, no light load sized from it (unless asked for,
	// which Validate then refuses by name).
	if b.latency == 0 && !given(fs, "light-trials") {
		cfg.Light.Trials = 0
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
	if err := errors.Join(cfg.Validate(), bench.CheckOutputs(b.out, b.baseline)); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func runBench(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var b benchFlags
	b.register(fs)
	if err := parse(find("bench"), fs, args, false); err != nil {
		return err
	}
	cfg, err := b.config(fs)
	if err != nil {
		return err
	}
	if b.out, err = filepath.Abs(b.out); err != nil {
		return err
	}
	var res *bench.Result
	if b.configFile != "" {
		// The guest's half of a run the host placed in the VM.
		res, err = benchHere(ctx, cfg, b.out)
	} else {
		res, err = benchPlaced(ctx, cfg, &b)
	}
	if err != nil {
		return benchError(ctx, err)
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	if len(res.Points) > 0 {
		fmt.Printf("\nfigure:  %s", filepath.Join(b.out, bench.FigureSVG))
	}
	fmt.Printf("\nsummary: %s\ntrials:  %s (benchstat -col /mode %s)\n", filepath.Join(b.out, bench.SummaryMD),
		filepath.Join(b.out, bench.ResultsJSON), filepath.Join(b.out, bench.ResultsText))
	if b.baseline != "" {
		if err := res.SaveBaseline(b.baseline); err != nil {
			return err
		}
		fmt.Printf("baseline: %s\n", b.baseline)
	}
	return nil
}

// benchPlaced runs the benchmark where --where places it.
func benchPlaced(ctx context.Context, cfg bench.Config, b *benchFlags) (*bench.Result, error) {
	place, err := bench.Place(cfg, b.where, bench.VMOptions{Kernel: b.kernel, CPUs: b.cpus, ICount: b.icount, Timeout: b.timeout, Stations: b.stations})
	if err != nil {
		return nil, usageError{err}
	}
	if place.Note != "" {
		fmt.Fprintln(os.Stderr, "lvslab bench: "+place.Note)
	}
	if !place.InVM {
		return benchHere(ctx, place.Config, b.out)
	}
	o, err := guestRuns("bench", place.VM)
	if err != nil {
		return nil, err
	}
	return bench.RunInVM(ctx, place.Config, b.out, o)
}

// benchHere runs the benchmark on this kernel and writes its files.
func benchHere(ctx context.Context, cfg bench.Config, out string) (*bench.Result, error) {
	cfg.SuperviseServers = true
	p := bench.NewProgress("bench", onTerminal())
	cfg.Progress = func(s bench.Step) { p.Step(s.Done, s.Total, s.Work, s.Left, s.String()) }
	res, err := bench.Run(ctx, cfg)
	p.Finish()
	if err != nil {
		return nil, err
	}
	res.Env.Version = version()
	return res, res.WriteFiles(out)
}

// guestRuns completes the options of a VM that runs this binary's command
// what (bench, failover) from the configuration the host hands it, on the
// guest's own kernel, into the same output folder.
func guestRuns(what string, o bench.VMOptions) (bench.VMOptions, error) {
	self, err := os.Executable()
	if err != nil {
		return o, err
	}
	o.Command = func(configFile, out string) []string {
		return []string{self, what, "--where", vm.WhereHost, "--config", configFile, "--out", out}
	}
	o.Console = os.Stderr
	o.Log = func(s string) { fmt.Fprintf(os.Stderr, "lvslab %s: %s\n", what, s) }
	return o, nil
}

// benchError gives a benchmark that failed in the VM the guest's exit
// status, and one that Ctrl-C ended lvslab's own.
func benchError(ctx context.Context, err error) error {
	var ge *bench.GuestError
	switch {
	case errors.As(err, &ge):
		return exitError{code: ge.Code, msg: ge.Error()}
	case ctx.Err() != nil:
		return exitError{code: exitInterrupted, msg: "interrupted: every lab was removed"}
	}
	return err
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
