//go:build linux

package vm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Capping a vCPU: on a small host the VM's vCPUs are the lab's machines,
// and a host cgroup CPU quota on a vCPU's thread sets that machine's speed
// (the kernel's Documentation/scheduler/sched-bwc.rst). Version 1 of the
// cpu controller takes single threads in a cgroup's "tasks" file
// (cpu.cfs_period_us, cpu.cfs_quota_us); version 2 (cpu.max) only in a
// threaded subtree, so the whole QEMU process moves into a cgroup of its
// own with two threaded children, one holding the capped threads
// (Documentation/admin-guide/cgroup-v2.rst, "Threads"). Hand-written: the
// cgroup libraries manage whole processes, not threads of one.

// cgroupPeriod is the quota's accounting period, in microseconds: short,
// so that a capped vCPU is held back often and briefly rather than for
// most of a long period (a request stalled by a throttled director would
// otherwise wait up to the period); the kernel's minimum quota, 1 ms,
// then caps at no less than 0.05 of a CPU.
const cgroupPeriod = 20000

// cgroupPrefix starts the name of every cgroup lvslab makes, followed by
// QEMU's pid, so a leftover of a killed run can be told and removed.
const cgroupPrefix = "lvslab-vm-"

// ThreadQuota is a cgroup that caps some threads of a process.
type ThreadQuota struct {
	v2   bool
	root string // the hierarchy's mount point
	dir  string // the cgroup made for the process
	pid  int
	// origin is where a v2 process was before it moved, and threadOrigin
	// where each v1 thread was (relative to root).
	origin       string
	threadOrigin map[int]string
}

// threadCgroupFile is where the kernel says which cgroups a thread is in
// (a variable, so that tests can point it at a file of their own).
var threadCgroupFile = func(pid, tid int) string { return fmt.Sprintf("/proc/%d/task/%d/cgroup", pid, tid) }

// CPUHierarchy finds the host's cpu controller: a cgroup v2 mount that
// offers it, else the v1 hierarchy it is mounted with.
func CPUHierarchy() (root string, v2 bool, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false, fmt.Errorf("find the cpu cgroup controller: %w", err)
	}
	defer f.Close()
	return cpuHierarchy(f, func(dir string) bool {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		return err == nil && slices.Contains(strings.Fields(string(data)), "cpu")
	})
}

// cpuHierarchy reads a mountinfo table; offers says whether a v2 mount
// offers the cpu controller.
func cpuHierarchy(mountinfo io.Reader, offers func(dir string) bool) (string, bool, error) {
	var v1 string
	sc := bufio.NewScanner(mountinfo)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		pf, f := strings.Fields(pre), strings.Fields(post)
		if !ok || len(pf) < 5 || len(f) < 3 {
			continue
		}
		mount := pf[4]
		switch f[0] {
		case "cgroup2":
			if offers(mount) {
				return mount, true, nil
			}
		case "cgroup":
			if slices.Contains(strings.Split(f[2], ","), "cpu") && v1 == "" {
				v1 = mount
			}
		}
	}
	if v1 != "" {
		return v1, false, nil
	}
	return "", false, errors.New("this host has no cgroup cpu controller (neither a cgroup2 mount offering cpu nor a v1 cpu hierarchy): a vCPU cannot be capped here")
}

// CapThreads caps threads tids of process pid at cores host CPUs in all
// (0.25: a quarter of one CPU), in a cgroup of their own. Remove undoes it.
func CapThreads(pid int, tids []int, cores float64) (*ThreadQuota, error) {
	root, v2, err := CPUHierarchy()
	if err != nil {
		return nil, err
	}
	return capThreads(root, v2, pid, tids, cores)
}

func capThreads(root string, v2 bool, pid int, tids []int, cores float64) (q *ThreadQuota, err error) {
	if cores <= 0 || cores > 1024 || len(tids) == 0 {
		return nil, fmt.Errorf("cap %d threads at %g CPUs: give threads and a share above 0", len(tids), cores)
	}
	quota := max(1000, int(cores*cgroupPeriod))
	sweepCgroups(root, v2)
	q = &ThreadQuota{v2: v2, root: root, dir: filepath.Join(root, cgroupPrefix+strconv.Itoa(pid)), pid: pid}
	if err := os.Mkdir(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", q.dir, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, q.Remove())
		}
	}()
	if !v2 {
		// Each thread goes back where it was, not to the root: QEMU may
		// run in a cgroup of its own (a systemd unit, a CI job's).
		q.threadOrigin = map[int]string{}
		for _, tid := range tids {
			if q.threadOrigin[tid], err = cgroupV1Of(threadCgroupFile(pid, tid)); err != nil {
				return q, err
			}
		}
		if err := errors.Join(writeCgroup(q.dir, "cpu.cfs_period_us", strconv.Itoa(cgroupPeriod)),
			writeCgroup(q.dir, "cpu.cfs_quota_us", strconv.Itoa(quota))); err != nil {
			return q, err
		}
		for _, tid := range tids {
			if err := writeCgroup(q.dir, "tasks", strconv.Itoa(tid)); err != nil {
				return q, err
			}
		}
		return q, nil
	}
	if q.origin, err = cgroupV2Of(pid); err != nil {
		return q, err
	}
	if err := enableCPU(root); err != nil {
		return q, err
	}
	if err := writeCgroup(q.dir, "cgroup.subtree_control", "+cpu"); err != nil {
		return q, err
	}
	for _, child := range []string{"rest", "capped"} {
		dir := filepath.Join(q.dir, child)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return q, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if err := writeCgroup(dir, "cgroup.type", "threaded"); err != nil {
			return q, err
		}
	}
	if err := writeCgroup(filepath.Join(q.dir, "rest"), "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return q, err
	}
	capped := filepath.Join(q.dir, "capped")
	for _, tid := range tids {
		if err := writeCgroup(capped, "cgroup.threads", strconv.Itoa(tid)); err != nil {
			return q, err
		}
	}
	return q, writeCgroup(capped, "cpu.max", fmt.Sprintf("%d %d", quota, cgroupPeriod))
}

// Remove gives the threads back to where they were (if they still run)
// and deletes the cgroups made for them.
func (q *ThreadQuota) Remove() error {
	var errs []error
	if !q.v2 {
		for _, tid := range cgroupMembers(filepath.Join(q.dir, "tasks")) {
			// A leftover swept after a crash knows no origin: the root.
			origin := filepath.Join(q.root, q.threadOrigin[tid])
			if err := writeCgroup(origin, "tasks", strconv.Itoa(tid)); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, err)
			}
		}
	} else if q.origin != "" && len(cgroupMembers(filepath.Join(q.dir, "rest", "cgroup.threads"))) > 0 {
		// A threaded cgroup cannot list its processes, only its threads.
		if err := writeCgroup(filepath.Join(q.root, q.origin), "cgroup.procs", strconv.Itoa(q.pid)); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	for _, dir := range []string{filepath.Join(q.dir, "capped"), filepath.Join(q.dir, "rest"), q.dir} {
		if err := removeCgroup(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroup deletes a cgroup directory. A real cgroup's control files
// go with rmdir; a plain directory (as in tests) is emptied first.
func removeCgroup(dir string) error {
	err := syscall.Rmdir(dir)
	if errors.Is(err, syscall.ENOENT) || err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOTEMPTY) && !isCgroupFS(dir) {
		return os.RemoveAll(dir)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

func isCgroupFS(dir string) bool {
	var st syscall.Statfs_t
	const cgroupMagic, cgroup2Magic = 0x27e0eb, 0x63677270
	return syscall.Statfs(dir, &st) == nil && (st.Type == cgroupMagic || st.Type == cgroup2Magic)
}

// SweepCgroups removes what killed runs left: lvslab's cgroups whose QEMU
// is gone (lvslab down --all). It returns the cgroups it removed.
func SweepCgroups() ([]string, error) {
	root, v2, err := CPUHierarchy()
	if err != nil {
		return nil, nil // no cpu controller: no cap was ever made here
	}
	return sweepCgroups(root, v2)
}

// sweepCgroups removes cgroups of lvslab's prefix whose QEMU is gone.
func sweepCgroups(root string, v2 bool) ([]string, error) {
	entries, _ := os.ReadDir(root)
	var removed []string
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), cgroupPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) || err != nil {
			continue
		}
		if qemuRuns(pid) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if err := (&ThreadQuota{v2: v2, root: root, dir: dir, pid: pid}).Remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// qemuRuns reports whether pid is a running QEMU (a pid a dead QEMU left
// may have gone to another program since).
func qemuRuns(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.HasPrefix(string(comm), "qemu")
}

// enableCPU makes the cpu controller available to the root's children (a
// systemd host has it on already).
func enableCPU(root string) error {
	data, err := os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))
	if err == nil && slices.Contains(strings.Fields(string(data)), "cpu") {
		return nil
	}
	return writeCgroup(root, "cgroup.subtree_control", "+cpu")
}

// cgroupV1Of is the cpu controller's cgroup in a thread's cgroup file
// ("4:cpu,cpuacct:/path"), or the root when it names none.
func cgroupV1Of(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the cgroup of a thread to cap: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") {
			return f[2], nil
		}
	}
	return "/", nil
}

// cgroupV2Of is a process's cgroup in the v2 hierarchy ("0::/path").
func cgroupV2Of(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("read the cgroup of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path, nil
		}
	}
	return "", fmt.Errorf("process %d is in no cgroup v2", pid)
}

func cgroupMembers(file string) []int {
	data, _ := os.ReadFile(file)
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func writeCgroup(dir, file, value string) error {
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}
