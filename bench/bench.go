//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
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
	// SweepModes are the modes the sweep measures, if not all of Modes
	// (the stations run saturates direct alone, for its servers' capacity).
	SweepModes []topology.Mode `json:"sweep_modes,omitempty"`
	Trials     int             `json:"trials"`
	// TopTrials, if above Trials, is the trials of the highest client
	// count alone: the point a verdict reads, which needs SureTrials for
	// an interval at Confidence, without that cost at every count.
	TopTrials int `json:"top_trials,omitempty"`
	// Duration is measured; Warmup runs before each measurement, discarded.
	Duration Seconds `json:"duration_s"`
	Warmup   Seconds `json:"warmup_s"`
	// Latency is the length of the single-client latency run per mode (the
	// paper's third test); 0 skips it.
	Latency Seconds `json:"latency_s"`
	// KeepAlive reuses connections; the paper's WebBench opened one per request.
	KeepAlive bool `json:"keepalive,omitempty"`
	// Scheduler of the virtual services (rr by default).
	Scheduler string               `json:"scheduler"`
	Server    harness.ServerConfig `json:"server,omitzero"`
	// DirectorRules adds that many non-matching nftables rules to the
	// director's prerouting path: a director made slower on purpose, so the
	// gate can be shown to catch it.
	DirectorRules int `json:"director_rules,omitempty"`
	// SuperviseServers runs each lab's real servers in a supervisor process
	// (harness.StartSupervisor, which needs this to be the lvslab binary),
	// so that this process's CPU is the load generator's alone. Otherwise
	// they run in this process.
	SuperviseServers bool `json:"supervise_servers,omitempty"`
	// Light is the light-load run each mode's demands are measured in, and
	// every prediction made from, before the sweep it is judged against.
	Light LightLoad `json:"light,omitzero"`
	// Isolate gives each station CPUs of its own (topology.Isolate): the
	// machine model.
	Isolate bool `json:"isolate,omitempty"`
	// Batch runs the load generator, the real servers and every process
	// the benchmark starts under SCHED_BATCH (topology.BatchSelf): where
	// stations share a CPU, a woken station then waits for the running one
	// instead of preempting it, and the context switches per request stop
	// varying from one run to the next.
	Batch bool `json:"batch,omitempty"`
	// Caps are host CPU shares per station (VM only: the host applies them
	// to the station's vCPU threads; recorded here for the model).
	Caps map[string]float64 `json:"caps,omitempty"`
	// CapFrom is how the director's cap was derived, in the default
	// benchmark's capped run (CappedConfig); nil for a cap given by hand.
	CapFrom *CapDerivation `json:"cap_derivation,omitempty"`
	// Marks makes each measurement print console marks for the host's
	// vCPU sampler (set by RunInVM).
	Marks bool `json:"marks,omitempty"`
	// Housekeeping keeps the guest kernel's unbound work on the client's
	// CPUs (housekeep; set by RunInVM under the machine model).
	Housekeeping bool `json:"housekeeping,omitempty"`
	// Switch is how the labs' bridges forward (static entries by default).
	Switch topology.Switch `json:"switch,omitzero"`
	// Progress, if set, is called before each measurement.
	Progress func(Step) `json:"-"`
}

// LightLoad is how demands are measured: per mode and trial, two
// open-loop runs of Duration, at rates that keep the busiest station near
// Share and near half of it, judged from the single-client run
// (Config.Latency). A station's demand is the slope between the two
// (see demand.go). Requests come Burst at a time (loadgen.Config.Burst):
// a station then serves them back to back, as a saturated one does,
// instead of waking from idle for each, while it stays as lightly loaded
// on average.
type LightLoad struct {
	Trials   int     `json:"trials"`
	Duration Seconds `json:"duration_s"`
	Share    float64 `json:"share"`
	Burst    int     `json:"burst,omitempty"`
}

// MaxLightShare is the busiest station's utilization a light-load run
// may reach: above it, queueing inflates what is measured.
const MaxLightShare = 0.5

// Step says which measurement is about to run.
type Step struct {
	Done, Total int
	// Work is the fraction of the run's work (its measured and warm-up
	// time) done; Left estimates the time the rest takes.
	Work    float64
	Left    time.Duration
	Phase   string // "one client", "light load" or "sweep"
	Mode    topology.Mode
	Clients int
	Trial   int
	// Level is the light-load run's level (1 or 2).
	Level int
}

// String says which measurement runs, as progress lines show it.
func (s Step) String() string {
	switch s.Phase {
	case "one client":
		return fmt.Sprintf("%s: %s", s.Phase, s.Mode)
	case "light load":
		return fmt.Sprintf("%s trial %d: %-6s rate %d of 2", s.Phase, s.Trial, s.Mode, s.Level)
	}
	return fmt.Sprintf("%s trial %d: %-6s %2d clients", s.Phase, s.Trial, s.Mode, s.Clients)
}

// Modes are the modes a benchmark knows, in the order they are shown.
var Modes = []topology.Mode{topology.ModeDirect, topology.ModeRouted, topology.ModeNAT, topology.ModeDR, topology.ModeTUN}

// Limits that keep a benchmark bounded.
const (
	MaxTrials   = 100
	MaxDuration = Seconds(10 * time.Minute)
)

// Validate checks the configuration and fills in defaults; every problem
// is named.
// ParseCaps reads caps as --cap gives them, STATION=CPUS pairs separated
// by commas (director=0.25,servers=1), refusing an empty station and a
// station given twice (which would otherwise keep the last share).
func ParseCaps(s string) (map[string]float64, error) {
	caps := map[string]float64{}
	for _, kv := range strings.Split(s, ",") {
		st, v, ok := strings.Cut(kv, "=")
		st = strings.TrimSpace(st)
		cores, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		_, twice := caps[st]
		switch {
		case !ok || err != nil || st == "":
			return nil, fmt.Errorf("--cap %q: give STATION=CPUS pairs, e.g. director=0.25", kv)
		case twice:
			return nil, fmt.Errorf("--cap gives %s twice (%g and %s): give each station once", st, caps[st], strings.TrimSpace(v))
		}
		caps[st] = cores
	}
	return caps, nil
}

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
	for _, m := range c.SweepModes {
		if !slices.Contains(c.Modes, m) {
			errs = append(errs, fmt.Errorf("sweep mode %s is not one of the modes", m))
		}
	}
	if len(c.Clients) == 0 && c.Trials > 0 {
		errs = append(errs, errors.New("no client counts: give at least one"))
	}
	for _, n := range c.Clients {
		if n < 1 || n > loadgen.MaxClients {
			errs = append(errs, fmt.Errorf("client count %d: use 1 to %d", n, loadgen.MaxClients))
		}
	}
	if c.Trials < 0 || c.Trials > MaxTrials || c.Light.Trials < 0 || c.Light.Trials > MaxTrials || c.Trials+c.Light.Trials == 0 {
		errs = append(errs, fmt.Errorf("trials %d and light-load trials %d: use 0 to %d each, and at least one in all", c.Trials, c.Light.Trials, MaxTrials))
	}
	if c.TopTrials < 0 || c.TopTrials > MaxTrials || (c.TopTrials > 0 && c.Trials == 0) {
		errs = append(errs, fmt.Errorf("trials at the top client count %d: use 0 to %d, with a sweep", c.TopTrials, MaxTrials))
	}
	if c.Trials != 0 && (c.Duration <= 0 || c.Duration > MaxDuration) {
		errs = append(errs, fmt.Errorf("duration %s: use a positive duration up to %s", c.Duration, MaxDuration))
	}
	if c.Light.Trials > 0 {
		if c.Light.Duration <= 0 || c.Light.Duration > MaxDuration {
			errs = append(errs, fmt.Errorf("light-load duration %s: use a positive duration up to %s", c.Light.Duration, MaxDuration))
		}
		if !(c.Light.Share > 0 && c.Light.Share <= MaxLightShare) {
			errs = append(errs, fmt.Errorf("light-load share %g: use above 0 and at most %g (the busiest station's utilization)", c.Light.Share, MaxLightShare))
		}
		if c.Latency <= 0 {
			errs = append(errs, errors.New("a light-load run needs the single-client run it is sized from: give a latency run (--latency)"))
		}
		if c.Light.Burst < 0 || c.Light.Burst > lightClients {
			errs = append(errs, fmt.Errorf("light-load burst %d: use 0 or 1 (evenly spaced) up to %d", c.Light.Burst, lightClients))
		}
	}
	for st, cores := range c.Caps {
		if !(cores >= 0.05 && cores <= 64) {
			errs = append(errs, fmt.Errorf("cap of %s: %g host CPUs: use 0.05 to 64", st, cores))
		}
	}
	if len(c.Caps) > 0 && !c.Isolate {
		errs = append(errs, errors.New("caps need the machine model: add --isolate"))
	}
	if c.Housekeeping && !c.Isolate {
		errs = append(errs, errors.New("housekeeping keeps kernel work on the client's station: it needs the machine model (isolate)"))
	}
	if err := topology.CheckSwitch(c.Switch); err != nil {
		errs = append(errs, err)
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
	if err := harness.CheckScheduler(c.Scheduler); err != nil {
		errs = append(errs, err)
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

// loadgenBound judges a measurement: the machine's CPUs were saturated and
// the load generator held at least half of what was busy, or it used all
// the CPUs it may run on. Either way more load could not have been offered.
func loadgenBound(cores, busy float64, cpus int) bool {
	saturated := busy >= 0.9 && cores >= 0.5*busy*float64(cpus)
	return saturated || cores >= 0.9*float64(runtime.GOMAXPROCS(0))
}

var errInterrupted = errors.New("bench interrupted")

// modeLab is one mode's lab, ready to be loaded.
type modeLab struct {
	mode topology.Mode
	lab  *harness.Lab
	load loadgen.Config
}

// lightClients bounds the requests in flight of a light-load (open-loop) run.
const lightClients = 64

// minLightRequests is the fewest requests a light-load run serves: a
// demand is a difference of two runs' CPU time over the difference of
// their requests, so the background's jitter weighs in inversely to it.
const minLightRequests = 150

// lightDuration is a light-load run's length: d, or longer (up to 5 d)
// at a rate too low to serve minLightRequests in d.
func lightDuration(d time.Duration, rate float64) time.Duration {
	if rate <= 0 {
		return d
	}
	need := time.Duration(minLightRequests / rate * float64(time.Second))
	return min(max(d, need), 5*d)
}

// Run runs a benchmark. Every lab it builds is gone when it returns; a
// cancelled ctx (Ctrl-C) ends it with ctx's error and nothing left behind.
//
// The light-load runs come first: a single-client run per mode (R(1),
// and the paper's third test), then the open-loop runs that measure each
// station's demand. The sweep comes last, so that what
// the model predicts is fixed before the measurements it is judged by.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	start := time.Now()
	if cfg.Batch {
		// Before any lab: its servers' threads and processes inherit it.
		if err := topology.BatchSelf(); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	var labs []*modeLab
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, errInterrupted) {
			err = fmt.Errorf("%w: %w", errInterrupted, err)
		}
		for _, l := range labs {
			err = errors.Join(err, l.lab.Close())
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
	res.Env.Switch = labs[0].lab.Spec.Switch.String()
	if res.Machine, err = placeStations(cfg, labs); err != nil {
		return nil, err
	}
	meter := &stationMeter{stations: res.Machine.Stations, mach: res.Machine}
	if cfg.Marks {
		meter.marks, meter.seq = os.Stderr, new(int)
	}
	sched := newSchedule(cfg, len(labs))
	progress := func(phase string, m topology.Mode, clients, trial, level int, cost, planned time.Duration) {
		if cfg.Progress != nil {
			s := sched.next(cost, planned)
			s.Phase, s.Mode, s.Clients, s.Trial, s.Level = phase, m, clients, trial, level
			cfg.Progress(s)
		}
	}
	rates := map[topology.Mode]float64{}
	warmup, latency, light, sweep := cfg.Warmup.Duration(), cfg.Latency.Duration(), cfg.Light.Duration.Duration(), cfg.Duration.Duration()
	if latency > 0 {
		for i, l := range labs {
			progress("one client", l.mode, 1, 1, 0, warmup+latency, warmup+latency)
			single := *l
			single.load.KeepAlive = false
			tr, err := measure(ctx, &single, 1, 0, 0, warmup, latency, meter)
			if err != nil {
				return nil, err
			}
			tr.Trial, tr.Order = 1, i
			res.Latency = append(res.Latency, tr)
			rates[l.mode] = lightRate(tr, res.Machine, cfg.Light.Share)
			if cfg.Light.Trials > 0 && !(rates[l.mode] > 0) {
				// A rate of 0 would be no open loop at all.
				return nil, fmt.Errorf("the one-client run of %s served no request in %s (%d failed): no light-load rate can be judged from it; give a longer --latency, or check the lab",
					l.mode, latency, tr.Errors)
			}
		}
	}
	for t := 1; t <= cfg.Light.Trials; t++ {
		for i := range labs {
			l := labs[(i+t)%len(labs)]
			for k := range 2 {
				level := 1 + (k+t)%2 // the order of the two levels alternates
				rate := rates[l.mode] * float64(level) / 2
				// Both runs as long as the lighter one needs: a fixed
				// amount of CPU per measurement (its console marks and
				// progress line, the tty and relay work they cause) adds
				// c/W to a station's utilization, which the slope drops
				// only if W is the same at both rates. With the heavier
				// run half as long it was charged as c/minLightRequests
				// per request.
				d := lightDuration(light, rates[l.mode]/2)
				progress("light load", l.mode, 0, t, level, warmup+d, warmup+light)
				tr, err := measure(ctx, l, lightClients, rate, cfg.Light.Burst, warmup, d, meter)
				if err != nil {
					return nil, err
				}
				tr.Trial, tr.Order, tr.Level = t, 2*i+k, level
				res.Light = append(res.Light, tr)
			}
		}
	}
	for t := 1; t <= cfg.lastTrial(); t++ {
		for ci, clients := range cfg.Clients {
			for i := range labs {
				// Rotate the order every trial and client count, so that no mode
				// always runs first after a change of load.
				l := labs[(i+t+ci)%len(labs)]
				if !cfg.sweeps(l.mode) || t > cfg.trialsAt(clients) {
					continue
				}
				progress("sweep", l.mode, clients, t, 0, warmup+sweep, warmup+sweep)
				tr, err := measure(ctx, l, clients, 0, 0, warmup, sweep, meter)
				if err != nil {
					return nil, err
				}
				tr.Trial, tr.Order = t, i
				res.Trials = append(res.Trials, tr)
			}
		}
	}
	res.Summarise()
	res.Env.Elapsed = time.Since(start).Seconds()
	return res, nil
}

// schedule estimates what is left of a run by the work of each step
// (its measured and warm-up time), scaled by how fast the steps so far
// went: under TCG a second of load takes several of the host's.
type schedule struct {
	done, total int
	work, spent time.Duration // nominal work: all of it, and that of the steps begun
	start       time.Time
	lastBegun   time.Duration
}

func newSchedule(cfg Config, modes int) *schedule {
	s := &schedule{start: time.Now()}
	add := func(n int, d Seconds) {
		s.total += n
		s.work += time.Duration(n) * d.Duration()
	}
	if cfg.Latency > 0 {
		add(modes, cfg.Warmup+cfg.Latency)
	}
	add(2*cfg.Light.Trials*modes, cfg.Warmup+cfg.Light.Duration)
	swept := modes
	if len(cfg.SweepModes) > 0 {
		swept = len(cfg.SweepModes)
	}
	add(cfg.Trials*len(cfg.Clients)*swept, cfg.Warmup+cfg.Duration)
	add((cfg.lastTrial()-cfg.Trials)*swept, cfg.Warmup+cfg.Duration)
	return s
}

// trialsAt is the number of sweep trials at a client count.
func (c Config) trialsAt(clients int) int {
	if len(c.Clients) > 0 && clients == slices.Max(c.Clients) {
		return c.lastTrial()
	}
	return c.Trials
}

// lastTrial is the number of the sweep's last trial.
func (c Config) lastTrial() int { return max(c.Trials, c.TopTrials) }

// trialsText says how many trials the sweep has: "3 trials (6 at 64
// clients)".
func (c Config) trialsText() string {
	s := fmt.Sprintf("%d trials", c.Trials)
	if c.lastTrial() > c.Trials && len(c.Clients) > 0 {
		s += fmt.Sprintf(" (%d at %d clients)", c.lastTrial(), slices.Max(c.Clients))
	}
	return s
}

// sweeps says whether the sweep measures mode m.
func (c Config) sweeps(m topology.Mode) bool {
	return len(c.SweepModes) == 0 || slices.Contains(c.SweepModes, m)
}

// next records that a step begins whose work is cost (planned as
// planned) and says what is left.
func (s *schedule) next(cost, planned time.Duration) Step {
	s.work += cost - planned
	st := Step{Done: s.done, Total: s.total, Work: float64(s.spent) / float64(max(s.work, 1))}
	if s.spent > 0 {
		rate := float64(time.Since(s.start)) / float64(s.spent)
		st.Left = time.Duration(rate * float64(s.work-s.spent))
	}
	s.done++
	s.spent += cost
	return st
}

// placeStations describes the labs' stations (the machine model; Up put
// each lab's processes on their CPUs) and puts this process, the load
// generator, on the client's; without the model the whole machine is one
// station.
func placeStations(cfg Config, labs []*modeLab) (*Machine, error) {
	m := &Machine{Source: SourceProcStat, Caps: cfg.Caps}
	if !cfg.Isolate {
		m.Stations = machineStations()
		return m, nil
	}
	m.Stations = topology.Stations(labs[0].lab.Spec)
	for st := range cfg.Caps {
		if !slices.Contains(stationNames(m), st) {
			return nil, fmt.Errorf("cap of %s: no such station (the stations are %s)", st, strings.Join(stationNames(m), ", "))
		}
	}
	for _, l := range labs {
		for _, n := range l.lab.Notes {
			if !slices.Contains(m.Notes, n) {
				m.Notes = append(m.Notes, n)
			}
		}
	}
	client := labs[0].lab.Client()
	if err := topology.PinSelf(client.CPUs); err != nil {
		return nil, fmt.Errorf("pin the load generator to the client's cpus %s: %w", client.CPUs, err)
	}
	if cfg.Housekeeping {
		notes, err := housekeep(client.CPUs)
		if err != nil {
			return nil, err
		}
		m.Notes = append(m.Notes, fmt.Sprintf("the guest kernel's unbound work (workqueues, kernel threads, interrupts) was kept on the client's CPUs %s", client.CPUs))
		m.Notes = append(m.Notes, notes...)
	}
	return m, nil
}

// lightRate is the open-loop rate that keeps the busiest station near
// share of its capacity, judged from a single-client run: its CPU time per
// request, an overestimate (it includes what the station spends whatever
// the load), so the rate errs on the light side.
func lightRate(single Trial, m *Machine, share float64) float64 {
	served := float64(single.Requests - single.Errors)
	worst, cpus := 0.0, 0.0
	for _, u := range single.Stations {
		if c := m.Capacity(u.Station); c > 0 && served > 0 {
			load := u.CPUSeconds / served / c
			if _, capped := m.Caps[u.Station]; capped {
				// A quota hands a capped vCPU its CPU in slices of the
				// scheduler's period, so over a run of a second or two its
				// utilization swings well above its mean: at 0.4 aimed for,
				// a director capped at 0.05 was measured 105 % busy.
				load *= cappedLightMargin
			}
			worst = max(worst, load)
			cpus += c
		}
	}
	if worst <= 0 {
		return share * single.RequestsPerSec
	}
	// Never more than one client could keep every CPU busy with.
	return min(share/worst, max(1, cpus)*single.RequestsPerSec)
}

// cappedLightMargin is how many times its single-client load a capped
// station's light-load rate allows for (lightRate).
const cappedLightMargin = 2

// startModeLab builds one mode's lab and puts its director in place. The
// direct lab puts the client on the real servers' segment, so that nothing
// stands between them.
func startModeLab(ctx context.Context, cfg Config, m topology.Mode) (_ *modeLab, err error) {
	opts := []topology.Option{topology.WithName(cfg.Name + string(m)), topology.WithMode(m), topology.WithoutIPv6(), topology.WithSwitch(cfg.Switch)}
	if m == topology.ModeDirect {
		opts = append(opts, topology.WithClientOn(topology.SegmentBack))
	}
	spec := topology.Paper(opts...)
	if cfg.Isolate {
		if err := topology.IsolateOnline(spec); err != nil {
			return nil, err
		}
	}
	lab, err := harness.Up(ctx, spec, harness.UpOptions{Servers: cfg.Server, Supervise: cfg.SuperviseServers,
		Director: harness.DirectorOptions{Scheduler: cfg.Scheduler}})
	if err != nil {
		return nil, err
	}
	l := &modeLab{mode: m, lab: lab}
	defer func() {
		if err != nil {
			err = errors.Join(err, lab.Close())
		}
	}()
	t := lab.Topology()
	target := "direct"
	if m.Balanced() {
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

// measure runs one measurement: closed loop with clients clients, or open
// loop at rate, in bursts of burst, with at most clients requests in flight.
func measure(ctx context.Context, l *modeLab, clients int, rate float64, burst int, warmup, d time.Duration, meter *stationMeter) (Trial, error) {
	cfg := l.load
	cfg.Clients, cfg.Rate, cfg.Burst = clients, rate, burst
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
	if err := meter.begin(); err != nil {
		return Trial{}, err
	}
	r, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return Trial{}, err
	}
	use, marks, switches, window, err := meter.end()
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
		LoadgenBound: rate == 0 && loadgenBound(r.CPU.Cores, r.CPU.MachineBusy, runtime.NumCPU()),
		Elapsed:      r.Elapsed, Rate: rate, Stations: use, Marks: marks, Switches: switches, Window: window,
	}, nil
}
