package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/lvslab/lvslab/ci"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "Reproduce the paper's Figure 7 (direct, routed, NAT, DR, TUN; interleaved trials) into results.json, results.txt, figure7.svg/png, summary.md.",
		usage: "bench [--modes direct,routed,nat,dr,tun] [--clients 1,2,4,8,16,32,64] [--conn new|keepalive] [--trials 6] " +
			"[--duration 1.5s] [--warmup 0.5s] [--latency 2s] [--kernel K] [--out DIR] [--save-baseline FILE]",
		root: true,
		run:  runBench,
	})
}

type benchFlags struct {
	modes, clients, conn, kernel, out, baseline, scheduler, name, where string
	icount                                                              string
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
	fs.StringVar(&b.kernel, "kernel", "", "kernel from fixtures/kernels.yaml for the VM (default: the list's default)")
	fs.StringVar(&b.out, "out", "results/bench", "output `folder`")
	fs.StringVar(&b.baseline, "save-baseline", "", "also write the result as a baseline `file` for lvslab gate")
	fs.StringVar(&b.scheduler, "scheduler", "rr", "IPVS scheduler of the virtual services")
	fs.IntVar(&b.rules, "director-rules", 0, "slow the director down on purpose with this many nftables rules (proves the gate)")
	fs.StringVar(&b.name, "name", "bench", "prefix of the labs' names")
	fs.StringVar(&b.where, "where", "auto", "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	fs.DurationVar(&b.timeout, "vm-timeout", 30*time.Minute, "kill the VM after this long")
	fs.IntVar(&b.cpus, "vm-cpus", 1, "the VM's CPUs")
	// An instruction-driven clock makes a trial's timing depend on the work
	// it took, not on what else the host ran: the ratios' CV fell from
	// 10-15 % to under 2 % on a 2-core CI machine.
	fs.StringVar(&b.icount, "vm-icount", "shift=2,sleep=off", "QEMU -icount for the VM's clock, or off for the host's real time")
}

// config checks the flags and turns them into a benchmark.
func (b *benchFlags) config() (harness.BenchConfig, error) {
	cfg := harness.BenchConfig{Name: b.name, Trials: b.trials, Duration: b.duration, Warmup: b.warmup,
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
	if b.where != "auto" && b.where != "host" && b.where != "vm" {
		return cfg, usageError{fmt.Errorf("--where %q: use auto, host or vm", b.where)}
	}
	if err := cfg.Validate(); err != nil {
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
	cfg, err := b.config()
	if err != nil {
		return err
	}
	if b.out, err = filepath.Abs(b.out); err != nil {
		return err
	}
	where := b.where
	if where == "auto" {
		where = "vm"
		if hasIPVS() || !needsIPVS(cfg.Modes) {
			where = "host"
		} else if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			cfg.Modes = withoutIPVS(cfg.Modes)
			where = "host"
			fmt.Fprintf(os.Stderr, "lvslab bench: this kernel has no ip_vs and QEMU is not installed: measuring %s only (install qemu-system-x86, or run make deps)\n",
				joinModes(cfg.Modes))
			if len(cfg.Modes) == 0 {
				return errors.New("no mode left to measure: add direct or routed to --modes, or install QEMU")
			}
		}
	}
	if where == "host" && needsIPVS(cfg.Modes) && !hasIPVS() {
		return fmt.Errorf("this kernel (%s) has no ip_vs for %s: use --where auto or vm to run in a VM, or --modes direct,routed",
			harness.KernelRelease(), joinModes(cfg.Modes))
	}
	var res *harness.BenchResult
	if where == "vm" {
		res, err = benchInVM(ctx, &b)
	} else {
		res, err = benchHere(ctx, cfg, b.out)
	}
	if err != nil {
		return err
	}
	printBench(res)
	fmt.Printf("\nfigure:  %s\nsummary: %s\ntrials:  %s (benchstat -col /mode %s)\n",
		filepath.Join(b.out, harness.FigureSVG), filepath.Join(b.out, harness.SummaryMD),
		filepath.Join(b.out, harness.ResultsJSON), filepath.Join(b.out, harness.ResultsText))
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
func benchHere(ctx context.Context, cfg harness.BenchConfig, out string) (*harness.BenchResult, error) {
	cfg.ServeOutside = func(ctx context.Context, lab *topology.Lab) error {
		return startSupervisor(ctx, lab.Spec.Name, serverFlags{bodySize: cfg.Server.BodySize})
	}
	var bar *progressbar.ProgressBar
	if showProgress() {
		bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
		cfg.Progress = func(s harness.BenchStep) {
			bar.ChangeMax(s.Total)
			bar.Describe(fmt.Sprintf("%s trial %d: %-6s %2d clients", s.Phase, s.Trial, s.Mode, s.Clients))
			bar.Set(s.Done)
		}
	}
	res, err := harness.Bench(ctx, cfg)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, exitError{code: 130, msg: "interrupted: every lab was removed"}
		}
		return nil, err
	}
	res.Env.Version = version()
	res.Env.KernelName = os.Getenv("LVSLAB_KERNEL_NAME")
	if a := os.Getenv("LVSLAB_ACCEL"); a != "" {
		res.Env.Accel = a
	}
	return res, res.WriteFiles(out)
}

// benchInVM runs this same command inside the VM, which writes the files
// into the output folder, then completes them with what only the host
// knows (the accelerator QEMU used).
func benchInVM(ctx context.Context, b *benchFlags) (*harness.BenchResult, error) {
	specs, err := listedKernels("fixtures/kernels.yaml", b.kernel, false)
	if err != nil {
		return nil, err
	}
	log := func(s string) { fmt.Fprintln(os.Stderr, "lvslab bench: "+s) }
	k, err := ci.Fetch(ctx, specs[0], log)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", b.out, err)
	}
	os.Remove(filepath.Join(b.out, harness.ResultsJSON))
	argv := []string{self, "bench", "--where", "host", "--modes", b.modes, "--clients", b.clients, "--conn", b.conn,
		"--trials", fmt.Sprint(b.trials), "--duration", b.duration.String(), "--warmup", b.warmup.String(),
		"--latency", b.latency.String(), "--scheduler", b.scheduler, "--director-rules", fmt.Sprint(b.rules),
		"--name", b.name, "--out", b.out}
	env := append(guestEnv(), "LVSLAB_KERNEL_NAME="+k.Name)
	cwd, _ := os.Getwd()
	log(fmt.Sprintf("this kernel has no ip_vs: running the benchmark in a VM on %s (%s)", k.Name, k.Release))
	accel, icount := "auto", b.icount
	if icount == "off" {
		icount = ""
	} else {
		accel = "tcg" // icount is TCG's
	}
	// The guest's own summary goes to the console; the host prints it again at the end.
	vm, err := ci.RunVM(ctx, ci.VMOptions{Kernel: k, CPUs: b.cpus, Memory: "2G", Timeout: b.timeout, Accel: accel, ICount: icount,
		OutDir: b.out, Argv: argv, Dir: cwd, Env: env, Console: os.Stderr, Log: log})
	if err != nil {
		return nil, err
	}
	if vm.ExitCode != 0 {
		return nil, exitError{code: vm.ExitCode, msg: fmt.Sprintf("the benchmark failed in the VM (exit status %d; its output is above)", vm.ExitCode)}
	}
	res, err := harness.ReadBenchResult(filepath.Join(b.out, harness.ResultsJSON))
	if err != nil {
		return nil, fmt.Errorf("the VM wrote no result: %w", err)
	}
	res.Env.Accel = vm.Accel
	if icount != "" {
		res.Env.Accel += " icount " + icount
	}
	return res, res.WriteFiles(b.out)
}

func printBench(r *harness.BenchResult) {
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

// hasIPVS says whether this kernel has IPVS, loading the module if it can.
func hasIPVS() bool {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		return true
	}
	if exec.Command("modprobe", "-q", "ip_vs").Run() != nil {
		return false
	}
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

func needsIPVS(modes []topology.Mode) bool { return len(withoutIPVS(modes)) < len(modes) }

func withoutIPVS(modes []topology.Mode) []topology.Mode {
	var out []topology.Mode
	for _, m := range modes {
		if !m.Balanced() {
			out = append(out, m)
		}
	}
	return out
}

func joinModes(ms []topology.Mode) string {
	var s []string
	for _, m := range ms {
		s = append(s, string(m))
	}
	return strings.Join(s, " and ")
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
