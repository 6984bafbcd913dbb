//go:build linux

package proc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// A copy of this test binary started with PROC_TEST_CHILD set sleeps
// (or, with "exit", ends at once): a process whose identity is known.
func TestMain(m *testing.M) {
	switch os.Getenv("PROC_TEST_CHILD") {
	case "sleep":
		time.Sleep(time.Minute)
		os.Exit(0)
	case "exit":
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, what string, attr *syscall.SysProcAttr) *exec.Cmd {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "PROC_TEST_CHILD="+what, "PROC_TEST_MARK=one", "PROC_TEST_MARK=two")
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func TestIdentify(t *testing.T) {
	self, err := Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if want := filepath.Base(exe); self.Comm != want[:min(len(want), 15)] {
		t.Errorf("comm %q, want %q", self.Comm, want)
	}
	if self.Exe != exe {
		t.Errorf("executable %q, want %q", self.Exe, exe)
	}
	if self.StartTime == 0 || self.UID != os.Geteuid() || self.PID != os.Getpid() {
		t.Errorf("identity of this process: %+v", self)
	}
	c := child(t, "sleep", nil)
	other, err := Identify(c.Process.Pid)
	if err != nil || other.StartTime < self.StartTime {
		t.Errorf("a child started later: %+v %v, this one %+v", other, err, self)
	}
	if _, err := Identify(1 << 30); err == nil {
		t.Error("a pid that cannot exist was identified")
	}
}

func TestIdentifyRefusesAZombie(t *testing.T) {
	c := child(t, "exit", nil)
	for range 400 {
		_, err := Identify(c.Process.Pid)
		if errors.Is(err, ErrNotRunning) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Error("a child that ended, not yet reaped, still has an identity")
}

func TestEnviron(t *testing.T) {
	c := child(t, "sleep", nil)
	var env []string
	for range 200 { // until the kernel shows the new environment
		if env, _ = Environ(c.Process.Pid); len(env) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// os/exec keeps the last of duplicate keys.
	if !slices.Contains(env, "PROC_TEST_MARK=two") || slices.Contains(env, "PROC_TEST_MARK=one") {
		t.Errorf("the child's environment: %q", env)
	}
}

func TestGroupMembersAndThreads(t *testing.T) {
	c := child(t, "sleep", &syscall.SysProcAttr{Setpgid: true})
	if got := GroupMembers(c.Process.Pid); !slices.Equal(got, []int{c.Process.Pid}) {
		t.Errorf("members of the child's own group: %v", got)
	}
	tids, err := Threads(os.Getpid())
	if err != nil || !slices.Contains(tids, os.Getpid()) {
		t.Errorf("threads of this process: %v %v", tids, err)
	}
	d, err := ThreadCPUTime(os.Getpid(), os.Getpid())
	if err != nil || d <= 0 {
		t.Errorf("this thread's CPU time %s %v", d, err)
	}
}

func TestKernelRelease(t *testing.T) {
	if r := KernelRelease(); r == "" || r == "unknown" {
		t.Errorf("kernel release %q", r)
	}
}

func TestRuns(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(sleep, "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	for i := 0; !Runs(c.Process.Pid, sleep); i++ {
		if i == 200 {
			t.Fatal("the child never showed it runs sleep")
		}
		time.Sleep(5 * time.Millisecond)
	}
	self, _ := os.Executable()
	if Runs(c.Process.Pid, self) {
		t.Error("the child runs sleep, yet Runs says it runs this test binary")
	}
}
