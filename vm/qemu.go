package vm

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// Options is one run of a command inside a VM.
type Options struct {
	Kernel  *Kernel
	CPUs    int
	Memory  string // as QEMU takes it: 2G, 1024M
	Timeout time.Duration
	// Accel is auto (KVM if the guest boots under it, else TCG), kvm or tcg.
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
// working KVM; under TCG booting takes a few seconds on a quiet machine.
var (
	kvmBootLimit = 10 * time.Second
	tcgBootLimit = 120 * time.Second
)

// kvmHangs records that stock kernels hang under this host's KVM, so
// later runs go straight to TCG.
func kvmHangsFile() string { return filepath.Join(filepath.Dir(CacheRoot), "kvm-hangs") }

// Run boots the kernel, runs the command and returns its exit status.
// QEMU is always reaped: on success, error, timeout or ctx cancellation.
func Run(ctx context.Context, o Options) (*Result, error) {
	if len(o.Argv) == 0 {
		return nil, errors.New("no command to run in the VM")
	}
	if o.InitBinary == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.InitBinary = self
	}
	if err := checkStatic(o.InitBinary); err != nil {
		return nil, err
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, errors.New("qemu-system-x86_64 is not installed: apt-get install qemu-system-x86 (make deps does it)")
	}
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
		BootModules: BootModules, Modules: SuiteModules, OutDir: o.OutDir}
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
		accels = []string{"tcg"}
		if kvmUsable(o.Log) {
			accels = []string{"kvm", "tcg"}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	for i, accel := range accels {
		limit := tcgBootLimit
		if accel == "kvm" {
			limit = kvmBootLimit
		}
		o.Log(fmt.Sprintf("booting %s (%s) under %s, %d CPUs, %s memory", o.Kernel.Name, o.Kernel.Release, accel, o.CPUs, o.Memory))
		res, err := runQEMU(ctx, qemu, accel, initrd, limit, o)
		var hung bootHang
		if errors.As(err, &hung) && i+1 < len(accels) {
			o.Log(fmt.Sprintf("no sign of life under %s (watchdog %s): restarting under %s", accel, limit, accels[i+1]))
			if accel == "kvm" {
				os.MkdirAll(filepath.Dir(kvmHangsFile()), 0o755)
				os.WriteFile(kvmHangsFile(), []byte(hostFingerprint()), 0o644)
			}
			continue
		}
		if ctx.Err() == context.DeadlineExceeded {
			return res, fmt.Errorf("the guest did not finish within %s: QEMU was killed (raise --timeout)", o.Timeout)
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

func runQEMU(ctx context.Context, qemu, accel, initrd string, bootLimit time.Duration, o Options) (*Result, error) {
	args := []string{
		"-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
		"-smp", strconv.Itoa(o.CPUs), "-m", o.Memory,
		"-kernel", o.Kernel.Image, "-initrd", initrd,
		"-append", "console=ttyS0,115200 quiet loglevel=3 panic=-1 oops=panic mitigations=off rdinit=/init",
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
		args = append(args, "-virtfs", "local,path="+o.OutDir+",mount_tag="+outTag+",security_model=none,multidevs=remap")
	}
	qmpSocket := filepath.Join(filepath.Dir(initrd), "qmp.sock")
	if o.Started != nil {
		args = append(args, "-qmp", "unix:"+qmpSocket+",server=on,wait=off")
	}
	cmd := exec.Command(qemu, args...)
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
		if err := o.Started(cmd.Process.Pid, qmpSocket); err != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			return res, err
		}
	}
	booted := make(chan struct{})
	lines := make(chan struct{})
	var tail []string
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		seen, done := false, false
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
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
				fmt.Fprintln(o.Console, line)
			default:
				tail = append(tail, line)
				if len(tail) > 20 {
					tail = tail[1:]
				}
			}
		}
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
				// QEMU died before the guest's first line: as good as a hang.
				return res, bootHang{tail: lastLines(tail, stderr.String())}
			}
			if res.ExitCode < 0 {
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
	ver, _ := exec.Command("qemu-system-x86_64", "--version").Output()
	return topology.KernelRelease() + " " + strings.SplitN(string(ver), "\n", 2)[0]
}

// checkStatic makes sure the init binary runs without a dynamic loader,
// since the initramfs has none.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, but it must run as the VM's init: build it with CGO_ENABLED=0 (make build does)", path)
		}
	}
	return nil
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
