//go:build linux

package topology

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/internal/proc"
)

func TestRemoveKillsOnlyTheLabsProcesses(t *testing.T) {
	tempRoots(t)
	plant(t, "lab", &State{Lab: "lab", Spec: Small()})
	recorded := startProcess(t, "lab")
	unrecorded := startProcess(t, "lab") // its starter was killed before it could record it
	other := startProcess(t, "other")
	unmarked := startProcess(t, "")
	if err := RecordCommand("lab", recorded, "supervisor"); err != nil {
		t.Fatal(err)
	}
	if err := RecordCommand("lab", unmarked, "supervisor"); err == nil || !strings.Contains(err.Error(), "MarkCommand") {
		t.Errorf("recording an unmarked process: %v, want it refused", err)
	}
	if err := RecordCommand("lab", other, "supervisor"); err == nil {
		t.Error("recording another lab's process succeeded")
	}
	id, err := proc.Identify(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// Records that no longer fit: the pid reused (another start time,
	// another executable), or the record planted by hand for another
	// lab's process.
	for i, p := range []Process{
		{PID: unmarked.Process.Pid, StartTime: 1, Exe: id.Exe, Role: "supervisor"},
		{PID: other.Process.Pid, StartTime: id.StartTime, Exe: "/bin/sleep", Role: "supervisor"},
		{PID: other.Process.Pid, StartTime: id.StartTime, Exe: id.Exe, Role: "supervisor"},
	} {
		writeJSON(StateFile("lab", fmt.Sprintf("process-%d.json", 100+i)), p)
	}
	if got := Processes("lab"); len(got) != 1 || got[0].PID != recorded.Process.Pid {
		t.Errorf("Processes: %+v, want only the recorded one", got)
	}
	if err := Remove("lab"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{recorded, unrecorded} {
		if alive(c.Process.Pid) {
			t.Errorf("the lab's process %d was not killed", c.Process.Pid)
		}
	}
	if !alive(other.Process.Pid) || !alive(unmarked.Process.Pid) {
		t.Error("a process that is not the lab's was killed")
	}
}

func TestRemoveWithoutStateKillsTheMarkedProcesses(t *testing.T) {
	tempRoots(t)
	plant(t, "gone", nil, "sw") // killed before its state was written
	marked := startProcess(t, "gone")
	other := startProcess(t, "gonetoo")
	if err := Remove("gone"); err != nil {
		t.Fatal(err)
	}
	if alive(marked.Process.Pid) {
		t.Error("a half-built lab's process was not killed")
	}
	if !alive(other.Process.Pid) {
		t.Error("a lab whose name starts alike lost its process")
	}
}
