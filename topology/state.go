package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StateRoot holds one directory per lab: what it created and which
// processes serve it. Only what is recorded here is ever swept.
var StateRoot = "/run/lvslab"

// netnsRoot is where "ip netns" looks for named namespaces.
const netnsRoot = "/run/netns"

// State is what a lab records about itself before it creates anything.
type State struct {
	Lab        string    `json:"lab"`
	Created    time.Time `json:"created"`
	Namespaces []string  `json:"namespaces"`
	Spec       *Spec     `json:"spec"`
}

// Process is a process that belongs to a lab (the supervisor of a lab
// brought up by "lvslab up"). The start time guards against killing an
// unrelated process that reused the pid.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	Role      string `json:"role"`
}

func stateDir(lab string) string { return filepath.Join(StateRoot, lab) }

// claimState creates the lab's state directory, failing if the name is in
// use, and records the namespaces about to be created.
func claimState(st *State) error {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return fmt.Errorf("create state root %s: %w", StateRoot, err)
	}
	dir := stateDir(st.Lab)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("lab %q already exists (state in %s): pick another --name, or remove it with: lvslab down --name %s",
				st.Lab, dir, st.Lab)
		}
		return fmt.Errorf("create state directory: %w", err)
	}
	return writeJSON(filepath.Join(dir, "state.json"), st)
}

// ReadState reads a lab's state.
func ReadState(lab string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(stateDir(lab), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no lab named %q is up (see lvslab status): %w", lab, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read state of lab %s: %w", lab, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state of lab %s is corrupt (%v): remove it with lvslab down --name %s", lab, err, lab)
	}
	return &st, nil
}

// Labs lists the labs recorded in the state root.
func Labs() ([]string, error) {
	entries, err := os.ReadDir(StateRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// StateFile returns the path of a file in the lab's state directory, for
// the harness to keep its own records (sockets, logs) beside the lab's.
func StateFile(lab, name string) string { return filepath.Join(stateDir(lab), name) }

// RecordProcess notes a process that serves the lab, so that Remove can
// stop it even after the process that started it died.
func RecordProcess(lab string, pid int, role string) error {
	start, err := processStart(pid)
	if err != nil {
		return fmt.Errorf("record process %d of lab %s: %w", pid, lab, err)
	}
	return writeJSON(StateFile(lab, "process-"+strconv.Itoa(pid)+".json"), Process{PID: pid, StartTime: start, Role: role})
}

// Processes lists the live processes recorded for a lab.
func Processes(lab string) []Process {
	files, _ := filepath.Glob(StateFile(lab, "process-*.json"))
	var out []Process
	for _, f := range files {
		data, err := os.ReadFile(f)
		var p Process
		if err != nil || json.Unmarshal(data, &p) != nil {
			continue
		}
		if start, err := processStart(p.PID); err == nil && start == p.StartTime {
			out = append(out, p)
		}
	}
	return out
}

// Remove stops a lab's recorded processes, deletes its namespaces and its
// state directory. It is what "lvslab down" does and is safe to repeat.
func Remove(lab string) error {
	dir := stateDir(lab)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no lab named %q is up (see lvslab status)", lab)
	}
	var errs []error
	for _, p := range Processes(lab) {
		if err := killAndWait(p.PID); err != nil {
			errs = append(errs, fmt.Errorf("stop %s (pid %d) of lab %s: %w", p.Role, p.PID, lab, err))
		}
	}
	st, err := ReadState(lab)
	switch {
	case err == nil:
		for _, ns := range st.Namespaces {
			if err := deleteNamespace(ns); err != nil {
				errs = append(errs, err)
			}
		}
	case errors.Is(err, os.ErrNotExist):
		// Killed between making the directory and recording the state:
		// the state is written before anything is created, so nothing was.
	default:
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state of lab %s: %w", lab, err)
	}
	return nil
}

// Sweep removes every lab recorded in the state root whose name match
// accepts (every lab when match is nil): what a crashed run left behind.
// It touches nothing that is not recorded there.
func Sweep(match func(lab string) bool) ([]string, error) {
	all, err := Labs()
	if err != nil {
		return nil, err
	}
	var labs []string
	var errs []error
	for _, lab := range all {
		if match != nil && !match(lab) {
			continue
		}
		labs = append(labs, lab)
		if err := Remove(lab); err != nil {
			errs = append(errs, err)
		}
	}
	return labs, errors.Join(errs...)
}

func deleteNamespace(name string) error {
	path := filepath.Join(netnsRoot, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace %s: %w", path, err)
	}
	return nil
}

func killAndWait(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	for range 200 {
		if _, err := processStart(pid); err != nil {
			return nil
		}
		// A child of ours stays a zombie until reaped.
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("still running 1s after SIGKILL")
}

// processStart reads the start time (in clock ticks since boot) of a live,
// non-zombie process.
func processStart(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces, start after ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 || fields[0] == "Z" {
		return 0, errors.New("not running")
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
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
