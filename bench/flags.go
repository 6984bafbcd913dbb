//go:build linux

package bench

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

// Flags are lvslab bench's flags: Register declares them, Config turns
// what was given into a checked benchmark.
type Flags struct {
	// Out is the output folder; Baseline, if set, a baseline file to write too.
	Out, Baseline string
	// ConfigFile is how the VM hands the guest the host's configuration.
	ConfigFile string
	// Where places the run (vm.WhereAuto, host, vm), VM its options there.
	Where string
	VM    VMOptions

	modes, clients, conn, scheduler, name, caps string
	trials, rules, lightTrials, lightBurst      int
	duration, warmup, latency, lightDuration    time.Duration
	lightShare                                  float64
	isolate, batch                              bool
	switchMode                                  topology.SwitchFlag
}

// Register declares the flags on fs.
func (b *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&b.modes, "modes", "direct,routed,nat,dr,tun", "modes to compare, interleaved; direct is the reference of every ratio")
	// The default sweep keeps make bench under 12 minutes on 2 cores; 1.5 s
	// measurements keep a ratio's CV at or under 3 % (docs/findings.md).
	// One client is left to the one-client run, which the figure draws at 1.
	fs.StringVar(&b.clients, "clients", "8,32", "closed-loop client counts")
	fs.StringVar(&b.conn, "conn", "new", "new (one TCP connection per request, like WebBench) or keepalive")
	fs.IntVar(&b.trials, "trials", 6, "trials; each measures every mode at every client count (0: light load only)")
	fs.DurationVar(&b.duration, "duration", 1500*time.Millisecond, "measured time per mode, client count and trial")
	fs.DurationVar(&b.warmup, "warmup", 300*time.Millisecond, "unmeasured load before each measurement")
	fs.DurationVar(&b.latency, "latency", time.Second, "single-client run per mode: the paper's third test, and R(1) of the model (0 skips it)")
	fs.IntVar(&b.lightTrials, "light-trials", 3, "light-load trials per mode, that each station's demand is measured in (0 skips them; the stations run takes twice as many)")
	fs.DurationVar(&b.lightDuration, "light-duration", 500*time.Millisecond, "measured time of each of a light-load trial's two runs")
	fs.Float64Var(&b.lightShare, "light-share", 0.4, "the busiest station's utilization a light-load run aims at (at most 0.5)")
	fs.IntVar(&b.lightBurst, "light-burst", 8, "light-load requests come this many at a time (same mean rate), so that a station\nserves them back to back instead of waking from idle for each (1: evenly spaced)")
	fs.IntVar(&b.VM.Stations, "stations", 4, "in the VM, then run every mode under light load in a second VM with this many vCPUs,\na vCPU per station (client, director, router, real servers), for per-station demands, and then\nthe capped run: the director's vCPU at one real server's share, derived from the servers' station (0 skips both)")
	fs.BoolVar(&b.isolate, "isolate", false, "the machine model: each station on CPUs of its own (in the VM: its vCPUs, in real time);\nevery measurement records each station's CPU time")
	fs.StringVar(&b.caps, "cap", "", "with --isolate in the VM: cap stations' vCPUs at shares of a host CPU, e.g. director=0.25")
	fs.BoolVar(&b.batch, "sched-batch", true, "run the load generator and real servers under SCHED_BATCH (no wake-up preemption),\nfor steady context switches per request where stations share CPUs")
	fs.Var(&b.switchMode, "switch", "static (forwarding entries for every node's link) or learning (the bridges age out ports that never send)")
	fs.StringVar(&b.VM.Kernel, "kernel", "", "kernel of the shipped list for the VM (default: the list's default)")
	fs.StringVar(&b.Out, "out", "results/bench", "output `folder`")
	fs.StringVar(&b.Baseline, "save-baseline", "", "also write the result as a baseline `file` for lvslab gate")
	fs.StringVar(&b.scheduler, "scheduler", "rr", "IPVS scheduler of the virtual services")
	fs.IntVar(&b.rules, "director-rules", 0, "slow the director down on purpose with this many nftables rules (proves the gate)")
	fs.StringVar(&b.name, "name", "bench", "prefix of the labs' names")
	fs.StringVar(&b.Where, "where", vm.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	fs.DurationVar(&b.VM.Timeout, "vm-timeout", time.Hour, "kill each VM after this long")
	fs.IntVar(&b.VM.CPUs, "vm-cpus", 0, "the VM's CPUs (default 1; with --isolate 4)")
	fs.StringVar(&b.VM.ICount, "vm-icount", "", "QEMU -icount for the VM's clock (default "+DefaultICount+"), or off for the host's real time (--isolate: off)")
	fs.StringVar(&b.ConfigFile, "config", "", "")
}

// Config checks the flags fs parsed and turns them into a benchmark; every
// error it returns is a mistake on the command line.
func (b *Flags) Config(fs *flag.FlagSet) (Config, error) {
	if b.ConfigFile != "" {
		return ReadConfig(b.ConfigFile)
	}
	cfg := Config{Name: b.name, Trials: b.trials, Duration: Seconds(b.duration), Warmup: Seconds(b.warmup),
		Latency: Seconds(b.latency), Scheduler: b.scheduler, DirectorRules: b.rules, Server: harness.DefaultServerConfig,
		Light:   LightLoad{Trials: b.lightTrials, Duration: Seconds(b.lightDuration), Share: b.lightShare, Burst: b.lightBurst},
		Isolate: b.isolate, Batch: b.batch, Switch: topology.Switch{Learning: b.switchMode.Learning}}
	if b.caps != "" {
		var err error
		if cfg.Caps, err = ParseCaps(b.caps); err != nil {
			return cfg, err
		}
	}
	// No single-client run, no light load sized from it (unless asked for,
	// which Validate then refuses by name).
	lightTrialsGiven := false
	fs.Visit(func(f *flag.Flag) { lightTrialsGiven = lightTrialsGiven || f.Name == "light-trials" })
	if b.latency == 0 && !lightTrialsGiven {
		cfg.Light.Trials = 0
	}
	for _, m := range strings.Split(b.modes, ",") {
		cfg.Modes = append(cfg.Modes, topology.Mode(strings.TrimSpace(m)))
	}
	var err error
	if cfg.Clients, err = parseClientCounts(b.clients); err != nil {
		return cfg, fmt.Errorf("--clients: %w", err)
	}
	switch b.conn {
	case "new":
	case "keepalive":
		cfg.KeepAlive = true
	default:
		return cfg, fmt.Errorf("--conn %q: use new or keepalive", b.conn)
	}
	return cfg, errors.Join(cfg.Validate(), CheckOutputs(b.Out, b.Baseline))
}

func parseClientCounts(s string) ([]int, error) {
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

// FailoverFlags are lvslab failover's flags: Register declares them,
// Config turns what was given into a checked failover benchmark.
type FailoverFlags struct {
	// Out is the output folder; ConfigFile is how the VM hands the guest
	// the host's configuration.
	Out, ConfigFile string
	// Where places the run (vm.WhereAuto, host, vm), VM its options there.
	Where string
	VM    VMOptions

	kinds, syncs, mode, name string
	rounds, kept             int
	rate                     float64
	before, after            time.Duration
}

// Register declares the flags on fs.
func (f *FailoverFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.kinds, "kinds", "crash,term", "how each round fails the master: crash (every keepalived process stopped and killed, links down), term (SIGTERM), backlink (its link to the real servers down)")
	fs.IntVar(&f.rounds, "rounds", 10, "failovers of each kind and sync setting")
	fs.StringVar(&f.syncs, "sync", "on,off", "sync daemon settings to measure: on, off or both")
	fs.StringVar(&f.mode, "mode", "nat", "forwarding method: nat, dr or tun")
	fs.Float64Var(&f.rate, "rate", 50, "open-loop load, requests/s (one new connection each)")
	fs.IntVar(&f.kept, "kept", 20, "long-lived connections held across each failover")
	fs.DurationVar(&f.before, "before", 2*time.Second, "window before each fault in the figure")
	fs.DurationVar(&f.after, "after", 6*time.Second, "window after each fault: the takeover must happen within it")
	fs.StringVar(&f.name, "name", "failover", "the lab's name")
	fs.StringVar(&f.Where, "where", vm.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	fs.StringVar(&f.VM.Kernel, "kernel", "", "kernel of the shipped list for the VM (default: the list's default)")
	fs.StringVar(&f.Out, "out", "results/failover", "output `folder`")
	fs.IntVar(&f.VM.CPUs, "vm-cpus", 0, "the VM's CPUs (default 2; real time: VRRP's timers are what is measured)")
	fs.DurationVar(&f.VM.Timeout, "vm-timeout", time.Hour, "kill the VM after this long")
	fs.StringVar(&f.ConfigFile, "config", "", "")
}

// Config checks the flags and turns them into a failover benchmark; every
// error it returns is a mistake on the command line.
func (f *FailoverFlags) Config() (FailoverConfig, error) {
	if f.ConfigFile != "" {
		return ReadFailoverConfig(f.ConfigFile)
	}
	cfg := FailoverConfig{Name: f.name, Mode: topology.Mode(f.mode), Rounds: f.rounds, Rate: f.rate, Kept: f.kept,
		Before: Seconds(f.before), After: Seconds(f.after)}
	for _, k := range strings.Split(f.kinds, ",") {
		cfg.Kinds = append(cfg.Kinds, strings.TrimSpace(k))
	}
	for _, s := range strings.Split(f.syncs, ",") {
		switch strings.TrimSpace(s) {
		case "on":
			cfg.Sync = append(cfg.Sync, true)
		case "off":
			cfg.Sync = append(cfg.Sync, false)
		default:
			return cfg, fmt.Errorf("--sync %q: use on, off or on,off", f.syncs)
		}
	}
	return cfg, cfg.Validate()
}
