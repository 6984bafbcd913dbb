package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
}

// ConfigFile is the configuration RunInVM hands the guest, in the output folder.
const ConfigFile = "config.json"

// RunInVM runs cfg in a VM: the guest reads the configuration from the
// output folder, measures on the VM's kernel and writes its files there;
// the host then adds what only it knows (the accelerator, the kernel's
// name in the list) and writes them again.
func RunInVM(ctx context.Context, cfg Config, out string, o VMOptions) (*Result, error) {
	os.Remove(filepath.Join(out, ResultsJSON))
	env, err := runGuest(ctx, cfg, out, o)
	if err != nil {
		return nil, err
	}
	r, err := ReadResult(filepath.Join(out, ResultsJSON))
	if err != nil {
		return nil, fmt.Errorf("the VM wrote no result: %w", err)
	}
	r.Env.Accel, r.Env.KernelName = env.Accel, env.KernelName
	return r, r.WriteFiles(out)
}

// runGuest boots the VM on the kernel asked for with cfg in the output
// folder (ConfigFile), runs o.Command there and returns what the host
// knows of the run: the accelerator and the kernel's name in the list.
func runGuest(ctx context.Context, cfg any, out string, o VMOptions) (Env, error) {
	list, err := vm.LoadKernels("")
	if err != nil {
		return Env{}, err
	}
	specs, err := list.Select(o.Kernel, false)
	if err != nil {
		return Env{}, err
	}
	k, err := vm.Fetch(ctx, specs[0], o.Log)
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
	o.Log(fmt.Sprintf("running the benchmark in a VM on %s (%s)", k.Name, k.Release))
	accel := "auto"
	if o.ICount != "" {
		accel = "tcg" // icount is TCG's
	}
	cwd, _ := os.Getwd()
	res, err := vm.Run(ctx, vm.Options{Kernel: k, CPUs: o.CPUs, Memory: "2G", Timeout: o.Timeout, Accel: accel, ICount: o.ICount,
		OutDir: out, Argv: o.Command(configFile, out), Dir: cwd, Env: vm.GuestEnv(false), Console: o.Console, Log: o.Log})
	if err != nil {
		return Env{}, err
	}
	if res.ExitCode != 0 {
		return Env{}, &GuestError{Code: res.ExitCode}
	}
	env := Env{Accel: res.Accel, KernelName: k.Name}
	if o.ICount != "" {
		env.Accel += " icount " + o.ICount
	}
	return env, nil
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
