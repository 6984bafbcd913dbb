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
		usage: "bench [--modes direct,routed,nat,dr,tun] [--clients 1,2,4,8,16,32,64] [--conn new|keepalive] [--trials 6] " +
			"[--duration 1.5s] [--warmup 0.5s] [--latency 2s] [--where auto|host|vm] [--kernel K] [--out DIR] [--save-baseline FILE]",
		root: true,
		run:  runBench,
	})
}

type benchFlags struct {
	modes, clients, conn, kernel, out, baseline, scheduler, name, where string
	icount, configFile                                                  string
	trials, rules, cpus                                                 int
	duration, warmup, latency, timeout                                  time.Duration
}

func (b *benchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.modes, "modes", "direct,routed,nat,dr,tun", "modes to compare, interleaved; direct is the reference of every ratio")
	fs.StringVar(&b.clients, "clients", "1,2,4,8,16,32,64", "closed-loop client counts")
	fs.StringVar(&b.conn, "conn", "new", "new (one TCP connection per request, like WebBench) or keepalive")
	fs.IntVar(&b.trials, "trials", 6, "trials; each measures every mode at every client count")
	fs.DurationVar(&b.duration, "duration", 1500*time.Millisecond, "measured time per mode, client count and trial")
	fs.DurationVar(&b.warmup, "warmup", 500*time.Millisecond, "unmeasured load before each measurement")
	fs.DurationVar(&b.latency, "latency", 2*time.Second, "single-client latency run per mode (0 skips it)")
	fs.StringVar(&b.kernel, "kernel", "", "kernel of the shipped list for the VM (default: the list's default)")
	fs.StringVar(&b.out, "out", "results/bench", "output `folder`")
	fs.StringVar(&b.baseline, "save-baseline", "", "also write the result as a baseline `file` for lvslab gate")
	fs.StringVar(&b.scheduler, "scheduler", "rr", "IPVS scheduler of the virtual services")
	fs.IntVar(&b.rules, "director-rules", 0, "slow the director down on purpose with this many nftables rules (proves the gate)")
	fs.StringVar(&b.name, "name", "bench", "prefix of the labs' names")
	fs.StringVar(&b.where, "where", bench.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	fs.DurationVar(&b.timeout, "vm-timeout", 30*time.Minute, "kill the VM after this long")
	fs.IntVar(&b.cpus, "vm-cpus", 1, "the VM's CPUs")
	// An instruction-driven clock makes a trial's timing depend on the work
	// it took, not on what else the host ran: the ratios' CV fell from
	// 10-15 % to under 2 % on a 2-core CI machine.
	fs.StringVar(&b.icount, "vm-icount", "shift=2,sleep=off", "QEMU -icount for the VM's clock, or off for the host's real time")
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
	cfg := bench.Config{Name: b.name, Trials: b.trials, Duration: b.duration, Warmup: b.warmup,
		Latency: b.latency, Scheduler: b.scheduler, DirectorRules: b.rules, Server: harness.DefaultServerConfig}
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
	fmt.Printf("\nfigure:  %s\nsummary: %s\ntrials:  %s (benchstat -col /mode %s)\n",
		filepath.Join(b.out, bench.FigureSVG), filepath.Join(b.out, bench.SummaryMD),
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
		p.step(s.Done, s.Total, fmt.Sprintf("%s trial %d: %-6s %2d clients", s.Phase, s.Trial, s.Mode, s.Clients))
	}
	res, err := bench.Run(ctx, cfg)
	p.finish()
	if err != nil {
		if ctx.Err() != nil {
			return nil, exitError{code: 130, msg: "interrupted: every lab was removed"}
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
	res, err := bench.RunInVM(ctx, cfg, b.out, bench.VMOptions{
		Kernel: b.kernel, CPUs: b.cpus, ICount: icount, Timeout: b.timeout,
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
