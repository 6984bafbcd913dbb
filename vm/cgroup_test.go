//go:build linux

package vm

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const hybridMounts = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

func TestCPUHierarchy(t *testing.T) {
	none := func(string) bool { return false }
	root, v2, err := cpuHierarchy(strings.NewReader(hybridMounts), none)
	if err != nil || v2 || root != "/sys/fs/cgroup/cpu" {
		t.Errorf("hybrid host without cpu in v2: %s v2=%v %v", root, v2, err)
	}
	unified := `29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	root, v2, err = cpuHierarchy(strings.NewReader(unified), func(d string) bool { return d == "/sys/fs/cgroup" })
	if err != nil || !v2 || root != "/sys/fs/cgroup" {
		t.Errorf("unified host: %s v2=%v %v", root, v2, err)
	}
	joint := `32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
`
	if root, _, _ := cpuHierarchy(strings.NewReader(joint), none); root != "/sys/fs/cgroup/cpu,cpuacct" {
		t.Errorf("cpu,cpuacct: %s", root)
	}
	if _, _, err := cpuHierarchy(strings.NewReader("41 31 0:38 / /x rw - cgroup2 cgroup2 rw\n"), none); err == nil || !strings.Contains(err.Error(), "cannot be capped") {
		t.Errorf("no controller: %v", err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The cgroup files are plain files here: what matters is what is written where.
func TestCapThreadsV1(t *testing.T) {
	root := t.TempDir()
	pid := os.Getpid()
	q, err := capThreads(root, false, pid, []int{4242}, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "lvslab-vm-"+strconv.Itoa(pid))
	if got := read(t, filepath.Join(dir, "cpu.cfs_quota_us")); got != "5000" {
		t.Errorf("quota %s, want 5000 (a quarter of 20000)", got)
	}
	if got := read(t, filepath.Join(dir, "tasks")); got != "4242" {
		t.Errorf("tasks %s", got)
	}
	if err := q.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the cgroup is still there: %v", err)
	}
	if got := read(t, filepath.Join(root, "tasks")); got != "4242" {
		t.Errorf("the thread did not go back to the root: %q", got)
	}
}

func TestCapThreadsV2(t *testing.T) {
	root := t.TempDir()
	pid := os.Getpid()
	if _, err := cgroupV2Of(pid); err != nil {
		t.Skip("this process is in no cgroup v2:", err)
	}
	q, err := capThreads(root, true, pid, []int{4242}, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "lvslab-vm-"+strconv.Itoa(pid))
	for file, want := range map[string]string{
		"cgroup.subtree_control":    "+cpu",
		"rest/cgroup.type":          "threaded",
		"capped/cgroup.type":        "threaded",
		"rest/cgroup.procs":         strconv.Itoa(pid),
		"capped/cgroup.threads":     "4242",
		"capped/cpu.max":            "30000 20000",
		"../cgroup.subtree_control": "+cpu",
	} {
		if got := read(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// The kernel lists a threaded cgroup's threads: the process goes back where it was.
	os.WriteFile(filepath.Join(dir, "rest", "cgroup.threads"), []byte(strconv.Itoa(pid)), 0o644)
	origin, _ := cgroupV2Of(pid)
	os.MkdirAll(filepath.Join(root, origin), 0o755)
	if err := q.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the cgroup is still there: %v", err)
	}
	if got := read(t, filepath.Join(root, origin, "cgroup.procs")); got != strconv.Itoa(pid) {
		t.Errorf("the process did not go back to %s: %q", origin, got)
	}
}

func TestCapThreadsSweepsLeftovers(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, "lvslab-vm-999999999")
	os.Mkdir(stale, 0o755)
	other := filepath.Join(root, "someone-else")
	os.Mkdir(other, 0o755)
	q, err := capThreads(root, false, os.Getpid(), []int{1}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Remove()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a dead QEMU's cgroup was left")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("a cgroup lvslab did not make was removed")
	}
	if _, err := capThreads(root, false, 1, nil, 0.5); err == nil {
		t.Error("no threads accepted")
	}
}

// A monitor that greets, interleaves an event and answers as QEMU 7.2 does.
func TestVCPUThreads(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprintln(c, `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}`)
		r.ReadString('\n')
		fmt.Fprintln(c, `{"return": {}}`)
		r.ReadString('\n')
		fmt.Fprintln(c, `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}`)
		fmt.Fprintln(c, `{"return": [{"thread-id": 101, "props": {"core-id": 0}, "cpu-index": 0, "target": "x86_64"}, {"thread-id": 102, "cpu-index": 1}]}`)
	}()
	got, err := VCPUThreads(sock, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 101 || got[1] != 102 || len(got) != 2 {
		t.Errorf("threads %v", got)
	}
	if _, err := VCPUThreads(filepath.Join(t.TempDir(), "none"), 100*time.Millisecond); err == nil {
		t.Error("a missing monitor answered")
	}
}
