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
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

// Where a benchmark runs: on this host's kernel, or in a VM booted on a
// kernel of the list (for IPVS where the host has none).
const (
	WhereAuto = "auto"
	WhereHost = "host"
	WhereVM   = "vm"
)

// Placement is where a benchmark will run, and what it will measure there.
type Placement struct {
	Where string
	// Modes are those that will be measured: without ip_vs and without QEMU
	// only direct and routed are.
	Modes []topology.Mode
	// Note says why modes were left out, for the user.
	Note string
}

// Place decides where cfg runs when asked for where (auto, host or vm):
// auto is this host when its kernel has ip_vs or no mode needs it, else
// the VM; with neither ip_vs nor QEMU, this host without the IPVS modes.
func Place(cfg Config, where string) (Placement, error) {
	p := Placement{Where: where, Modes: cfg.Modes}
	needsIPVS := filterModes(cfg.Modes, func(m topology.Mode) bool { return m.Balanced() })
	switch where {
	case WhereAuto:
		p.Where = WhereHost
		if len(needsIPVS) == 0 || harness.CheckIPVS() == nil {
			return p, nil
		}
		if _, err := exec.LookPath("qemu-system-x86_64"); err == nil {
			p.Where = WhereVM
			return p, nil
		}
		p.Modes = filterModes(cfg.Modes, func(m topology.Mode) bool { return !m.Balanced() })
		if len(p.Modes) == 0 {
			return p, errors.New("this kernel has no ip_vs and QEMU is not installed, so no mode asked for can be measured: install qemu-system-x86 (make deps does), or add direct or routed to --modes")
		}
		p.Note = fmt.Sprintf("this kernel has no ip_vs and QEMU is not installed: measuring %s only, without %s (install qemu-system-x86, or run make deps)",
			joinModes(p.Modes), joinModes(needsIPVS))
		return p, nil
	case WhereHost:
		if len(needsIPVS) > 0 {
			if err := harness.CheckIPVS(); err != nil {
				return p, fmt.Errorf("%s need IPVS: %w (or use --where auto, or --modes direct,routed)", joinModes(needsIPVS), err)
			}
		}
		return p, nil
	case WhereVM:
		return p, nil
	}
	return p, fmt.Errorf("where %q: use auto, host or vm", where)
}

// VMOptions say how the VM a benchmark runs in is booted.
type VMOptions struct {
	// Kernel is a name of the kernel list ("" for its default).
	Kernel string
	CPUs   int
	// ICount is QEMU's -icount for a clock driven by executed instructions
	// (steady ratios under TCG), or "" for real time.
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
// light load only, each station on a vCPU of its own, for per-station
// demands (which a single-vCPU run cannot tell apart) and the paper's
// hardware predicted from them.
func StationsConfig(cfg Config) Config {
	c := cfg
	c.Name = cfg.Name + "s"
	c.Trials, c.Clients = 0, nil
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
	if err != nil || o.Stations == 0 || cfg.Isolate || cfg.Light.Trials == 0 {
		return r, err
	}
	so := o
	so.CPUs, so.ICount, so.Stations = o.Stations, "", 0
	o.Log(fmt.Sprintf("the stations run: every mode under light load, a vCPU per station (%d vCPUs, real time), into %s", so.CPUs, filepath.Join(out, StationsDir)))
	if r.Stations, err = runInVM(ctx, StationsConfig(cfg), filepath.Join(out, StationsDir), so); err != nil {
		return nil, fmt.Errorf("the stations run: %w", err)
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
		cfg.Marks = true
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
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Env{}, fmt.Errorf("create %s: %w", out, err)
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return Env{}, err
	}
	configFile := filepath.Join(out, ConfigFile)
	if err := os.WriteFile(configFile, data, 0o644); err != nil {
		return Env{}, fmt.Errorf("write %s: %w", configFile, err)
	}
	defer os.Remove(configFile)
	o.Log(fmt.Sprintf("running in a VM on %s (%s)", k.Name, k.Release))
	accel := "auto"
	if o.ICount != "" || hooks.tcg {
		accel = "tcg" // icount is TCG's
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

// vmStations is the stations of --isolate's split over a VM's vCPUs.
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
