//go:build linux

package keepalived

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/topology"
)

// Each keepalived runs with -n (no fork, so it is this process's child
// and can be reaped), -l -D (detailed log on its output, kept in the lab's
// state directory), -G (no syslog), -R (a child that dies is not respawned:
// a crash stays a crash) and pid files of its own, so that two labs never
// share /run/keepalived.pid and nothing is written under /run/keepalived.
// It is started in a session of its own: its process group is exactly its
// processes, which Crash stops and kills in one call each. It is marked as
// the lab's (topology.MarkCommand), and its forked children with it, so
// that removing the lab stops them.

// Daemon is one keepalived in one node of a lab, started from a
// configuration file: a pair's director, or an operator's own file.
type Daemon struct {
	Node *topology.Node
	// Lab names the lab its processes are recorded in; Role what they are
	// recorded as.
	Lab, Role string
	Files     DaemonFiles
	// Binary is the keepalived to run ("" for the one on PATH); ConfigID
	// its -i ("" for none); Env is added to its environment.
	Binary, ConfigID string
	Env              []string
	// NoVRRP and NoChecker say keepalived starts no such child: a file
	// with no vrrp_instance, or no virtual_server.
	NoVRRP, NoChecker bool

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	startedAt time.Time
	// down is set from the instant keepalived is signalled to stop or
	// crash until it starts again.
	down atomic.Bool
}

// DaemonFiles are a daemon's configuration, log and pid files.
type DaemonFiles struct {
	Conf, Log, PID, VRRPPID, CheckersPID string
}

// FilesIn are a daemon's files in a folder, named after prefix.
func FilesIn(dir, prefix string) DaemonFiles {
	f := func(suffix string) string { return filepath.Join(dir, prefix+suffix) }
	return DaemonFiles{Conf: f(".conf"), Log: f(".log"), PID: f(".pid"), VRRPPID: f("-vrrp.pid"), CheckersPID: f("-checkers.pid")}
}

func (k *Daemon) binary() string {
	if k.Binary != "" {
		return k.Binary
	}
	return "keepalived"
}

// Start starts keepalived (again, after Stop or Crash) and records its
// processes in the lab's state, so that removing the lab stops them even
// if this process dies. It returns once the VRRP and checker children
// run.
func (k *Daemon) Start() error {
	if err := k.spawn(); err != nil {
		return err
	}
	return k.awaitChildren()
}

// spawn starts keepalived and records its parent process.
func (k *Daemon) spawn() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd != nil {
		return fmt.Errorf("keepalived already runs in %s", k.Node.Name)
	}
	log, err := os.OpenFile(k.Files.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", k.Files.Log, err)
	}
	defer log.Close()
	for _, p := range []string{k.Files.PID, k.Files.VRRPPID, k.Files.CheckersPID} {
		os.Remove(p) // a crashed keepalived's, which would stop a new one
	}
	args := []string{"-n", "-l", "-D", "-G", "-R", "-f", k.Files.Conf, "-p", k.Files.PID, "-r", k.Files.VRRPPID, "-c", k.Files.CheckersPID}
	if k.ConfigID != "" {
		args = append(args, "-i", k.ConfigID)
	}
	cmd := exec.Command(k.binary(), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), k.Env...)
	topology.MarkCommand(cmd, k.Lab)
	// Forked from a thread inside the node's namespace: keepalived lives
	// there without entering it itself (its -s would also give it a mount
	// namespace and a directory under /run/keepalived).
	if err := k.Node.Do(cmd.Start); err != nil {
		return fmt.Errorf("start keepalived in %s: %w", k.Node.Name, err)
	}
	k.cmd, k.exited, k.startedAt = cmd, make(chan struct{}), time.Now()
	k.down.Store(false)
	exited := k.exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := topology.RecordCommand(k.Lab, cmd, k.Role); err != nil {
		cmd.Process.Kill()
		<-exited
		k.cmd = nil
		return err
	}
	return nil
}

// awaitChildren waits for keepalived's VRRP and checker children, which
// write their pid files once forked, and records them. A keepalived
// whose file has no VRRP instance or no virtual server starts only one.
func (k *Daemon) awaitChildren() error {
	k.mu.Lock()
	exited := k.exited
	k.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	var children []string
	if !k.NoVRRP {
		children = append(children, k.Files.VRRPPID)
	}
	if !k.NoChecker {
		children = append(children, k.Files.CheckersPID)
	}
	for _, p := range children {
		for {
			pid, err := readPID(p)
			if err == nil {
				topology.RecordProcess(k.Lab, pid, k.Role)
				break
			}
			select {
			case <-exited:
				return fmt.Errorf("keepalived exited at start in %s (see %s): %s", k.Node.Name, k.Files.Log, tail(k.Files.Log, 5))
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("keepalived in %s wrote no %s within 20s (see %s)", k.Node.Name, filepath.Base(p), k.Files.Log)
			}
		}
	}
	return nil
}

// StartedAt is when keepalived was last started.
func (k *Daemon) StartedAt() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.startedAt
}

// Running says whether keepalived runs.
func (k *Daemon) Running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cmd != nil
}

// Down says whether keepalived was told to stop or crash and has not
// started again.
func (k *Daemon) Down() bool { return k.down.Load() || !k.Running() }

// Stop stops keepalived gracefully (SIGTERM to its parent, which stops its
// children): a master sends a priority-0 advert and gives up its VIPs,
// and keepalived removes the virtual services it made. It waits for every
// process to end.
func (k *Daemon) Stop() error {
	return k.signalAndWait(func(cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }, 10*time.Second)
}

// Reload asks keepalived to read its configuration again (SIGHUP), as
// "systemctl reload keepalived" does, and returns the instant.
func (k *Daemon) Reload() (time.Time, error) {
	k.mu.Lock()
	cmd := k.cmd
	k.mu.Unlock()
	if cmd == nil {
		return time.Time{}, fmt.Errorf("reload keepalived in %s: it is not running", k.Node.Name)
	}
	at := time.Now()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return at, fmt.Errorf("reload keepalived in %s: %w", k.Node.Name, err)
	}
	return at, nil
}

// Crash makes keepalived die as a machine does: every process is stopped
// at once (SIGSTOP to the process group, so that no child can react), the
// node's links go down, then every process is killed. Killing only
// keepalived's parent would be a graceful stop: its children have
// PR_SET_PDEATHSIG and would send a priority-0 advert and remove the VIPs
// (keepalived's vrrp_daemon.c, check_daemon.c). A crashed node keeps its
// VIPs configured, as a hung machine would, but with its links down
// nothing reaches it. It returns the instant of the crash once the
// processes are gone.
func (k *Daemon) Crash() (time.Time, error) {
	k.mu.Lock()
	cmd := k.cmd
	k.mu.Unlock()
	if cmd == nil {
		return time.Time{}, fmt.Errorf("crash %s: keepalived is not running there", k.Node.Name)
	}
	pgid := cmd.Process.Pid
	k.down.Store(true)
	at := time.Now()
	if err := unix.Kill(-pgid, unix.SIGSTOP); err != nil {
		return at, fmt.Errorf("crash %s: stop keepalived's processes: %w", k.Node.Name, err)
	}
	if err := k.SetLinksUp(false); err != nil {
		return at, fmt.Errorf("crash %s: %w", k.Node.Name, err)
	}
	err := k.signalAndWait(func(*exec.Cmd) error { return unix.Kill(-pgid, unix.SIGKILL) }, 5*time.Second)
	return at, err
}

// SetLinksUp takes every link of the node down or up.
func (k *Daemon) SetLinksUp(up bool) error {
	for _, l := range k.Node.Links {
		if err := k.Node.SetLinkUp(l.Segment, up); err != nil {
			return err
		}
	}
	return nil
}

// signalAndWait sends a signal to keepalived and waits, up to timeout,
// for its whole process group to end.
func (k *Daemon) signalAndWait(send func(*exec.Cmd) error, timeout time.Duration) (err error) {
	k.mu.Lock()
	cmd, exited := k.cmd, k.exited
	k.mu.Unlock()
	if cmd == nil {
		return nil
	}
	k.down.Store(true)
	defer func() {
		<-exited
		k.mu.Lock()
		k.cmd = nil
		k.mu.Unlock()
	}()
	pgid := cmd.Process.Pid
	if err := send(cmd); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal keepalived in %s: %w", k.Node.Name, err)
	}
	deadline := time.Now().Add(timeout)
	for len(proc.GroupMembers(pgid)) > 0 {
		if time.Now().After(deadline) {
			unix.Kill(-pgid, unix.SIGKILL)
			return fmt.Errorf("keepalived in %s did not stop within %s: killed", k.Node.Name, timeout)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Log reads keepalived's log (its -l -D output).
func (k *Daemon) Log() string {
	data, _ := os.ReadFile(k.Files.Log)
	return string(data)
}

// readPID reads a pid file and checks the process lives.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s holds no pid yet", path)
	}
	return pid, unix.Kill(pid, 0)
}

// tail is the last n lines of a file, for an error message.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// StartAll starts keepalived in several nodes at once, as machines booted
// together would: every parent first, then it waits for their children.
func StartAll(daemons ...*Daemon) error {
	for _, k := range daemons {
		if err := k.spawn(); err != nil {
			return err
		}
	}
	for _, k := range daemons {
		if err := k.awaitChildren(); err != nil {
			return err
		}
	}
	return nil
}
