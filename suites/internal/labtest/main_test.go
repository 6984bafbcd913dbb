//go:build linux

package labtest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTestFlagsPassThroughToTheVM(t *testing.T) {
	f := parseTestFlags([]string{"-test.paniconexit0", "-test.timeout=10m0s", "-test.testlogfile=/tmp/b001/testlog.txt",
		"-test.run", "TestIPVS", "-ginkgo.label-filter", "nat || dr", "-ginkgo.no-color", "--ginkgo.junit-report=/tmp/r/ipvs-junit.xml"})
	if f.ginkgo["label-filter"] != "nat || dr" || f.ginkgo["no-color"] != "true" || f.ginkgo["junit-report"] != "/tmp/r/ipvs-junit.xml" {
		t.Errorf("ginkgo flags %v", f.ginkgo)
	}
	if slices.ContainsFunc(f.test, func(a string) bool { return strings.Contains(a, "testlogfile") }) {
		t.Errorf("go test's testlog must not reach the VM: %v", f.test)
	}
	if f.timeout() != 10*time.Minute {
		t.Errorf("timeout %s", f.timeout())
	}
	perf := f.with("(nat || dr) && perf", "perf-")
	args := strings.Join(perf.args(), " ")
	for _, want := range []string{"-test.run TestIPVS", "-ginkgo.label-filter=(nat || dr) && perf", "-ginkgo.junit-report=/tmp/r/perf-ipvs-junit.xml"} {
		if !strings.Contains(args, want) {
			t.Errorf("perf run's flags %q lack %q", args, want)
		}
	}
	g := strings.Join(f.with("(nat || dr) && !perf", "").ginkgoCommand("/b/ginkgo", "/b/ipvs.test", 2), " ")
	for _, want := range []string{"/b/ginkgo run -p --procs 2", "--label-filter=(nat || dr) && !perf", "--junit-report=/tmp/r/ipvs-junit.xml",
		"--timeout=10m0s /b/ipvs.test -- -test.run TestIPVS"} {
		if !strings.Contains(g, want) {
			t.Errorf("ginkgo command %q lacks %q", g, want)
		}
	}
	if strings.Contains(g, "paniconexit0") {
		t.Errorf("ginkgo sets -test.paniconexit0 itself: %q", g)
	}
	if dir, err := f.outDir(); err != nil || dir != "/tmp/r" {
		t.Errorf("out dir %q, %v", dir, err)
	}
	two := parseTestFlags([]string{"-ginkgo.junit-report=/a/x.xml", "-ginkgo.json-report=/b/y.json"})
	if _, err := two.outDir(); err == nil || !strings.Contains(err.Error(), "put every -ginkgo.*-report file in one folder") {
		t.Errorf("reports in two folders: %v", err)
	}
}

func TestFlagsKeepOnlyWhatIsSet(t *testing.T) {
	f := parseTestFlags([]string{"-ginkgo.v", "-ginkgo.focus=link is down"})
	f.ginkgo = map[string]string{"focus": f.ginkgo["focus"]}
	if got := strings.Join(f.args(), " "); got != "-ginkgo.focus=link is down" {
		t.Errorf("args %q: a flag no longer set must not be passed empty", got)
	}
}

// A spec that runs its own suite again in a child (the SIGKILL spec of the
// ha label) must not leave the child waiting for the turn its parent holds.
func TestChildOfASuiteDoesNotWaitForItsParentsTurn(t *testing.T) {
	if os.Getenv("LABTEST_TURN_CHILD") != "" {
		unlock, err := holdTurn(nil)
		if err != nil {
			t.Fatal(err)
		}
		unlock()
		return
	}
	t.Setenv("TMPDIR", t.TempDir()) // a lock of this test's own
	t.Setenv(turnEnv, "")
	unlock, err := holdTurn(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildOfASuiteDoesNotWaitForItsParentsTurn$")
	child.Env = append(os.Environ(), "LABTEST_TURN_CHILD=1")
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("child: %v (%v)\n%s", err, ctx.Err(), out)
	}
}

func TestCaptureSwitch(t *testing.T) {
	for v, off := range map[string]bool{"": false, "on": false, "off": true} {
		got, err := parseCapture(v)
		if err != nil || got != off {
			t.Errorf("parseCapture(%q) = %v, %v; want %v", v, got, err, off)
		}
	}
	for _, v := range []string{"0", "false", "OFF", " off", "no"} {
		_, err := parseCapture(v)
		if err == nil || !strings.Contains(err.Error(), CaptureEnv) || !strings.Contains(err.Error(), "use on") {
			t.Errorf("parseCapture(%q): %v; want an error naming %s and its values", v, err, CaptureEnv)
		}
	}
}
