//go:build linux

package labtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

// Variables that steer how a suite that needs IPVS runs where the host
// kernel has none.
const (
	// KernelEnv names the kernel of the list to boot (default: the list's).
	KernelEnv = "LVSLAB_KERNEL"
	// ProcsEnv is how many Ginkgo processes run the suite in the VM (2 by
	// default; 1 runs it in this one binary, without the ginkgo command).
	ProcsEnv = "LVSLAB_PROCS"
	// GinkgoEnv is a ginkgo command to run parallel processes with
	// (default: built from this module).
	GinkgoEnv = "LVSLAB_GINKGO"
	// ForceVMEnv runs the suite in the VM even where the host has ip_vs.
	ForceVMEnv = "LVSLAB_FORCE_VM"
	// inVMEnv marks a run already inside the VM: it never boots another.
	inVMEnv = "LVSLAB_IN_VM"
	// turnEnv marks a process whose ancestor suite holds the host's turn
	// (takeTurn): a spec that runs the suite again in a child is part of
	// that run and must not wait for the turn its own parent holds.
	turnEnv = "LVSLAB_SUITE_TURN"
)

// perfICount is the guest clock of the perf specs: driven by executed
// instructions, so that a ratio of two rates measured there holds steady
// whatever else the host runs.
const perfICount = "shift=2,sleep=off"

// Main is a suite's TestMain. A suite that needs IPVS (needsIPVS) runs as
// usual where the kernel has ip_vs; on any other host, as root, this same
// compiled test binary is run again inside lvslab vm (the list's default
// kernel, or $LVSLAB_KERNEL) with the same flags, and its exit status is
// this one's: that is how "sudo go test ./..." runs the IPVS suite on
// every host. The perf specs run in a VM of their own whose clock counts
// instructions; the others in Ginkgo's parallel processes.
//
// Suites started together by "go test ./..." take turns (a lock in the
// temporary folder): the lab suite's timings on the host and the VMs'
// would otherwise share two cores, and specs that measure time would fail
// for it. The processes of one "ginkgo -p" run do not take it.
func Main(m *testing.M, needsIPVS bool) int {
	if os.Getenv(inVMEnv) != "" || listOnly(os.Args[1:]) || os.Geteuid() != 0 {
		return m.Run()
	}
	unlock, err := holdTurn(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "lvslab: "+err.Error())
		return 1
	}
	defer unlock()
	if !needsIPVS || (os.Getenv(ForceVMEnv) == "" && harness.CheckIPVS() == nil) {
		return m.Run()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := runInVM(ctx, os.Args[0], os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "lvslab: "+err.Error())
		if code == 0 {
			code = 1
		}
	}
	return code
}

// ginkgoParallel reports whether the ginkgo command started this process
// as one of several.
func ginkgoParallel(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "ginkgo.parallel.total") })
}

// holdTurn takes the host's turn (takeTurn) unless this process is part of
// a run that holds it already: one of "ginkgo -p"'s processes, or a child
// that a spec of a suite started.
func holdTurn(args []string) (func(), error) {
	if ginkgoParallel(args) || os.Getenv(turnEnv) != "" {
		return func() {}, nil
	}
	return takeTurn()
}

// takeTurn waits until no other lvslab suite runs on this host.
func takeTurn() (func(), error) {
	path := filepath.Join(os.TempDir(), "lvslab-suites.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("suite lock %s: %w", path, err)
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		fmt.Fprintf(os.Stderr, "lvslab: waiting for the lvslab suite that runs on this host (%s)\n", path)
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("suite lock %s: %w", path, err)
		}
	}
	// Inherited by every process this suite starts, and by no other.
	os.Setenv(turnEnv, path)
	return func() { f.Close(); os.Unsetenv(turnEnv) }, nil
}

// listOnly reports whether go test only lists tests (-test.list): no VM
// is worth booting for that.
func listOnly(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-test.list") })
}

// suiteVMs is what every VM of a suite run shares: the test flags, the
// label filter, the Ginkgo processes and the VM's options.
type suiteVMs struct {
	binary string
	flags  testFlags
	filter string
	procs  int
	ginkgo string
	base   vm.Options
	say    func(string)
}

func runInVM(ctx context.Context, binary string, args []string) (int, error) {
	tools, err := os.MkdirTemp("", "lvslab-suite-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(tools)
	s, code, err := prepareVMs(ctx, binary, args, tools)
	if err != nil {
		return code, err
	}
	return s.run(ctx)
}

// prepareVMs checks the suite's flags and variables, builds the tools the
// guest runs and fetches the kernel; code is the exit status of an error.
func prepareVMs(ctx context.Context, binary string, args []string, tools string) (_ *suiteVMs, code int, _ error) {
	say := func(s string) { fmt.Fprintln(os.Stderr, "lvslab: "+s) }
	flags := parseTestFlags(args)
	if dir := os.Getenv(ReportsEnv); dir != "" && flags.ginkgo["junit-report"] == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, 1, fmt.Errorf("$%s: %w", ReportsEnv, err)
		}
		flags.ginkgo["junit-report"] = filepath.Join(dir, reportName())
	}
	filter := flags.ginkgo["label-filter"]
	if err := CheckLabelFilter(filter); err != nil {
		return nil, 2, err
	}
	// Refused here, not after the VM's boot.
	if _, err := parseCapture(os.Getenv(CaptureEnv)); err != nil {
		return nil, 2, err
	}
	list, err := vm.LoadKernels("")
	if err != nil {
		return nil, 1, err
	}
	specs, err := list.Select(os.Getenv(KernelEnv), false)
	if err != nil {
		return nil, 2, fmt.Errorf("$%s: %w", KernelEnv, err)
	}
	say(fmt.Sprintf("this kernel has no ip_vs: running %s inside a VM on %s (set %s to pick another)", filepath.Base(binary), specs[0].Name, KernelEnv))
	os.Chmod(tools, 0o755)
	lvslab, err := tool(ctx, "LVSLAB_BIN", "github.com/lvslab/lvslab/cmd/lvslab", tools)
	if err != nil {
		return nil, 1, err
	}
	procs := 2
	if v := os.Getenv(ProcsEnv); v != "" {
		if procs, err = strconv.Atoi(v); err != nil || procs < 1 {
			return nil, 2, fmt.Errorf("$%s=%q: give a number of processes, 1 or more", ProcsEnv, v)
		}
	}
	var ginkgo string
	if procs > 1 {
		if ginkgo, err = tool(ctx, GinkgoEnv, "github.com/onsi/ginkgo/v2/ginkgo", tools); err != nil {
			return nil, 1, err
		}
	}
	k, err := vm.Fetch(ctx, specs[0], vm.FetchOptions{Log: say})
	if err != nil {
		return nil, 1, err
	}
	cwd, _ := os.Getwd()
	env := append(vm.GuestEnv(term.IsTerminal(int(os.Stdout.Fd()))), "LVSLAB_BIN="+lvslab, inVMEnv+"=1")
	base := vm.Options{Kernel: k, Memory: "2G", Timeout: flags.timeout(), Accel: "auto", Dir: cwd, Env: env,
		Console: os.Stdout, Log: func(s string) { say("vm: " + s) }, InitBinary: lvslab}
	if base.OutDir, err = flags.outDir(); err != nil {
		return nil, 2, err
	}
	if base.OutDir != "" {
		// Ginkgo's parallel processes in the guest are not told the
		// reports' folder; a failing spec's capture goes there too.
		base.Env = append(base.Env, ReportsEnv+"="+base.OutDir)
	}
	return &suiteVMs{binary: binary, flags: flags, filter: filter, procs: procs, ginkgo: ginkgo, base: base, say: say}, 0, nil
}

// run boots the suite's VMs and returns the worst exit status of theirs.
func (s *suiteVMs) run(ctx context.Context) (int, error) {
	binary, flags, filter, procs, ginkgo, base, say := s.binary, s.flags, s.filter, s.procs, s.ginkgo, s.base, s.say
	// Two VMs at once: the perf specs' clock counts instructions, so what
	// they measure does not depend on the CPU they get, and the specs that
	// count failures under load run Serial, alone in their VM. (At a lower
	// CPU priority the perf VM starved on a shared host.) The perf VM's
	// console is shown when it ends.
	only := ""
	if filter != "" {
		only = "(" + filter + ") && "
	}
	// The isolation spec needs a vCPU per station (topology.MinIsolateCPUs)
	// and counts packets, not time; it boots once the specs' VM is done, so
	// that three VMs never share the host at once.
	runs := []struct {
		what   string
		filter string
		cpus   int
		icount string
		report string
		after  int // the run this one waits for, or -1
	}{
		{"the specs", only + "!perf", 2, "", "", -1},
		{"perf", only + "perf && !isolation", 1, perfICount, "perf-", -1},
		{"isolation", only + "isolation", topology.MinIsolateCPUs, "", "isolation-", 0},
	}
	type outcome struct {
		code    int
		err     error
		console *bytes.Buffer
	}
	results := make([]chan outcome, len(runs))
	done := make([]chan struct{}, len(runs))
	for i := range runs {
		done[i] = make(chan struct{})
	}
	for i, r := range runs {
		results[i] = make(chan outcome, 1)
		n, err := countSpecs(ctx, binary, flags.with(r.filter, ""))
		if err != nil {
			return 1, err
		}
		if n == 0 {
			results[i] <- outcome{}
			close(done[i])
			continue
		}
		o := base
		o.CPUs, o.ICount = r.cpus, r.icount
		f := flags.with(r.filter, r.report)
		o.Argv = append([]string{binary}, f.args()...)
		var console *bytes.Buffer
		if r.after >= 0 {
			say(fmt.Sprintf("%d %s specs after %s, in a VM with %d vCPUs (their output follows at the end)", n, r.what, runs[r.after].what, r.cpus))
			console = &bytes.Buffer{}
			o.Console = console
			o.Log = func(s string) { say("vm (" + r.what + "): " + s) }
		} else if r.icount == "" {
			say(fmt.Sprintf("%d specs in %d Ginkgo processes", n, procs))
			if ginkgo != "" {
				o.Argv = f.ginkgoCommand(ginkgo, binary, procs)
			}
		} else {
			say(fmt.Sprintf("%d perf specs at the same time, in a VM whose clock counts instructions (their output follows at the end)", n))
			o.Accel = "tcg"
			console = &bytes.Buffer{}
			o.Console = console
			o.Log = func(s string) { say("vm (perf): " + s) }
		}
		go func() {
			defer close(done[i])
			if r.after >= 0 {
				<-done[r.after]
			}
			res, err := vm.Run(ctx, o)
			if errors.Is(err, vm.ErrTimeout) && ctx.Err() == nil {
				err = fmt.Errorf("%w: the suite had as long as go test's -timeout (%s), too short for it in a VM under TCG on this host: go test -timeout 40m ./...", err, o.Timeout)
			}
			code := 1
			if res != nil && err == nil {
				code = res.ExitCode
			}
			results[i] <- outcome{code, err, console}
		}()
	}
	worst := 0
	var errs []error
	for i := range runs {
		r := <-results[i]
		if r.console != nil {
			fmt.Fprintf(os.Stdout, "\n--- the %s specs' VM:\n%s", runs[i].what, r.console)
		}
		worst = max(worst, r.code)
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	return worst, errors.Join(errs...)
}

// tool is the path in env, or the package built into dir.
func tool(ctx context.Context, env, pkg, dir string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return filepath.Abs(p)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, pkg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s for the VM (or set %s): %v: %s", pkg, env, err, msg)
	}
	return out, nil
}

// countSpecs counts the specs a filter selects, from a dry run of the
// suite on this host.
func countSpecs(ctx context.Context, binary string, f testFlags) (int, error) {
	dir, err := os.MkdirTemp("", "lvslab-dry-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	report := filepath.Join(dir, "report.json")
	// The same selection (label filter, focus, skip), without the reports.
	selection := map[string]string{}
	for k, v := range f.ginkgo {
		if !strings.HasSuffix(k, "-report") && k != "v" && k != "vv" {
			selection[k] = v
		}
	}
	selection["dry-run"], selection["json-report"], selection["no-color"] = "true", report, "true"
	f.ginkgo = selection
	f.test = slices.DeleteFunc(slices.Clone(f.test), func(a string) bool { return strings.HasPrefix(a, "-test.v") })
	cmd := exec.CommandContext(ctx, binary, f.args()...)
	cmd.Env = append(os.Environ(), inVMEnv+"=dry-run")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("count the specs to run (a dry run): %v: %s", err, out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		return 0, fmt.Errorf("count the specs to run: %w", err)
	}
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		return 0, fmt.Errorf("count the specs to run: %w", err)
	}
	n := 0
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt && s.State == types.SpecStatePassed {
				n++
			}
		}
	}
	return n, nil
}

// testFlags are a test binary's flags: Go's (-test.*) as given, Ginkgo's
// (-ginkgo.*) by name.
type testFlags struct {
	test   []string
	ginkgo map[string]string
	order  []string
}

// ginkgoBoolFlags take no value after them.
var ginkgoBoolFlags = []string{"v", "vv", "succinct", "no-color", "fail-fast", "dry-run", "trace", "show-node-events",
	"fail-on-pending", "fail-on-empty", "randomize-all", "always-emit-ginkgo-writer", "github-output", "silence-skips", "force-newlines"}

func parseTestFlags(args []string) testFlags {
	f := testFlags{ginkgo: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, ok := strings.CutPrefix(strings.TrimPrefix(a, "-"), "-ginkgo.")
		if !ok {
			name, ok = strings.CutPrefix(strings.TrimPrefix(a, "-"), "ginkgo.")
		}
		if !ok {
			// -test.testlogfile is go test's record of what a test read, for
			// its cache; a run in a VM reads what go test cannot see.
			if !strings.HasPrefix(a, "-test.testlogfile") {
				f.test = append(f.test, a)
			}
			continue
		}
		value := "true"
		if n, v, hasValue := strings.Cut(name, "="); hasValue {
			name, value = n, v
		} else if !slices.Contains(ginkgoBoolFlags, name) && i+1 < len(args) {
			i++
			value = args[i]
		}
		if _, seen := f.ginkgo[name]; !seen {
			f.order = append(f.order, name)
		}
		f.ginkgo[name] = value
	}
	return f
}

// with is these flags with another label filter, and report files named
// with prefix.
func (f testFlags) with(filter, prefix string) testFlags {
	g := testFlags{test: f.test, ginkgo: map[string]string{}, order: slices.Clone(f.order)}
	for k, v := range f.ginkgo {
		if strings.HasSuffix(k, "-report") && prefix != "" {
			v = filepath.Join(filepath.Dir(v), prefix+filepath.Base(v))
		}
		g.ginkgo[k] = v
	}
	if _, ok := g.ginkgo["label-filter"]; !ok {
		g.order = append(g.order, "label-filter")
	}
	g.ginkgo["label-filter"] = filter
	return g
}

func (f testFlags) names() []string {
	var names []string
	for _, k := range f.order {
		if _, ok := f.ginkgo[k]; ok {
			names = append(names, k)
		}
	}
	for k := range f.ginkgo {
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	return names
}

// args are the flags as the test binary takes them.
func (f testFlags) args() []string {
	args := slices.Clone(f.test)
	for _, k := range f.names() {
		args = append(args, "-ginkgo."+k+"="+f.ginkgo[k])
	}
	return args
}

// ginkgoCommand runs the compiled suite in procs parallel processes: the
// ginkgo command takes Ginkgo's flags itself (it merges the processes'
// reports) and hands Go's to the binary.
func (f testFlags) ginkgoCommand(ginkgo, binary string, procs int) []string {
	argv := []string{ginkgo, "run", "-p", "--procs", strconv.Itoa(procs)}
	for _, k := range f.names() {
		argv = append(argv, "--"+k+"="+f.ginkgo[k])
	}
	var test []string
	for _, a := range f.test {
		// ginkgo sets these for each process itself.
		if !strings.HasPrefix(a, "-test.paniconexit0") && !strings.HasPrefix(a, "-test.timeout") {
			test = append(test, a)
		}
	}
	argv = append(argv, "--timeout="+f.timeout().String(), binary)
	if len(test) > 0 {
		argv = append(append(argv, "--"), test...)
	}
	return argv
}

// timeout is go test's -timeout for the suite (30 minutes when none).
func (f testFlags) timeout() time.Duration {
	for _, a := range f.test {
		if v, ok := strings.CutPrefix(a, "-test.timeout="); ok {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				return d
			}
		}
	}
	return 30 * time.Minute
}

// outDir is the one folder the suite's reports go to, which the guest
// must be able to write.
func (f testFlags) outDir() (string, error) {
	dir := ""
	for k, v := range f.ginkgo {
		if !strings.HasSuffix(k, "-report") {
			continue
		}
		d, err := filepath.Abs(filepath.Dir(v))
		if err != nil {
			return "", err
		}
		if dir != "" && d != dir {
			return "", fmt.Errorf("the suite runs in a VM, which writes one shared folder: put every -ginkgo.*-report file in one folder (%s, %s)", dir, d)
		}
		dir = d
	}
	return dir, nil
}
