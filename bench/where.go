//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

// Placement is where a benchmark will run, and how.
type Placement struct {
	// InVM says the benchmark runs in a VM booted as VM says (RunInVM),
	// not on this host's kernel (Run).
	InVM bool
	// Config is the benchmark as it will run: without ip_vs and without
	// QEMU only its direct and routed modes are measured.
	Config Config
	// VM is how the VM boots, every default filled in.
	VM VMOptions
	// Note says why modes were left out, for the user.
	Note string
}

// DefaultICount is the VM's clock unless the machine model needs real
// time: driven by executed instructions, so that a trial's timing depends
// on the work it took, not on what else the host ran (docs/findings.md).
const DefaultICount = "shift=2,sleep=off"

// ICountOff asks for the host's real time in VMOptions.ICount.
const ICountOff = "off"

// Place decides where cfg runs when asked for where (vm.WhereAuto,
// WhereHost or WhereVM) and checks the VM's options o against it, before
// any lab or VM: auto is this host when its kernel has ip_vs or no mode
// needs it, else the VM; with neither ip_vs nor QEMU, this host without
// the IPVS modes.
func Place(cfg Config, where string, o VMOptions) (Placement, error) {
	p := Placement{Config: cfg}
	needsIPVS := filterModes(cfg.Modes, func(m topology.Mode) bool { return m.Balanced() })
	inVM, err := vm.Choose(where, func() error {
		if len(needsIPVS) == 0 {
			return nil
		}
		if err := harness.CheckIPVS(); err != nil {
			return fmt.Errorf("%s need IPVS: %w", joinModes(needsIPVS), err)
		}
		return nil
	})
	switch {
	case errors.Is(err, vm.ErrNoQEMU):
		p.Config.Modes = filterModes(cfg.Modes, func(m topology.Mode) bool { return !m.Balanced() })
		if len(p.Config.Modes) == 0 {
			return p, errors.New("this kernel has no ip_vs and QEMU is not installed, so no mode asked for can be measured: install qemu-system-x86 (make deps does), or add direct or routed to --modes")
		}
		p.Note = fmt.Sprintf("this kernel has no ip_vs and QEMU is not installed: measuring %s only, without %s (install qemu-system-x86, or run make deps)",
			joinModes(p.Config.Modes), joinModes(needsIPVS))
	case err != nil && where == vm.WhereHost:
		return p, fmt.Errorf("%w (or use --where auto, or --modes direct,routed)", err)
	case err != nil:
		return p, err
	}
	p.InVM = inVM
	if p.VM, err = o.resolve(cfg); err != nil {
		return p, err
	}
	errs := []error{checkKernel(where, o.Kernel)}
	// The host applies caps to the guest's vCPU threads.
	if len(cfg.Caps) > 0 && !inVM {
		errs = append(errs, errors.New("--cap needs the VM (--where vm): on a host a station's speed is its CPUs'"))
	}
	return p, errors.Join(errs...)
}

// PlaceFailover decides where a failover benchmark runs when asked for
// where, and fills in and checks the VM's options (2 vCPUs unless o says:
// VRRP's timers run in real time), before any lab or VM.
func PlaceFailover(where string, o VMOptions) (inVM bool, _ VMOptions, err error) {
	if inVM, err = vm.Choose(where, harness.CheckIPVS); err != nil {
		return false, o, err
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.CPUs < 1 || o.CPUs > 64 || o.Timeout <= 0 {
		err = errors.New("--vm-cpus must be 1-64 and --vm-timeout positive")
	}
	return inVM, o, errors.Join(err, checkKernel(where, o.Kernel))
}

// checkKernel checks a kernel asked for by name: one of the list, for a
// run that may go to the VM.
func checkKernel(where, name string) error {
	if name == "" {
		return nil
	}
	if where == vm.WhereHost {
		return errors.New("--kernel picks the VM's kernel: use --where vm or auto, or leave --kernel out")
	}
	list, err := vm.LoadKernels("")
	if err != nil {
		return err
	}
	if _, err := list.Select(name, false); err != nil {
		return fmt.Errorf("--kernel: %w", err)
	}
	return nil
}

// resolve fills in the VM's defaults for cfg and checks them: the machine
// model needs real time and a vCPU per station (4 unless CPUs says).
func (o VMOptions) resolve(cfg Config) (VMOptions, error) {
	var errs []error
	switch {
	case cfg.Isolate && o.ICount != "" && o.ICount != ICountOff:
		errs = append(errs, errors.New("--isolate needs real time: under --vm-icount every vCPU runs on one host thread (leave --vm-icount out, or give off)"))
	case cfg.Isolate || o.ICount == ICountOff:
		o.ICount = ""
	case o.ICount == "":
		o.ICount = DefaultICount
	}
	if o.CPUs == 0 {
		o.CPUs = 1
		if cfg.Isolate {
			o.CPUs = 4
		}
	}
	if o.CPUs < 1 || o.CPUs > 64 || o.Timeout <= 0 {
		errs = append(errs, errors.New("--vm-cpus must be 1-64 and --vm-timeout positive"))
	} else if cfg.Isolate {
		// Which stations a VM of that many vCPUs has is known now: a cap
		// of another is refused before any VM boots.
		errs = append(errs, CheckCaps(cfg.Caps, o.CPUs))
	}
	if o.Stations != 0 && (o.Stations < topology.MinIsolateCPUs || o.Stations > 64) {
		errs = append(errs, fmt.Errorf("--stations %d: give 0 (skip) or %d to 64 vCPUs", o.Stations, topology.MinIsolateCPUs))
	}
	if !stationsRun(cfg, o) {
		o.Stations = 0
	}
	return o, errors.Join(errs...)
}

// stationsRun says whether RunInVM adds the stations run: asked for, and
// of use only where the first run had neither the machine model nor
// light load.
func stationsRun(cfg Config, o VMOptions) bool {
	return o.Stations > 0 && !cfg.Isolate && cfg.Light.Trials > 0
}

// VMOptions say how the VM a benchmark runs in is booted.
type VMOptions struct {
	// Kernel is a name of the kernel list ("" for its default).
	Kernel string
	CPUs   int
	// ICount is QEMU's -icount for a clock driven by executed instructions
	// (steady ratios under TCG), or "" for real time (Place: "" is
	// DefaultICount, ICountOff real time).
	ICount  string
	Timeout time.Duration
	// Command is how the guest runs a benchmark from a configuration file
	// and an output folder: the lvslab binary and its flags.
	Command func(configFile, out string) []string
	// Console receives the guest's output (its progress lines), Log
	// lvslab's own lines about the VM.
	Console io.Writer
	Log     func(string)
	// Stations, if above 0, adds the default benchmark's second run (see
	// StationsConfig) in a VM of that many vCPUs, in real time, into the
	// folder "stations" of the output.
	Stations int
}

// StationsDir is the output folder's subfolder of the stations run.
const StationsDir = "stations"

// StationsConfig is the default benchmark's second run: cfg's modes under
// light load (twice the trials), each station on a vCPU of its own, for
// per-station demands (which a single-vCPU run cannot tell apart) and the
// paper's hardware predicted from them; then direct alone saturated at
// the capped run's top client count, for the host CPU the servers'
// station delivers (DeriveCap).
func StationsConfig(cfg Config) Config {
	c := cfg
	c.Name = cfg.Name + "s"
	c.Trials, c.TopTrials, c.Clients, c.SweepModes = 0, 0, nil, nil
	if slices.Contains(cfg.Modes, topology.ModeDirect) {
		c.Trials, c.Clients = MinVerdictTrials, []int{slices.Max(CappedClients)}
		c.SweepModes = []topology.Mode{topology.ModeDirect}
	}
	// Twice the first run's light-load trials: the zero checks (Sanity)
	// judge each station's slopes, which scatter ±0.13 ms here (60 slopes
	// of idle stations in five runs); six find a demand of 0.4 ms in 86 %
	// of runs (TestZeroChecksHoldTheirLevelOnIdleStations).
	c.Light.Trials = min(2*cfg.Light.Trials, MaxTrials)
	c.Isolate = true
	c.Caps = nil
	return c
}

// ConfigFile is the configuration RunInVM hands the guest, in the output folder.
const ConfigFile = "config.json"

// RunInVM runs cfg in a VM: the guest reads the configuration from the
// output folder, measures on the VM's kernel and writes its files there;
// the host then adds what only it knows (the accelerator, the kernel's
// name in the list, under the machine model the CPU time of each
// station's vCPU threads) and writes them again. With o.Stations it runs
// the stations run next (StationsConfig) and returns both as one result.
func RunInVM(ctx context.Context, cfg Config, out string, o VMOptions) (*Result, error) {
	r, err := runInVM(ctx, cfg, out, o)
	if err != nil || !stationsRun(cfg, o) {
		return r, err
	}
	so := o
	so.CPUs, so.ICount, so.Stations = o.Stations, "", 0
	o.Log(fmt.Sprintf("the stations run: every mode under light load, then direct saturated, a vCPU per station (%d vCPUs, real time), into %s", so.CPUs, filepath.Join(out, StationsDir)))
	if r.Stations, err = runInVM(ctx, StationsConfig(cfg), filepath.Join(out, StationsDir), so); err != nil {
		return nil, fmt.Errorf("the stations run: %w", err)
	}
	if cappedRun(cfg, o) {
		if d := DeriveCap(r.Stations); d.Refused != "" {
			o.Log("no capped run: " + d.Refused)
		} else {
			o.Log(fmt.Sprintf("the capped run: %s; direct and the balanced modes at %v clients, into %s", d, CappedClients, filepath.Join(out, CappedDir)))
			if r.Capped, err = runInVM(ctx, CappedConfig(cfg, d), filepath.Join(out, CappedDir), so); err != nil {
				return nil, fmt.Errorf("the capped run: %w", err)
			}
		}
	}
	r.Summarise()
	return r, r.WriteFiles(out)
}

func runInVM(ctx context.Context, cfg Config, out string, o VMOptions) (*Result, error) {
	var stations []topology.Station
	sampler := &vcpuSampler{samples: map[int]HostSample{}}
	var quotas []*vm.ThreadQuota
	defer func() {
		for _, q := range quotas {
			if err := q.Remove(); err != nil {
				o.Log("remove the vCPU cap: " + err.Error())
			}
		}
	}()
	var hooks guestHooks
	hooks.console = &guestConsole{out: o.Console, sampler: sampler}
	if cfg.Isolate {
		if o.ICount != "" {
			return nil, errors.New("the machine model needs real time: under -icount every vCPU runs on one host thread, one CPU of capacity in all (use --vm-icount off)")
		}
		var err error
		if stations, err = capStations(cfg.Caps, o.CPUs); err != nil {
			return nil, err
		}
		cfg.Marks, cfg.Housekeeping = true, true
		hooks.tcg = true // the vCPU threads the model samples are MTTCG's
		hooks.started = func(pid int, qmp string) error {
			threads, err := vm.VCPUThreads(qmp, 30*time.Second)
			if err != nil {
				return err
			}
			sampler.mu.Lock()
			sampler.pid, sampler.threads = pid, threads
			sampler.mu.Unlock()
			for _, st := range stations {
				cores, ok := cfg.Caps[st.Name]
				if !ok {
					continue
				}
				var tids []int
				for _, c := range st.CPUs {
					tids = append(tids, threads[c])
				}
				q, err := vm.CapThreads(pid, tids, cores)
				if err != nil {
					return fmt.Errorf("cap station %s (vCPU %s) at %g host CPUs: %w", st.Name, st.CPUs, cores, err)
				}
				quotas = append(quotas, q)
				o.Log(fmt.Sprintf("station %s: vCPU %s capped at %g host CPUs", st.Name, st.CPUs, cores))
			}
			return nil
		}
	}
	os.Remove(filepath.Join(out, ResultsJSON))
	env, err := runGuest(ctx, cfg, out, o, hooks)
	if err != nil {
		return nil, err
	}
	r, err := ReadResult(filepath.Join(out, ResultsJSON))
	if err != nil {
		return nil, fmt.Errorf("the VM wrote no result: %w", err)
	}
	env.hostOnly(&r.Env)
	if cfg.Isolate {
		if err := sampler.merge(r); err != nil {
			return nil, err
		}
		r.Summarise()
	}
	return r, r.WriteFiles(out)
}

// guestHooks are what a run may add to the VM: a console reader of its
// own, a callback once QEMU runs, and TCG for threads it samples.
type guestHooks struct {
	console io.Writer
	started func(pid int, qmp string) error
	tcg     bool
}

// hostOnly copies into a result's environment what only the host knows.
func (e Env) hostOnly(into *Env) {
	into.Accel, into.KernelName = e.Accel, e.KernelName
	into.KernelPackage, into.KernelVersion, into.KernelSHA256 = e.KernelPackage, e.KernelVersion, e.KernelSHA256
}

// runGuest boots the VM on the kernel asked for with cfg in the output
// folder (ConfigFile), runs o.Command there and returns what the host
// knows of the run: the accelerator and the kernel's name and build.
func runGuest(ctx context.Context, cfg any, out string, o VMOptions, hooks guestHooks) (Env, error) {
	list, err := vm.LoadKernels("")
	if err != nil {
		return Env{}, err
	}
	specs, err := list.Select(o.Kernel, false)
	if err != nil {
		return Env{}, err
	}
	k, err := vm.Fetch(ctx, specs[0], vm.FetchOptions{Log: o.Log})
	if err != nil {
		return Env{}, err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return Env{}, err
	}
	// Checked before the first write into it, not by the VM's own check.
	configFile := filepath.Join(out, ConfigFile)
	if err := WriteFileIn(out, ConfigFile, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return Env{}, err
	}
	defer os.Remove(configFile)
	o.Log(fmt.Sprintf("running in a VM on %s (%s)", k.Name, k.Release))
	accel := "auto"
	if hooks.tcg {
		accel = "tcg"
	}
	console := o.Console
	if hooks.console != nil {
		console = hooks.console
	}
	cwd, _ := os.Getwd()
	res, err := vm.Run(ctx, vm.Options{Kernel: k, CPUs: o.CPUs, Memory: "2G", Timeout: o.Timeout, Accel: accel, ICount: o.ICount,
		OutDir: out, Argv: o.Command(configFile, out), Dir: cwd, Env: vm.GuestEnv(false), Console: console, Log: o.Log, Started: hooks.started})
	if err != nil {
		return Env{}, err
	}
	if res.ExitCode != 0 {
		return Env{}, &GuestError{Code: res.ExitCode}
	}
	env := Env{Accel: res.Accel, KernelName: k.Name, KernelPackage: k.Package, KernelVersion: k.Version, KernelSHA256: k.SHA256}
	if o.ICount != "" {
		env.Accel += " icount " + o.ICount
	}
	return env, nil
}

// CheckCaps refuses, before any VM boots, a cap of a station that the
// machine model of a VM with cpus vCPUs does not have.
func CheckCaps(caps map[string]float64, cpus int) error {
	if len(caps) == 0 {
		return nil
	}
	_, err := capStations(caps, cpus)
	return err
}

// capStations are the stations of a VM with cpus vCPUs, once every capped
// station is found among them.
func capStations(caps map[string]float64, cpus int) ([]topology.Station, error) {
	stations, err := vmStations(cpus)
	if err != nil {
		return nil, err
	}
	names := stationNames(&Machine{Stations: stations})
	for _, st := range slices.Sorted(maps.Keys(caps)) {
		if !slices.Contains(names, st) {
			return nil, fmt.Errorf("cap of %q: no such station with %d vCPUs (the stations are %s)", st, cpus, strings.Join(names, ", "))
		}
	}
	return stations, nil
}

// vmStations is the stations of --isolate's split over a VM's vCPUs.
func vmStations(cpus int) ([]topology.Station, error) {
	spec := topology.Paper()
	list := make(topology.CPUList, cpus)
	for i := range list {
		list[i] = i
	}
	if err := topology.Isolate(spec, list); err != nil {
		return nil, fmt.Errorf("the machine model in a VM: %w (give --vm-cpus 3 or more)", err)
	}
	p, err := topology.Plan(spec)
	if err != nil {
		return nil, err
	}
	return topology.Stations(p), nil
}

// GuestError is a benchmark that failed inside the VM; its output went to
// the console.
type GuestError struct{ Code int }

func (e *GuestError) Error() string {
	return fmt.Sprintf("the benchmark failed in the VM (exit status %d; its output is above)", e.Code)
}

// ReadConfig reads the configuration RunInVM wrote, and validates it.
func ReadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s is not a benchmark configuration: %w", path, err)
	}
	return c, c.Validate()
}

func filterModes(ms []topology.Mode, keep func(topology.Mode) bool) []topology.Mode {
	var out []topology.Mode
	for _, m := range ms {
		if keep(m) {
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

// GuestRuns completes the options of a VM that runs this binary's command
// what (bench, failover) from the configuration the host hands it, on the
// guest's own kernel, into the same output folder.
func GuestRuns(what string, o VMOptions) (VMOptions, error) {
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
