package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// Config is one benchmark: the paper lab built once per mode, every
// mode measured at every client count, trial after trial. Within a trial
// the modes run back to back in an order rotated each trial, so that slow
// drift of the machine hits every mode alike and the mode ÷ direct ratio of
// one trial compares measurements taken seconds apart.
type Config struct {
	// Name prefixes the labs: benchdirect, benchnat, …
	Name  string          `json:"name"`
	Modes []topology.Mode `json:"modes"`
	// Clients are the closed-loop client counts, ramped like WebBench's mixes.
	Clients []int `json:"clients"`
	Trials  int   `json:"trials"`
	// Duration is measured; Warmup runs before each measurement, discarded.
	Duration time.Duration `json:"duration"`
	Warmup   time.Duration `json:"warmup"`
	// Latency is the length of the single-client latency run per mode (the
	// paper's third test); 0 skips it.
	Latency time.Duration `json:"latency"`
	// KeepAlive reuses connections; the paper's WebBench opened one per request.
	KeepAlive bool `json:"keepalive"`
	// Scheduler of the virtual services (rr by default).
	Scheduler string               `json:"scheduler"`
	Server    harness.ServerConfig `json:"server"`
	// DirectorRules adds that many non-matching nftables rules to the
	// director's prerouting path: a director made slower on purpose, so the
	// gate can be shown to catch it.
	DirectorRules int `json:"director_rules"`
	// SuperviseServers runs each lab's real servers in a supervisor process
	// (harness.StartSupervisor, which needs this to be the lvslab binary),
	// so that this process's CPU is the load generator's alone. Otherwise
	// they run in this process.
	SuperviseServers bool `json:"supervise_servers"`
	// Progress, if set, is called before each measurement.
	Progress func(Step) `json:"-"`
}

// Step says which measurement is about to run.
type Step struct {
	Done, Total int
	Phase       string // "sweep" or "latency"
	Mode        topology.Mode
	Clients     int
	Trial       int
}

// Modes are the modes a benchmark knows, in the order they are shown.
var Modes = []topology.Mode{topology.ModeDirect, topology.ModeRouted, topology.ModeNAT, topology.ModeDR, topology.ModeTUN}

// schedulers are the IPVS schedulers of Linux (net/netfilter/ipvs/Kconfig):
// a name outside them would fail only once a lab is built, in the VM.
var schedulers = []string{"rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "twos"}

// Limits that keep a benchmark bounded.
const (
	MaxTrials   = 100
	MaxDuration = 10 * time.Minute
)

// Validate checks the configuration and fills in defaults; every problem
// is named.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Modes) == 0 {
		errs = append(errs, errors.New("no modes: give at least one of direct, routed, nat, dr, tun"))
	}
	seen := map[topology.Mode]bool{}
	for _, m := range c.Modes {
		if !slices.Contains(Modes, m) {
			errs = append(errs, fmt.Errorf("mode %q is unknown: use direct, routed, nat, dr or tun", m))
		}
		if seen[m] {
			errs = append(errs, fmt.Errorf("mode %s is given twice", m))
		}
		seen[m] = true
	}
	if len(c.Clients) == 0 {
		errs = append(errs, errors.New("no client counts: give at least one"))
	}
	for _, n := range c.Clients {
		if n < 1 || n > loadgen.MaxClients {
			errs = append(errs, fmt.Errorf("client count %d: use 1 to %d", n, loadgen.MaxClients))
		}
	}
	if c.Trials < 1 || c.Trials > MaxTrials {
		errs = append(errs, fmt.Errorf("trials %d: use 1 to %d", c.Trials, MaxTrials))
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: use a positive duration up to %s", c.Duration, MaxDuration))
	}
	if c.Warmup < 0 || c.Warmup > MaxDuration || c.Latency < 0 || c.Latency > MaxDuration {
		errs = append(errs, fmt.Errorf("warm-up %s and latency run %s: use 0 up to %s", c.Warmup, c.Latency, MaxDuration))
	}
	if c.DirectorRules < 0 || c.DirectorRules > 100000 {
		errs = append(errs, fmt.Errorf("director rules %d: use 0 to 100000", c.DirectorRules))
	}
	if err := c.Server.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Scheduler == "" {
		c.Scheduler = "rr"
	}
	if !slices.Contains(schedulers, c.Scheduler) {
		errs = append(errs, fmt.Errorf("scheduler %q is not one of the kernel's IPVS schedulers: use one of %s", c.Scheduler, strings.Join(schedulers, ", ")))
	}
	if c.Name == "" {
		c.Name = "bench"
	}
	// Every lab's name is checked now, not when its turn comes.
	var suffixes []string
	for _, m := range c.Modes {
		suffixes = append(suffixes, string(m))
	}
	if err := topology.CheckLabNames("--name", c.Name, suffixes...); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Result is everything a benchmark measured, as results.json holds it.
type Result struct {
	Env    Env      `json:"env"`
	Config Settings `json:"config"`
	// Trials holds every measurement of the sweep, in the order taken.
	Trials []Trial `json:"trials"`
	// Latency holds the single-client runs, one per mode.
	Latency []Trial `json:"latency,omitempty"`
	// Points summarises the trials per mode and client count.
	Points []Point `json:"points"`
}

// Env is where a benchmark ran.
type Env struct {
	Version   string `json:"lvslab_version"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	// KernelName is the kernel list's name (debian-6.1) when run in the VM.
	KernelName string            `json:"kernel_name,omitempty"`
	CPUModel   string            `json:"cpu_model"`
	CPUs       int               `json:"cpus"`
	Accel      string            `json:"accelerator"` // host, kvm or tcg
	Started    time.Time         `json:"started"`
	Elapsed    float64           `json:"elapsed_s"`
	Sysctls    map[string]string `json:"sysctls"`

	// KernelPackage, KernelVersion and KernelSHA256 are the build of a
	// listed kernel: its Debian package, version and the .deb's SHA256.
	KernelPackage string `json:"kernel_package,omitempty"`
	KernelVersion string `json:"kernel_version,omitempty"`
	KernelSHA256  string `json:"kernel_sha256,omitempty"`
}

// Settings is the configuration a result was measured with.
type Settings struct {
	Modes         []topology.Mode `json:"modes"`
	Clients       []int           `json:"clients"`
	Trials        int             `json:"trials"`
	Duration      float64         `json:"duration_s"`
	Warmup        float64         `json:"warmup_s"`
	Latency       float64         `json:"latency_s"`
	Connection    string          `json:"connection"` // new or keepalive
	Scheduler     string          `json:"scheduler"`
	BodyBytes     int             `json:"body_bytes"`
	DirectorRules int             `json:"director_rules,omitempty"`
	RealServers   int             `json:"real_servers"`
}

// Trial is one measurement.
type Trial struct {
	Mode    topology.Mode `json:"mode"`
	Clients int           `json:"clients"`
	Trial   int           `json:"trial"`
	// Order is the measurement's position within its trial.
	Order             int             `json:"order"`
	Requests          int64           `json:"requests"`
	Errors            int64           `json:"errors"`
	RequestsPerSec    float64         `json:"requests_per_s"`
	ConnectionsPerSec float64         `json:"connections_per_s"`
	Latency           loadgen.Latency `json:"latency"`
	// LoadgenCores is the CPU this process used (the load generator's alone
	// when the real servers run outside); MachineBusy the whole machine's.
	LoadgenCores float64 `json:"loadgen_cores"`
	MachineBusy  float64 `json:"machine_busy"`
	// LoadgenBound marks a measurement where the load generator, not the
	// system under test, was the bottleneck.
	LoadgenBound bool `json:"loadgen_bound,omitempty"`
}

// loadgenBound judges a measurement: the machine's CPUs were saturated and
// the load generator held at least half of what was busy, or it used all
// the CPUs it may run on. Either way more load could not have been offered.
func loadgenBound(cores, busy float64, cpus int) bool {
	saturated := busy >= 0.9 && cores >= 0.5*busy*float64(cpus)
	return saturated || cores >= 0.9*float64(runtime.GOMAXPROCS(0))
}

var errInterrupted = errors.New("bench interrupted")

// benchLab is one mode's lab, ready to be loaded.
type modeLab struct {
	mode    topology.Mode
	lab     *topology.Lab
	servers *harness.Lab // set when the servers run in this process
	load    loadgen.Config
}

func (b *modeLab) close() error {
	if b.servers != nil {
		return b.servers.Close()
	}
	return b.lab.Close()
}

// Run runs a benchmark. Every lab it builds is gone when it returns; a
// cancelled ctx (Ctrl-C) ends it with ctx's error and nothing left behind.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	start := time.Now()
	var labs []*modeLab
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, errInterrupted) {
			err = fmt.Errorf("%w: %w", errInterrupted, err)
		}
		for _, l := range labs {
			err = errors.Join(err, l.close())
		}
	}()
	for _, m := range cfg.Modes {
		l, err := startModeLab(ctx, cfg, m)
		if err != nil {
			return nil, err
		}
		labs = append(labs, l)
	}
	res = &Result{Env: environment(labs), Config: settings(cfg)}
	res.Env.Started = start.UTC()

	total := cfg.Trials * len(cfg.Clients) * len(labs)
	if cfg.Latency > 0 {
		total += len(labs)
	}
	step := 0
	progress := func(phase string, m topology.Mode, clients, trial int) {
		if cfg.Progress != nil {
			cfg.Progress(Step{Done: step, Total: total, Phase: phase, Mode: m, Clients: clients, Trial: trial})
		}
		step++
	}
	for t := 1; t <= cfg.Trials; t++ {
		for ci, clients := range cfg.Clients {
			for i := range labs {
				// Rotate the order every trial and client count, so that no mode
				// always runs first after a change of load.
				l := labs[(i+t+ci)%len(labs)]
				progress("sweep", l.mode, clients, t)
				tr, err := measure(ctx, l, clients, cfg.Warmup, cfg.Duration)
				if err != nil {
					return nil, err
				}
				tr.Trial, tr.Order = t, i
				res.Trials = append(res.Trials, tr)
			}
		}
	}
	if cfg.Latency > 0 {
		for i, l := range labs {
			progress("latency", l.mode, 1, 1)
			lat := *l
			lat.load.KeepAlive = false
			tr, err := measure(ctx, &lat, 1, cfg.Warmup, cfg.Latency)
			if err != nil {
				return nil, err
			}
			tr.Trial, tr.Order = 1, i
			res.Latency = append(res.Latency, tr)
		}
	}
	res.Points = Summarise(res)
	res.Env.Elapsed = time.Since(start).Seconds()
	return res, nil
}

// startModeLab builds one mode's lab and puts its director in place. The
// direct lab puts the client on the real servers' segment, so that nothing
// stands between them.
func startModeLab(ctx context.Context, cfg Config, m topology.Mode) (_ *modeLab, err error) {
	opts := []topology.Option{topology.WithName(cfg.Name + string(m)), topology.WithMode(m), topology.WithoutIPv6()}
	if m == topology.ModeDirect {
		opts = append(opts, topology.WithClientOn(topology.SegmentBack))
	}
	t, err := topology.Build(ctx, topology.Paper(opts...))
	if err != nil {
		return nil, err
	}
	l := &modeLab{mode: m, lab: t}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.close())
		}
	}()
	if cfg.SuperviseServers {
		if err := harness.StartSupervisor(ctx, t.Spec.Name, cfg.Server); err != nil {
			return nil, err
		}
	} else if l.servers, err = harness.StartServers(t, cfg.Server); err != nil {
		return nil, err
	}
	target := "direct"
	if m.Balanced() {
		d, err := harness.StartDirector(t, harness.DirectorOptions{Scheduler: cfg.Scheduler})
		if err != nil {
			return nil, err
		}
		d.Close()
		target = "vip"
	}
	if cfg.DirectorRules > 0 && m != topology.ModeDirect {
		if err := SlowDirector(t, cfg.DirectorRules); err != nil {
			return nil, err
		}
	}
	if l.load, err = loadgen.ForLab(t, target, false); err != nil {
		return nil, err
	}
	l.load.KeepAlive = cfg.KeepAlive
	// One request through every path proves the lab answers before it is measured.
	probe := l.load
	probe.Clients, probe.Requests, probe.Duration = 1, int64(len(probe.Targets)), 10*time.Second
	r, err := loadgen.Run(ctx, probe)
	if err != nil {
		return nil, err
	}
	if r.Successes != probe.Requests {
		return nil, fmt.Errorf("lab %s (%s) does not answer: %d of %d probe requests failed (%v)", t.Spec.Name, m, r.ErrorCount(), probe.Requests, r.Errors)
	}
	return l, nil
}

func measure(ctx context.Context, l *modeLab, clients int, warmup, d time.Duration) (Trial, error) {
	cfg := l.load
	cfg.Clients = clients
	if warmup > 0 {
		cfg.Duration = warmup
		if _, err := loadgen.Run(ctx, cfg); err != nil {
			return Trial{}, err
		}
	}
	cfg.Duration = d
	// Collect garbage before, not during, the measurement: a collection
	// landing in one trial and not the next is noise. The memory limit
	// still bounds what a long run may allocate.
	runtime.GC()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	r, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return Trial{}, err
	}
	if r.Interrupted || ctx.Err() != nil {
		return Trial{}, fmt.Errorf("%w: %w", errInterrupted, context.Cause(ctx))
	}
	return Trial{
		Mode: l.mode, Clients: clients, Requests: r.Requests, Errors: r.ErrorCount(),
		RequestsPerSec: r.RequestsPerSec, ConnectionsPerSec: r.ConnectionsPerSec, Latency: r.Latency,
		LoadgenCores: r.CPU.Cores, MachineBusy: r.CPU.MachineBusy,
		LoadgenBound: loadgenBound(r.CPU.Cores, r.CPU.MachineBusy, runtime.NumCPU()),
	}, nil
}

func settings(cfg Config) Settings {
	conn := "new"
	if cfg.KeepAlive {
		conn = "keepalive"
	}
	return Settings{Modes: cfg.Modes, Clients: cfg.Clients, Trials: cfg.Trials, Duration: cfg.Duration.Seconds(),
		Warmup: cfg.Warmup.Seconds(), Latency: cfg.Latency.Seconds(), Connection: conn, Scheduler: cfg.Scheduler,
		BodyBytes: cfg.Server.BodySize, DirectorRules: cfg.DirectorRules, RealServers: len(topology.Paper().ByRole(topology.RoleRealServer))}
}

// benchSysctls are the settings that change what a benchmark measures.
var recordedSysctls = map[string][]string{
	"client":   {"net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_timestamps"},
	"director": {"net.ipv4.vs.conntrack", "net.ipv4.vs.conn_reuse_mode", "net.ipv4.vs.expire_nodest_conn", "net.ipv4.ip_forward"},
	"rs1":      {"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"},
}

// benchEnv records the machine and, per mode, the sysctls of benchSysctls
// ("nat/director/net.ipv4.vs.conn_reuse_mode").
func environment(labs []*modeLab) Env {
	e := Env{GoVersion: runtime.Version(), Kernel: topology.KernelRelease(),
		CPUModel: cpuModel(), CPUs: runtime.NumCPU(), Accel: "host", Sysctls: map[string]string{}}
	for _, l := range labs {
		for node, keys := range recordedSysctls {
			n := l.lab.Node(node)
			if n == nil || (node == "director" && l.mode == topology.ModeDirect) {
				continue
			}
			for _, k := range keys {
				if v, err := n.Sysctl(k); err == nil {
					e.Sysctls[string(l.mode)+"/"+node+"/"+k] = strings.Join(strings.Fields(v), " ")
				}
			}
		}
	}
	return e
}

func readTrim(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

func cpuModel() string {
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
