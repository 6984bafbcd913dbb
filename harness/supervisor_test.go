//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/topology"
)

// The supervisor records itself before it does anything else, so that a
// command killed between starting it and seeing it answer leaves nothing
// that removing the lab does not find. The test binary runs itself as the
// supervisor, marked as the lab's as StartSupervisor starts one.
func TestSupervisorRecordsItselfFirst(t *testing.T) {
	if root := os.Getenv("LVSLAB_TEST_STATE_ROOT"); root != "" {
		topology.StateRoot = root
		fmt.Print(Supervise(context.Background(), "lab", DefaultServerConfig, nil))
		return
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	dir := filepath.Join(root, "lab")
	os.Mkdir(dir, 0o755)
	// A lab whose namespaces are gone: Supervise cannot open it.
	st, _ := json.Marshal(topology.State{Lab: "lab", Spec: topology.Small(topology.WithName("lab")), Namespaces: []string{"lvs-lab-sw"}})
	os.WriteFile(filepath.Join(dir, "state.json"), st, 0o644)

	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^TestSupervisorRecordsItselfFirst$")
	cmd.Env = append(os.Environ(), "LVSLAB_TEST_STATE_ROOT="+root)
	topology.MarkCommand(cmd, "lab")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lvs-lab-") {
		t.Fatalf("Supervise opened a lab that has no namespaces: %v %s", err, out)
	}
	var p topology.Process
	data, rerr := os.ReadFile(filepath.Join(dir, fmt.Sprintf("process-%d.json", cmd.Process.Pid)))
	if rerr != nil || json.Unmarshal(data, &p) != nil || p.PID != cmd.Process.Pid || p.StartTime == 0 || p.Exe == "" {
		t.Errorf("no record of the supervisor itself: %s %v (it said %s)", data, rerr, out)
	}
	if err := Supervise(context.Background(), "../lab", DefaultServerConfig, nil); err == nil {
		t.Error("Supervise accepted a path for a lab name")
	}
}
