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
	// Comm is its command name: the executable's, cut to 15 bytes.
	Comm string
	// UID owns /proc/PID: the process's effective user (root for one
	// that made itself undumpable).
	UID int
}

// Identify reads the identity of a live process; one that has ended has
// none (ErrNotRunning), even before it is reaped.
func Identify(pid int) (Identity, error) {
	st, err := stat(pid)
	if err != nil {
		return Identity{}, err
	}
	if st.State == "Z" || st.State == "X" {
		return Identity{}, fmt.Errorf("process %d: %w", pid, ErrNotRunning)
	}
	fi, err := os.Stat(fmt.Sprintf("%s/%d", procfs.DefaultMountPoint, pid))
	if err != nil {
		return Identity{}, err
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Identity{}, fmt.Errorf("process %d: cannot read its owner", pid)
	}
	return Identity{PID: pid, StartTime: st.Starttime, Comm: st.Comm, UID: int(sys.Uid)}, nil
}

func stat(pid int) (procfs.ProcStat, error) {
	fs, err := procFS()
	if err != nil {
		return procfs.ProcStat{}, err
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// Getenv is the value of key in the environment a process was started
// with, as its own getenv would find it (the first entry); ok is false
// when it has none, has ended, or cannot be read.
func Getenv(pid int, key string) (value string, ok bool) {
	fs, err := procFS()
	if err != nil {
		return "", false
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return "", false
	}
	env, err := p.Environ()
	if err != nil {
		return "", false
	}
	for _, e := range env {
		if v, found := strings.CutPrefix(e, key+"="); found {
			return v, true
		}
	}
	return "", false
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
