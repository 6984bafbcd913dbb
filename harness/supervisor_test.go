//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lvslab/lvslab/topology"
)

// The supervisor records itself before it does anything else, so that a
// command killed between starting it and seeing it answer leaves nothing
// that removing the lab does not find.
func TestSupervisorRecordsItselfFirst(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	old := topology.StateRoot
	topology.StateRoot = root
	defer func() { topology.StateRoot = old }()
	dir := filepath.Join(root, "lab")
	os.Mkdir(dir, 0o755)
	// A lab whose namespaces are gone: Supervise cannot open it.
	st, _ := json.Marshal(topology.State{Lab: "lab", Spec: topology.Small(topology.WithName("lab")), Namespaces: []string{"lvs-lab-sw"}})
	os.WriteFile(filepath.Join(dir, "state.json"), st, 0o644)

	err := Supervise(context.Background(), "lab", DefaultServerConfig, nil)
	if err == nil {
		t.Fatal("Supervise opened a lab that has no namespaces")
	}
	var p topology.Process
	data, rerr := os.ReadFile(filepath.Join(dir, fmt.Sprintf("process-%d.json", os.Getpid())))
	if rerr != nil || json.Unmarshal(data, &p) != nil || p.PID != os.Getpid() || p.StartTime == 0 {
		t.Errorf("no record of the supervisor itself after %v: %s %v", err, data, rerr)
	}
	if err := Supervise(context.Background(), "../lab", DefaultServerConfig, nil); err == nil {
		t.Error("Supervise accepted a path for a lab name")
	}
}
