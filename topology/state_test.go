//go:build linux

package topology

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvslab/lvslab/internal/proc"
)

// A copy of this test binary started with LVSLAB_TEST_SLEEP set sleeps
// instead of testing: a process the test may mark as a lab's.
func TestMain(m *testing.M) {
	if os.Getenv("LVSLAB_TEST_SLEEP") != "" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tempRoots points the state and namespace roots at fresh directories.
func tempRoots(t *testing.T) (state, netns string) {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	oldState, oldNetns, oldWait := StateRoot, netnsRoot, lockWait
	StateRoot, netnsRoot, lockWait = filepath.Join(dir, "lvslab"), filepath.Join(dir, "netns"), 200*time.Millisecond
	t.Cleanup(func() { StateRoot, netnsRoot, lockWait = oldState, oldNetns, oldWait })
	for _, d := range []string{StateRoot, netnsRoot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return StateRoot, netnsRoot
}

// startProcess runs this test binary as a sleeping process, marked as
// lab's (MarkCommand) unless lab is "".
func startProcess(t *testing.T, lab string) *exec.Cmd {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "LVSLAB_TEST_SLEEP=1")
	if lab != "" {
		MarkCommand(cmd, lab)
	}
	// Start returns once the child runs this binary: its identity and
	// environment are already the ones read below.
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func alive(pid int) bool { _, err := proc.Identify(pid); return err == nil }

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// plant makes a lab as a killed build would have left it.
func plant(t *testing.T, lab string, st *State, nodes ...string) {
	t.Helper()
	os.Mkdir(stateDir(lab), 0o755)
	if st != nil {
		if err := writeJSON(filepath.Join(stateDir(lab), stateFile), st); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		touch(t, filepath.Join(netnsRoot, namespaceName(lab, n)))
	}
}

func TestEveryEntryPointRefusesABadLabName(t *testing.T) {
	state, _ := tempRoots(t)
	// What "lvslab down --name ../../tmp/x" would have followed: a
	// state.json outside the state root listing a live process and a file.
	victim := filepath.Join(filepath.Dir(filepath.Dir(state)), "x")
	os.MkdirAll(victim, 0o755)
	sleep := startProcess(t, "x")
	keep := filepath.Join(victim, "keep")
	touch(t, keep)
	data, _ := json.Marshal(State{Lab: "x", Namespaces: []string{"../../" + keep}, Spec: Small()})
	os.WriteFile(filepath.Join(victim, stateFile), data, 0o666)
	os.WriteFile(filepath.Join(victim, fmt.Sprintf("process-%d.json", sleep.Process.Pid)),
		[]byte(fmt.Sprintf(`{"pid": %d, "role": "supervisor"}`, sleep.Process.Pid)), 0o666)

	bad := "../../" + filepath.Base(filepath.Dir(filepath.Dir(state))) + "/x"
	checks := map[string]func() error{
		"Remove":        func() error { return Remove(bad) },
		"ReadState":     func() error { _, err := ReadState(bad); return err },
		"Open":          func() error { _, err := Open(bad); return err },
		"Use":           func() error { _, err := Use(bad); return err },
		"RecordProcess": func() error { return RecordProcess(bad, os.Getpid(), "x") },
	}
	for name, f := range checks {
		err := f()
		if err == nil || !strings.Contains(err.Error(), "use 1-20 lower-case letters and digits, starting with a letter") {
			t.Errorf("%s(%q): %v, want the lab-name rule", name, bad, err)
		}
	}
	if Processes(bad) != nil {
		t.Error("Processes of a bad name must list nothing")
	}
	if !alive(sleep.Process.Pid) {
		t.Error("the planted process was killed")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the planted file was removed: %v", err)
	}
}

func TestRemoveRefusesStateOthersCouldWrite(t *testing.T) {
	state, _ := tempRoots(t)
	plant(t, "open", &State{Lab: "open", Spec: Small()})
	os.Chmod(stateDir("open"), 0o777)
	if err := Remove("open"); err == nil || !strings.Contains(err.Error(), "writable by other users") || !strings.Contains(err.Error(), "remove it by hand") {
		t.Errorf("a world-writable lab directory: %v", err)
	}
	os.Chmod(stateDir("open"), 0o755)
	os.Chmod(filepath.Join(stateDir("open"), stateFile), 0o646)
	if err := Remove("open"); err == nil || !strings.Contains(err.Error(), "writable by other users") {
		t.Errorf("a world-writable state.json: %v", err)
	}
	if _, err := os.Stat(stateDir("open")); err != nil {
		t.Error("a refused lab must be left as found")
	}
	elsewhere := t.TempDir()
	os.Symlink(elsewhere, filepath.Join(state, "link"))
	if err := Remove("link"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("a symlinked lab directory: %v", err)
	}
	os.Chmod(state, 0o777)
	defer os.Chmod(state, 0o755)
	if err := Remove("open"); err == nil || !strings.Contains(err.Error(), state+" is writable by other users") {
		t.Errorf("a world-writable state root: %v", err)
	}
}

func TestRemoveDeletesOnlyItsOwnNamespaces(t *testing.T) {
	_, netns := tempRoots(t)
	outside := filepath.Join(t.TempDir(), "file")
	touch(t, outside)
	touch(t, filepath.Join(netns, "lvs-other-rs1"))
	plant(t, "lab", &State{Lab: "lab", Spec: Small(), Namespaces: []string{"lvs-lab-sw", "lvs-lab-rs1", "lvs-other-rs1", "../../" + outside}}, "sw", "rs1")
	err := Remove("lab")
	for _, want := range []string{`namespace "lvs-other-rs1", which is not one of its own`, "left alone"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	for _, p := range []string{filepath.Join(netns, "lvs-other-rs1"), outside} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
	for _, n := range []string{"lvs-lab-sw", "lvs-lab-rs1"} {
		if _, err := os.Stat(filepath.Join(netns, n)); err == nil {
			t.Errorf("%s was left", n)
		}
	}
}

func TestFailedBuildRemovesOnlyWhatItMade(t *testing.T) {
	_, netns := tempRoots(t)
	plant(t, "lab", &State{Lab: "lab", Spec: Small(), Namespaces: []string{"lvs-lab-sw", "lvs-lab-rs1"}}, "sw", "rs1")
	if err := checkNamespacesFree([]string{"lvs-lab-sw"}); err == nil || !strings.Contains(err.Error(), "lvs-lab-sw exists already") ||
		!strings.Contains(err.Error(), "lvslab down --name lab") {
		t.Errorf("checkNamespacesFree: %v", err)
	}
	// lvs-lab-sw was there before: the build made only rs1.
	if err := removeLocked("lab", []string{"lvs-lab-rs1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(netns, "lvs-lab-sw")); err != nil {
		t.Error("a namespace the build did not make was removed")
	}
	if _, err := os.Stat(filepath.Join(netns, "lvs-lab-rs1")); err == nil {
		t.Error("the namespace the build made was left")
	}
}

func TestDownRemovesHalfBuiltAndCorruptLabs(t *testing.T) {
	state, netns := tempRoots(t)
	plant(t, "nostate", nil, "sw", "client") // killed before its state was written
	plant(t, "corrupt", nil, "sw")           // state cut short
	os.WriteFile(filepath.Join(stateDir("corrupt"), stateFile), []byte(`{"lab": "corr`), 0o644)
	touch(t, filepath.Join(netns, "lvs-orphan-rs1"))                                                // namespaces and no state at all
	os.Mkdir(filepath.Join(state, stagingPrefix+"staged-123"), 0o755)                               // killed before renaming its state into place
	plant(t, "busy", &State{Lab: "busy", Spec: Small(), Namespaces: []string{"lvs-busy-sw"}}, "sw") // in use by a load
	touch(t, filepath.Join(netns, "unrelated"))

	if _, err := ReadState("corrupt"); !IsCorrupt(err) || !strings.Contains(err.Error(), "lvslab down --name corrupt") {
		t.Errorf("a corrupt state: %v", err)
	}
	if _, err := ReadState("nostate"); !IsCorrupt(err) || !strings.Contains(err.Error(), "half-built") {
		t.Errorf("no state.json: %v", err)
	}
	release, err := Use("busy")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	removed, err := Sweep(nil)
	if strings.Join(removed, ",") != "corrupt,nostate,orphan,staged" {
		t.Errorf("removed %v, want exactly corrupt, nostate, orphan and staged", removed)
	}
	if err == nil || !strings.Contains(err.Error(), "lab busy: another lvslab command is using it") {
		t.Errorf("a lab in use: %v, want it named as not removed", err)
	}
	left, _ := os.ReadDir(netns)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "lvs-busy-sw,unrelated" {
		t.Errorf("namespaces left: %v, want the busy lab's and the unrelated one", names)
	}
	if entries, _ := os.ReadDir(state); len(entries) != 1 || entries[0].Name() != "busy" {
		t.Errorf("state root holds %v, want only busy", entries)
	}
	release()
	if err := Remove("busy"); err != nil {
		t.Errorf("once released: %v", err)
	}
	if err := Remove("busy"); err == nil || !strings.Contains(err.Error(), `no lab named "busy" is up`) {
		t.Errorf("removing twice: %v", err)
	}
}

func TestClaimStateIsAtomicAndLocked(t *testing.T) {
	state, _ := tempRoots(t)
	lock, err := claimState(&State{Lab: "one", Spec: Small()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := claimState(&State{Lab: "one", Spec: Small()}); err == nil || !strings.Contains(err.Error(), `lab "one" already exists`) {
		t.Errorf("a second claim: %v", err)
	}
	if st, err := ReadState("one"); err != nil || st.Lab != "one" {
		t.Errorf("state after the claim: %v", err)
	}
	if _, err := Use("one"); err == nil || !strings.Contains(err.Error(), "another lvslab command is using it") {
		t.Errorf("a lab being built must not be used: %v", err)
	}
	if err := Remove("one"); err == nil || !strings.Contains(err.Error(), "try again when it is done") {
		t.Errorf("a lab being built must not be removed: %v", err)
	}
	lock.release()
	if entries, _ := os.ReadDir(state); len(entries) != 1 {
		t.Errorf("the staging directory was left: %v", entries)
	}
}

func TestParseNamespace(t *testing.T) {
	for ns, want := range map[string]string{"lvs-paper-rs1": "paper/rs1", "lvs-a-sw": "a/sw", "lvs-x": "", "lvs--rs1": "",
		"lvs-Paper-rs1": "", "lvs-a-b-c": "", "other": "", "lvs-a-../b": ""} {
		lab, node, ok := parseNamespace(ns)
		if got := map[bool]string{true: lab + "/" + node, false: ""}[ok]; got != want {
			t.Errorf("parseNamespace(%q) = %q, want %q", ns, got, want)
		}
	}
}
