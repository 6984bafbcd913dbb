//go:build linux

package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/internal/proc"
)

// A process that serves a lab (a supervisor, a keepalived) is started
// marked with the lab's name in its environment (MarkCommand), which
// whatever it forks or runs inherits; what starts it then records it
// (RecordCommand, RecordProcess). Remove stops every process that carries the mark and
// runs as this user, and of a recorded one only if it is still the
// process recorded (start time, executable): a reused pid is never
// killed. The mark also finds a process whose starter was killed before
// it could record it. This package knows no command line.

// labEnv is the environment variable that marks a process as a lab's.
const labEnv = "LVSLAB_LAB"

// MarkCommand marks a command, before it starts, as serving the lab, so
// that removing the lab stops it and everything it starts.
func MarkCommand(cmd *exec.Cmd, lab string) {
	cmd.Env = append(cmd.Environ(), labEnv+"="+lab)
}

// Process is a process recorded as serving a lab: what identified it
// when it was recorded.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	Exe       string `json:"exe"`
	// Role is the recorder's own name for it ("supervisor", …).
	Role string `json:"role"`
}

// RecordProcess notes a process that serves the lab, so that Remove can
// stop it even after the process that started it died: this process, or
// one it forked. The process must carry the lab's mark (MarkCommand).
func RecordProcess(lab string, pid int, role string) error {
	return record(lab, pid, "", role)
}

// RecordCommand is RecordProcess for a command MarkCommand marked and
// that has just started.
func RecordCommand(lab string, cmd *exec.Cmd, role string) error {
	if cmd.Process == nil {
		return fmt.Errorf("record %s for lab %s: it has not started", cmd.Path, lab)
	}
	return record(lab, cmd.Process.Pid, cmd.Path, role)
}

// record records pid once it runs program ("": whatever it runs now).
func record(lab string, pid int, program, role string) error {
	if err := CheckLabName(lab); err != nil {
		return err
	}
	if err := checkOwned(stateDir(lab), true); err != nil {
		return fmt.Errorf("record process %d of lab %s: %w", pid, lab, err)
	}
	id, err := awaitExec(pid, program)
	if err != nil {
		return fmt.Errorf("record process %d of lab %s: %w", pid, lab, err)
	}
	if !serves(id, lab) {
		return fmt.Errorf("record process %d of lab %s: it was not started marked as the lab's (topology.MarkCommand) or runs as another user, so lvslab down could not stop it", pid, lab)
	}
	return writeJSON(StateFile(lab, "process-"+strconv.Itoa(pid)+".json"), Process{PID: pid, StartTime: id.StartTime, Exe: id.Exe, Role: role})
}

// awaitExec identifies a process once the kernel shows it running
// program ("": whatever it runs) with its environment. cmd.Start can
// return while the child still shows its starter's executable and
// environment, then none, for a moment (seen in a VM under TCG); the
// checks go in the order execve changes them.
func awaitExec(pid int, program string) (proc.Identity, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if program == "" || proc.Runs(pid, program) {
			if env, _ := proc.Environ(pid); len(env) > 0 {
				return proc.Identify(pid)
			}
		}
		if time.Now().After(deadline) {
			return proc.Identify(pid)
		}
		if _, err := proc.Identify(pid); err != nil {
			return proc.Identity{}, err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Processes lists the live processes recorded for a lab: those whose
// record lvslab wrote and that still are the process recorded and the
// lab's.
func Processes(lab string) []Process {
	if CheckLabName(lab) != nil {
		return nil
	}
	files, _ := filepath.Glob(StateFile(lab, "process-*.json"))
	var out []Process
	for _, f := range files {
		if checkOwned(f, false) != nil {
			continue
		}
		data, err := os.ReadFile(f)
		var p Process
		if err == nil && json.Unmarshal(data, &p) == nil && p.PID > 1 && p.belongsTo(lab) {
			out = append(out, p)
		}
	}
	return out
}

// markOf is the lab an environment marks its process for, as the
// process's own getenv would read it (the first entry).
func markOf(env []string) (lab string, ok bool) {
	for _, e := range env {
		if v, found := strings.CutPrefix(e, labEnv+"="); found {
			return v, true
		}
	}
	return "", false
}

// serves says whether a live process carries the lab's mark and runs as
// this user (a mark is only an environment variable: anyone can set it).
func serves(id proc.Identity, lab string) bool {
	env, _ := proc.Environ(id.PID)
	mark, ok := markOf(env)
	return ok && mark == lab && id.UID == os.Geteuid()
}

// belongsTo says whether the process is alive, the same process (start
// time, and executable unless found unrecorded: one caught in execve
// changes it), and still the lab's.
func (p Process) belongsTo(lab string) bool {
	id, err := proc.Identify(p.PID)
	return err == nil && id.StartTime == p.StartTime && (p.Exe == "" || id.Exe == p.Exe) && serves(id, lab)
}

// labProcesses finds the live processes of a lab: those recorded, and
// any other that carries its mark (started by a command killed before it
// could record it, or forked by a recorded one).
func labProcesses(lab string) []Process {
	out := Processes(lab)
	pids, _ := proc.PIDs()
	for _, pid := range pids {
		if pid == os.Getpid() || slices.ContainsFunc(out, func(q Process) bool { return q.PID == pid }) {
			continue
		}
		if env, _ := proc.Environ(pid); !slices.Contains(env, labEnv+"="+lab) {
			continue // serves checks the first entry; this only sifts
		}
		if id, err := proc.Identify(pid); err == nil && serves(id, lab) {
			out = append(out, Process{PID: pid, StartTime: id.StartTime, Role: "unrecorded " + id.Comm})
		}
	}
	return out
}

// stopProcess kills a lab's process and waits for it to end. Through a
// pidfd, where the kernel has them, the process checked is the process
// signalled even if its pid is reused meanwhile.
func stopProcess(p Process, lab string) error {
	fd, err := unix.PidfdOpen(p.PID, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil
	case err != nil:
		fd = -1 // no pidfds on this kernel: the checks below, then kill(2)
	default:
		defer unix.Close(fd)
	}
	if !p.belongsTo(lab) {
		return nil // gone, or the pid is another process's now
	}
	if fd >= 0 {
		err = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	} else {
		err = unix.Kill(p.PID, unix.SIGKILL)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	for range 400 {
		if fd >= 0 {
			// A pidfd becomes readable when its process ends.
			if n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5); n > 0 {
				reap(p.PID)
				return nil
			}
		} else {
			if _, err := proc.Identify(p.PID); err != nil {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		reap(p.PID)
	}
	return errors.New("still running 2s after SIGKILL")
}

// reap collects a child of ours, which stays a zombie until it is.
func reap(pid int) {
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, unix.WNOHANG, nil)
}
