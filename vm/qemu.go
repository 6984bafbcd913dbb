//go:build linux

package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvslab/lvslab/internal/proc"
)

// Options is one run of a command inside a VM.
type Options struct {
	Kernel  *Kernel
	CPUs    int
	Memory  string // as QEMU takes it: 2G, 1024M
	Timeout time.Duration
	// Accel is auto (KVM if the guest boots under it and ICount is
	// empty, else TCG), kvm or tcg.
	Accel string
	// ICount, under TCG, gives the guest a clock driven by the instructions
	// it executes (QEMU's -icount, e.g. "shift=2,sleep=off"): its timings
	// then depend on the work done, not on how busy the host is.
	ICount string
	// OutDir is a host folder the guest can write, at the same path.
	OutDir string
	Argv   []string
	Dir    string
	Env    []string
	// Console receives the guest command's output as it comes.
	Console io.Writer
	// Log receives lvslab's own lines about the run.
	Log func(string)
	// InitBinary is the lvslab binary that becomes the guest's init
	// (default: this executable).
	InitBinary string
	// Started, if set, is called once QEMU runs, with its pid and the path
	// of its monitor socket (QMP); an error stops the run.
	Started func(pid int, qmpSocket string) error
}

// Result is how a run ended.
type Result struct {
	ExitCode int
	Accel    string
	// Boot is the wall time from starting QEMU to the guest's first line.
	Boot time.Duration
	Wall time.Duration
}

// Boot watchdogs: a guest shows its first line within kvmBootLimit under a
// working KVM. Under TCG, the last resort, a boot can take minutes on a
// busy host (docs/findings.md): its watchdog only catches a guest that
// never boots.
var (
	kvmBootLimit = 10 * time.Second
	tcgBootLimit = 10 * time.Minute
)

// kvmHangsFile records that stock kernels hang under this host's KVM, so
// later runs go straight to TCG.
func kvmHangsFile() string { return filepath.Join(cacheBase(), "kvm-hangs") }

var memoryRE = regexp.MustCompile(`^[1-9][0-9]*[MG]$`)

// Check validates every input of a run before anything is fetched or
// booted, naming what is wrong and what to do.
func (o *Options) Check() error {
	var errs []error
	if len(o.Argv) == 0 {
		errs = append(errs, errors.New("no command: give one after --, e.g. lvslab vm -- ipvsadm -Ln"))
	}
	if o.CPUs < 1 || o.CPUs > 64 {
		errs = append(errs, fmt.Errorf("--cpus %d: use 1 to 64", o.CPUs))
	}
	if !memoryRE.MatchString(o.Memory) {
		errs = append(errs, fmt.Errorf("--memory %q: give a size in M or G, like 2G or 1536M", o.Memory))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: give a positive duration, like 30m", o.Timeout))
	}
	switch o.Accel {
	case "", "auto", "kvm", "tcg":
	default:
		errs = append(errs, fmt.Errorf("--accel %q: use auto, kvm or tcg", o.Accel))
	}
	if o.ICount != "" {
		if o.Accel == "kvm" {
			errs = append(errs, errors.New("--icount needs TCG: leave out --accel kvm"))
		}
		if strings.ContainsAny(o.ICount, " \t\n") {
			errs = append(errs, fmt.Errorf("--icount %q: give QEMU's -icount options, like shift=2,sleep=off", o.ICount))
		}
	}
	if !filepath.IsAbs(o.Dir) {
		errs = append(errs, fmt.Errorf("working directory %q must be absolute", o.Dir))
	} else if len(o.Argv) > 0 {
		// The guest sees the host's files: a command missing here is
		// missing there.
		if _, err := lookPathIn("/", o.Argv[0], o.Dir, o.Env); err != nil {
			errs = append(errs, err)
		}
	}
	if o.OutDir != "" {
		if err := makeOutDir(o.OutDir); err != nil {
			errs = append(errs, err)
		}
	}
	if o.InitBinary != "" {
		if _, err := initFiles(o.InitBinary); err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkQEMU(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ErrTimeout is Run's error, wrapped with the limit, when the guest did not
// finish within Options.Timeout and QEMU was killed.
var ErrTimeout = errors.New("the guest did not finish in time")

// Run boots the kernel, runs the command and returns its exit status.
// QEMU is always reaped: on success, error, timeout (ErrTimeout) or ctx
// cancellation.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.InitBinary == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.InitBinary = self
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.Kernel == nil {
		return nil, errors.New("no kernel to boot")
	}
	qemu, _ := exec.LookPath(qemuBinary)
	work, err := os.MkdirTemp("", "lvslab-vm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	initrd := filepath.Join(work, "initramfs.cpio")
	f, err := os.Create(initrd)
	if err != nil {
		return nil, err
	}
	cfg := guestConfig{Argv: o.Argv, Dir: o.Dir, Env: o.Env, Release: o.Kernel.Release,
		ModulesDir: o.Kernel.Modules, OutDir: o.OutDir}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = writeInitramfs(bw, o.Kernel, cfg, o.InitBinary)
	if err == nil {
		err = bw.Flush()
	}
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}
	accels := []string{o.Accel}
	if o.Accel == "auto" || o.Accel == "" {
		accels = []string{"tcg"} // also the only one -icount runs under
		if o.ICount == "" && kvmUsable(o.Log) {
			accels = []string{"kvm", "tcg"}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	res, err := boot(ctx, qemu, accels, initrd, o)
	if o.OutDir != "" {
		// The guest can write the output folder: a link it made there
		// would send the host's next write (a report) anywhere.
		if lerr := refuseSymlinks(o.OutDir); lerr != nil {
			return res, errors.Join(err, lerr)
		}
	}
	return res, err
}

func boot(ctx context.Context, qemu string, accels []string, initrd string, o Options) (*Result, error) {
	for i, accel := range accels {
		limit := tcgBootLimit
		if accel == "kvm" {
			limit = kvmBootLimit
		}
		o.Log(fmt.Sprintf("booting %s (%s) under %s, %d CPUs, %s memory", o.Kernel.Name, o.Kernel.Release, accel, o.CPUs, o.Memory))
		res, err := runQEMU(ctx, qemu, accel, initrd, limit, o)
		var hung bootHang
		var early earlyExit
		switch {
		case errors.As(err, &hung) && i+1 < len(accels):
			o.Log(fmt.Sprintf("no sign of life under %s (watchdog %s): restarting under %s", accel, limit, accels[i+1]))
			// Only a guest that hung counts against KVM: a QEMU that
			// stopped at once says why, and the next run may differ.
			if accel == "kvm" {
				os.MkdirAll(filepath.Dir(kvmHangsFile()), 0o755)
				os.WriteFile(kvmHangsFile(), []byte(hostFingerprint()), 0o644)
			}
			continue
		case errors.As(err, &early) && i+1 < len(accels):
			o.Log(fmt.Sprintf("QEMU stopped under %s before the guest's first line (%s): restarting under %s", accel, early.tail, accels[i+1]))
			continue
		}
		if ctx.Err() == context.DeadlineExceeded {
			return res, fmt.Errorf("%w (%s): QEMU was killed (raise --timeout)", ErrTimeout, o.Timeout)
		}
		if ctx.Err() != nil {
			return res, errors.New("interrupted: QEMU was killed")
		}
		return res, err
	}
	return nil, errors.New("no accelerator left to try")
}

type bootHang struct{ tail string }

func (b bootHang) Error() string { return "the guest showed no sign of life: " + b.tail }

type earlyExit struct{ tail string }

func (e earlyExit) Error() string { return "QEMU stopped before the guest's first line: " + e.tail }

// qemuOpt escapes a value inside a QEMU option list (-virtfs a=b,c=d):
// QEMU reads ",," as a comma, and a lone comma would start another option.
func qemuOpt(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// guestCmdline is the guest kernel's command line. no_timer_check
// (Documentation/admin-guide/kernel-parameters.txt) skips the boot-time
// test of the timer interrupt: under TCG on a busy host the test's short
// wait missed the interrupt and the kernel panicked ("IO-APIC + timer
// doesn't work!") before the guest's first line.
const guestCmdline = "console=ttyS0,115200 quiet loglevel=3 panic=-1 oops=panic mitigations=off no_timer_check rdinit=/init"

func qemuArgs(accel, initrd string, o Options) []string {
	args := []string{
		"-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
		"-smp", strconv.Itoa(o.CPUs), "-m", o.Memory,
		"-kernel", o.Kernel.Image, "-initrd", initrd,
		"-append", guestCmdline,
		"-virtfs", "local,path=/,mount_tag=" + hostRootTag + ",security_model=none,readonly=on,multidevs=remap",
	}
	// -cpu max (or host) makes QEMU abort on some KVMs (an MSR it cannot
	// set); KVM keeps QEMU's default model.
	if accel == "kvm" {
		args = append(args, "-accel", "kvm")
	} else if o.ICount != "" {
		// icount runs every vCPU on one host thread.
		args = append(args, "-accel", "tcg,thread=single", "-cpu", "max", "-icount", o.ICount)
	} else {
		args = append(args, "-accel", "tcg,thread=multi", "-cpu", "max")
	}
	if o.OutDir != "" {
		args = append(args, "-virtfs", "local,path="+qemuOpt(o.OutDir)+",mount_tag="+outTag+",security_model=none,multidevs=remap")
	}
	if o.Started != nil {
		args = append(args, "-qmp", "unix:"+qmpSocket(initrd)+",server=on,wait=off")
	}
	return args
}

// qmpSocket is where QEMU listens for QMP, beside the run's initramfs.
func qmpSocket(initrd string) string { return filepath.Join(filepath.Dir(initrd), "qmp.sock") }

func runQEMU(ctx context.Context, qemu, accel, initrd string, bootLimit time.Duration, o Options) (*Result, error) {
	cmd := exec.Command(qemu, qemuArgs(accel, initrd, o)...)
	// Own process group: a terminal's Ctrl-C reaches lvslab, which then
	// kills QEMU; Pdeathsig kills it if lvslab itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start QEMU: %w", err)
	}
	res := &Result{ExitCode: -1, Accel: accel}
	if o.Started != nil {
		if err := o.Started(cmd.Process.Pid, qmpSocket(initrd)); err != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			return res, err
		}
	}
	booted := make(chan struct{})
	lines := make(chan struct{})
	var tail []string
	var death kernelDeath
	seen, done := false, false
	console := &lineSplitter{
		line: func(line string, shown int) {
			if !done && !strings.HasPrefix(line, markerPrefix) {
				death.read(line)
			}
			switch {
			case strings.HasPrefix(line, markerBooted):
				if !seen {
					seen = true
					res.Boot = time.Since(start)
					close(booted)
				}
				o.Log(strings.TrimPrefix(line, "lvslab-guest: ") + fmt.Sprintf(", first line after %.1fs", res.Boot.Seconds()))
			case strings.HasPrefix(line, markerExit):
				res.ExitCode, _ = strconv.Atoi(strings.TrimPrefix(line, markerExit))
				done = true // what follows is the kernel powering off
			case done:
			case strings.HasPrefix(line, markerError):
				o.Log("guest: " + strings.TrimPrefix(line, markerError))
			case seen:
				fmt.Fprintln(o.Console, line[shown:])
			default:
				tail = append(tail, line)
				if len(tail) > 20 {
					tail = tail[1:]
				}
			}
		},
		partial: func(text string) { fmt.Fprint(o.Console, text) },
		// Markers are read whole; before the guest's first line nothing
		// is shown.
		mayFlush: func(start []byte) bool {
			return seen && !done && !bytes.HasPrefix([]byte(markerPrefix), start) && !bytes.HasPrefix(start, []byte(markerPrefix))
		},
	}
	go func() {
		defer close(lines)
		pump(out, console)
	}()
	exited := make(chan error, 1)
	go func() {
		<-lines
		exited <- cmd.Wait()
	}()
	kill := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	watchdog := time.NewTimer(bootLimit)
	defer watchdog.Stop()
	for {
		select {
		case <-booted:
			booted = nil
			watchdog.Stop()
		case <-watchdog.C:
			kill()
			return res, bootHang{tail: lastLines(tail, stderr.String())}
		case <-ctx.Done():
			kill()
			return res, ctx.Err()
		case err := <-exited:
			res.Wall = time.Since(start)
			if booted != nil {
				return res, earlyExit{tail: lastLines(tail, stderr.String())}
			}
			if res.ExitCode < 0 {
				if err := death.err(); err != nil {
					return res, err
				}
				return res, fmt.Errorf("the guest stopped without an exit status (QEMU: %v): %s", err, lastLines(tail, stderr.String()))
			}
			return res, nil
		}
	}
}

func lastLines(tail []string, stderr string) string {
	s := strings.TrimSpace(strings.Join(tail, "\n") + "\n" + stderr)
	if s == "" {
		return "(no output)"
	}
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// kvmUsable reports whether KVM is worth a try: /dev/kvm opens and no
// earlier run on this host saw a guest hang under it.
func kvmUsable(log func(string)) bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	if data, err := os.ReadFile(kvmHangsFile()); err == nil && string(data) == hostFingerprint() {
		log("KVM skipped: a guest hung under this host's KVM before (" + kvmHangsFile() + "); using TCG")
		return false
	}
	return true
}

// hostFingerprint names the host kernel and QEMU, so a KVM verdict is
// dropped when either changes.
func hostFingerprint() string {
	ver, _ := exec.Command(qemuBinary, "--version").Output()
	return proc.KernelRelease() + " " + strings.SplitN(string(ver), "\n", 2)[0]
}

// guestEnvPrefixes are the host variables a guest command sees: they
// change how lvslab and its tests behave.
var guestEnvPrefixes = []string{"CI=", "TERM=", "LANG=", "LVSLAB_", "GINKGO_", "NO_COLOR="}

// GuestEnv is the environment a guest command gets: a plain PATH and the
// host's variables that change how lvslab and its tests behave. TERM is
// passed only when console (the host's side of the guest's console) is a
// terminal: the guest's console always is one, so a command there would
// draw progress bars into a CI log.
func GuestEnv(consoleIsTerminal bool) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin", "HOME=/root"}
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "TERM=") && !consoleIsTerminal {
			continue
		}
		for _, p := range guestEnvPrefixes {
			if strings.HasPrefix(e, p) {
				env = append(env, e)
			}
		}
	}
	return env
}
