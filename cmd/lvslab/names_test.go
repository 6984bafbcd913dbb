//go:build linux

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// Every command that takes a lab name refuses a bad one before it builds
// a path from it, and bench before it builds a lab or boots a VM.
func TestEveryCommandChecksTheLabName(t *testing.T) {
	want := "use 1-20 lower-case letters and digits, starting with a letter"
	if os.Geteuid() != 0 {
		want = "needs root" // refused even earlier
	}
	for _, args := range [][]string{
		{"down", "--name", "../../tmp/x"},
		{"status", "--name", "../x"},
		{"load", "--name", "x/../../y"},
		{harness.SupervisorCommand, "--name", "../../tmp/x"},
		{"up", "--name", "Bad"},
		{"bench", "--name", "bbA", "--modes", "direct"},
	} {
		start := time.Now()
		code, out := captured(t, args...)
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("lvslab %s: exit %d, output %q; want exit 2 and %q", strings.Join(args, " "), code, out, want)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("lvslab %s took %s to refuse: validation must come first", strings.Join(args, " "), took)
		}
	}
}

func TestBenchChecksWhereResultsGoFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		code, out := captured(t, "bench", "--modes", "direct")
		if code == 0 || !strings.Contains(out, "needs root") {
			t.Errorf("as a user: exit %d, %q", code, out)
		}
		return
	}
	file := writeText(t, t.TempDir(), "file", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", file}, "is not a directory: give a folder with --out"},
		{[]string{"--save-baseline", "/nonexistent/dir/b.json"}, "folder /nonexistent/dir does not exist: create it first"},
		{[]string{"--kernel", "debian-9"}, `kernel "debian-9" is not in the list`},
		{[]string{"--where", "host", "--kernel", "debian-6.1"}, "--kernel picks the VM's kernel"},
		{[]string{"--scheduler", "rrr"}, `scheduler "rrr" is not one of the kernel's IPVS schedulers`},
		// Caps: refused before a VM boots, each station once.
		{[]string{"--where", "vm", "--isolate", "--cap", "director=0.25,director=100"}, "--cap gives director twice"},
		{[]string{"--where", "vm", "--isolate", "--cap", "=0.25"}, `--cap "=0.25": give STATION=CPUS pairs`},
		{[]string{"--where", "vm", "--isolate", "--cap", "foo=0.25"}, `cap of "foo": no such station with 4 vCPUs`},
	} {
		start := time.Now()
		code, out := captured(t, append([]string{"bench", "--modes", "direct"}, c.args...)...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("bench %v: exit %d, %q; want exit 2 and %q", c.args, code, out, c.want)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("bench %v took %s to refuse: validation must come first", c.args, took)
		}
	}
}
