//go:build linux

package keepalived

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/topology"
)

// Each keepalived runs with -n (no fork, so it is this process's child
// and can be reaped), -l -D (detailed log on its output, kept in the lab's
// state directory), -G (no syslog), -R (a child that dies is not respawned:
// a crash stays a crash) and pid files in the lab's state directory, so
// that two labs never share /run/keepalived.pid and nothing is written
// under /run/keepalived. It is started in a session of its own: its
// process group is exactly its processes, which Crash stops and kills in
// one call each. It is marked as the lab's (topology.MarkCommand), and its
// forked children with it, so that removing the lab stops them.

// directorFiles are one director's files in the lab's state directory.
type directorFiles struct {
	Conf, Log, PID, VRRPPID, CheckersPID, VRRPFifo, LVSFifo string
}

func filesOf(lab, director string) directorFiles {
	f := func(suffix string) string { return topology.StateFile(lab, "keepalived-"+director+suffix) }
	return directorFiles{Conf: f(".conf"), Log: f(".log"), PID: f(".pid"), VRRPPID: f("-vrrp.pid"),
		CheckersPID: f("-checkers.pid"), VRRPFifo: f("-vrrp.fifo"), LVSFifo: f("-lvs.fifo")}
}

// processRole begins the role each keepalived process is recorded with,
// followed by its director's name.
const processRole = "keepalived "

func (d *Director) writeConfig() error {
	conf, err := GenerateConfig(d.pair.Lab.Spec, d.Name(), d.pair.Options)
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.files.Conf, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", d.files.Conf, err)
	}
	return nil
}

// checkedConfigs are configurations keepalived -t accepted, by content:
// a configuration is checked once per process (each check forks keepalived).
var checkedConfigs sync.Map

// checkConfig has keepalived read the configuration (-t) inside the
// director, where its links exist, so that a mistake is named before
// anything runs.
func (d *Director) checkConfig() error {
	conf, err := os.ReadFile(d.files.Conf)
	if err != nil {
		return err
	}
	if _, ok := checkedConfigs.Load(string(conf)); ok {
		return nil
	}
	cmd := exec.Command("keepalived", "-t", "-f", d.files.Conf)
	var out []byte
	err = d.Node.Do(func() (err error) {
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Errorf("keepalived rejects %s (%v): %s", d.files.Conf, err, strings.TrimSpace(string(out)))
	}
	checkedConfigs.Store(string(conf), true)
	return nil
}

// Start starts keepalived in the director (again, after Stop or Crash)
// and records its processes in the lab's state, so that removing the lab
// stops them even if this process dies.
func (d *Director) Start() error {
	if err := d.spawn(); err != nil {
		return err
	}
	return d.awaitChildren()
}

// spawn starts keepalived and records its parent process.
func (d *Director) spawn() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return fmt.Errorf("keepalived already runs in %s", d.Name())
	}
	log, err := os.OpenFile(d.files.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", d.files.Log, err)
	}
	defer log.Close()
	for _, p := range []string{d.files.PID, d.files.VRRPPID, d.files.CheckersPID} {
		os.Remove(p) // a crashed keepalived's, which would stop a new one
	}
	lab := d.pair.Lab.Spec.Name
	cmd := exec.Command("keepalived", "-n", "-l", "-D", "-G", "-R", "-f", d.files.Conf,
		"-p", d.files.PID, "-r", d.files.VRRPPID, "-c", d.files.CheckersPID)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	topology.MarkCommand(cmd, lab)
	// Forked from a thread inside the director's namespace: keepalived
	// lives there without entering it itself (its -s would also give it a
	// mount namespace and a directory under /run/keepalived).
	if err := d.Node.Do(cmd.Start); err != nil {
		return fmt.Errorf("start keepalived in %s: %w", d.Name(), err)
	}
	d.cmd, d.exited, d.startedAt = cmd, make(chan struct{}), time.Now()
	d.down.Store(false)
	exited := d.exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := topology.RecordCommand(lab, cmd, processRole+d.Name()); err != nil {
		cmd.Process.Kill()
		<-exited
		d.cmd = nil
		return err
	}
	return nil
}

// awaitChildren waits for keepalived's VRRP and checker children, which
// write their pid files once forked, and records them.
func (d *Director) awaitChildren() error {
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range []string{d.files.VRRPPID, d.files.CheckersPID} {
		for {
			pid, err := readPID(p)
			if err == nil {
				topology.RecordProcess(d.pair.Lab.Spec.Name, pid, processRole+d.Name())
				break
			}
			select {
			case <-exited:
				return fmt.Errorf("keepalived exited at start in %s (see %s): %s", d.Name(), d.files.Log, tail(d.files.Log, 5))
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("keepalived in %s wrote no %s within 20s (see %s)", d.Name(), filepath.Base(p), d.files.Log)
			}
		}
	}
	return nil
}

// StartedAt is when keepalived was last started in the director.
func (d *Director) StartedAt() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.startedAt
}

// Live says whether the director runs keepalived with its front link up:
// a director that could answer for the VIP.
func (d *Director) Live() bool {
	if d.down.Load() || !d.Running() {
		return false
	}
	l, err := d.Node.Netlink().LinkByName(d.pair.Lab.Spec.FrontSegment())
	return err == nil && l.Attrs().Flags&net.FlagUp != 0
}

// Running says whether keepalived runs in the director.
func (d *Director) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd != nil
}

// Stop stops keepalived gracefully (SIGTERM to its parent, which stops its
// children): the master sends a priority-0 advert and gives up the VIP,
// and keepalived removes the virtual service it made. It waits for every
// keepalived process of the director to end.
func (d *Director) Stop() error {
	return d.signalAndWait(func(cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }, 10*time.Second)
}

// signalAndWait sends a signal to the director's keepalived and waits,
// up to timeout, for its whole process group to end.
func (d *Director) signalAndWait(send func(*exec.Cmd) error, timeout time.Duration) (err error) {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	d.down.Store(true)
	defer func() {
		<-exited
		d.mu.Lock()
		d.cmd = nil
		d.mu.Unlock()
	}()
	pgid := cmd.Process.Pid
	if err := send(cmd); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal keepalived in %s: %w", d.Name(), err)
	}
	deadline := time.Now().Add(timeout)
	for len(proc.GroupMembers(pgid)) > 0 {
		if time.Now().After(deadline) {
			unix.Kill(-pgid, unix.SIGKILL)
			return fmt.Errorf("keepalived in %s did not stop within %s: killed", d.Name(), timeout)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Log reads the director's keepalived log (its -l -D output).
func (d *Director) Log() string {
	data, _ := os.ReadFile(d.files.Log)
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
