//go:build linux

package proc

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// procFS is /proc, opened once: procfs checks it is a proc file system.
var procFS = sync.OnceValues(func() (procfs.FS, error) {
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		return fs, fmt.Errorf("open %s: %w", procfs.DefaultMountPoint, err)
	}
	return fs, nil
})

// ErrNotRunning is a process that has ended but is not yet reaped.
var ErrNotRunning = errors.New("not running (ended, not yet reaped)")

// Identity is what tells a process from a later one given the same pid.
type Identity struct {
	PID int
	// StartTime is when it started, in clock ticks since boot.
	StartTime uint64
	// Comm is its command name: the executable's, cut to 15 bytes. Right
	// after execve it may still be the starter's for a moment.
	Comm string
	// Exe is the path of its executable (for one since replaced, the path
	// it had). Unlike Comm it is the new program's as soon as execve
	// returns to the starter.
	Exe string
	// UID owns /proc/PID: the process's effective user (root for one
	// that made itself undumpable).
	UID int
}

// Identify reads the identity of a live process; one that has ended has
// none (ErrNotRunning), even before it is reaped.
func Identify(pid int) (Identity, error) {
	p, err := process(pid)
	if err != nil {
		return Identity{}, err
	}
	st, err := p.Stat()
	if err != nil {
		return Identity{}, err
	}
	if st.State == "Z" || st.State == "X" {
		return Identity{}, fmt.Errorf("process %d: %w", pid, ErrNotRunning)
	}
	exe, err := p.Executable()
	if err != nil {
		return Identity{}, fmt.Errorf("process %d: %w", pid, err)
	}
	fi, err := os.Stat(fmt.Sprintf("%s/%d", procfs.DefaultMountPoint, pid))
	if err != nil {
		return Identity{}, err
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Identity{}, fmt.Errorf("process %d: cannot read its owner", pid)
	}
	return Identity{PID: pid, StartTime: st.Starttime, Comm: st.Comm, Exe: strings.TrimSuffix(exe, " (deleted)"), UID: int(sys.Uid)}, nil
}

func process(pid int) (procfs.Proc, error) {
	fs, err := procFS()
	if err != nil {
		return procfs.Proc{}, err
	}
	return fs.Proc(pid)
}

func stat(pid int) (procfs.ProcStat, error) {
	p, err := process(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// Environ is the environment a process was started with ("KEY=value"
// entries, in order). It is empty for a process that has ended, and for a
// moment after execve: the kernel publishes the new one only after the
// process that started it has seen the exec succeed.
func Environ(pid int) ([]string, error) {
	p, err := process(pid)
	if err != nil {
		return nil, err
	}
	return p.Environ()
}

// Runs says whether a process runs the executable file at path: whether
// it has passed execve, rather than still showing its starter's.
func Runs(pid int, path string) bool {
	a, err1 := os.Stat(fmt.Sprintf("%s/%d/exe", procfs.DefaultMountPoint, pid))
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// PIDs lists the processes that exist now (zombies included).
func PIDs() ([]int, error) {
	fs, err := procFS()
	if err != nil {
		return nil, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := make([]int, len(procs))
	for i, p := range procs {
		out[i] = p.PID
	}
	return out, nil
}

// KernelThreads lists the kernel's threads: kthreadd (pid 2) and the
// processes it started.
func KernelThreads() ([]int, error) {
	fs, err := procFS()
	if err != nil {
		return nil, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int
	for _, p := range procs {
		if st, err := p.Stat(); err == nil && (p.PID == 2 || st.PPID == 2) {
			out = append(out, p.PID)
		}
	}
	return out, nil
}

// GroupMembers lists the live processes of a process group.
func GroupMembers(pgid int) []int {
	pids, _ := PIDs()
	var out []int
	for _, pid := range pids {
		st, err := stat(pid)
		if err == nil && st.PGRP == pgid && st.State != "Z" && st.State != "X" {
			out = append(out, pid)
		}
	}
	return out
}

// Threads lists the threads of a process, by thread id.
func Threads(pid int) ([]int, error) {
	fs, err := procFS()
	if err != nil {
		return nil, err
	}
	tasks, err := fs.AllThreads(pid)
	if err != nil {
		return nil, fmt.Errorf("list the threads of process %d: %w", pid, err)
	}
	out := make([]int, len(tasks))
	for i, t := range tasks {
		out[i] = t.PID
	}
	slices.Sort(out)
	return out, nil
}

// ThreadCPUTime is the CPU time a thread has used: the scheduler's own
// nanosecond count (schedstat), or the tick counts of its stat file where
// the kernel keeps no schedstat.
func ThreadCPUTime(pid, tid int) (time.Duration, error) {
	fs, err := procFS()
	if err != nil {
		return 0, err
	}
	t, err := fs.Thread(pid, tid)
	if err != nil {
		return 0, fmt.Errorf("read the CPU time of thread %d: %w", tid, err)
	}
	if s, err := t.Schedstat(); err == nil {
		return time.Duration(s.RunningNanoseconds), nil
	}
	st, err := t.Stat()
	if err != nil {
		return 0, fmt.Errorf("read the CPU time of thread %d: %w", tid, err)
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), nil
}

// KernelRelease is the running kernel's release (uname -r): what a lab is
// built on, recorded with every result.
func KernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
